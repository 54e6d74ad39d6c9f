"""What this run may count on, and the environment an app process gets.

Under CI=true every real server and tool must be there: a missing one fails the tests that need it. Elsewhere
it skips them, with the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import ROOT

IN_CI = os.environ.get('CI') == 'true'
# chatapp's settings, and what makes NiceGUI think it runs under pytest: an app process gets only its own
APP_VARIABLES = ('CHATAPP_', 'OPENAI_', 'DATABASE_', 'REDIS_URL', 'OIDC_', 'GITHUB_', 'NICEGUI_', 'PYTEST_',
                 'FORWARDED_')


def require(available: bool, what: str) -> None:
    """Skip outside CI when a server or tool is missing, with the reason; under CI=true that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f'{what} is required under CI=true but is missing or not reachable')
    pytest.skip(f'{what} is missing or not reachable here (set it up, or run under CI=true to require it)')


def clean_environment() -> dict[str, str]:
    """This process's environment without chatapp's settings."""
    return {name: value for name, value in os.environ.items() if not name.startswith(APP_VARIABLES)}


def app_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """A clean environment with this checkout's chatapp on the path (whatever is installed), the data folder,
    then `settings`."""
    path = os.pathsep.join(filter(None, [os.environ.get('PYTHONPATH'), str(ROOT)]))  # an explicit one first
    env = clean_environment() | {'PYTHONPATH': path, 'PYTHONUNBUFFERED': '1', 'CHATAPP_DATA_DIR': str(data_dir)}
    return env | settings
