"""Each UI test runs the app in its own data folder with the offline demo model."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def local_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own data folder and the offline demo model."""
    for name in ('OPENAI_API_KEY', 'OPENAI_BASE_URL', 'DATABASE_URL', 'CHATAPP_STORAGE_SECRET'):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv('CHATAPP_DATA_DIR', str(tmp_path / 'data'))
    monkeypatch.setenv('CHATAPP_MAX_MESSAGE_CHARS', '200')
    monkeypatch.chdir(tmp_path)
