"""Debian's Chromium, driven through Playwright (no browser download), for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext

from tests.support.environment import require

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync']


def require_chromium() -> None:
    require(os.path.exists(CHROMIUM), f'Debian chromium at {CHROMIUM} (bash tests/run installs it)')


def launch(browser_type: Any, *extra_args: str) -> Any:
    """Chromium with our flags, from Playwright's `chromium` of the sync API (a Browser) or of the async one
    (a coroutine to await)."""
    return browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True)


def close_contexts(contexts: list[BrowserContext], request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Close a test's browser profiles; when the test failed, every page still open lands in tmp_path as a
    screenshot first."""
    report = getattr(request.node, 'rep_call', None)  # tests/conftest.py keeps each phase's report
    for number, context in enumerate(contexts):
        if report is not None and report.failed:
            for page_number, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # the page may be gone; the screenshot is a courtesy
                    page.screenshot(path=str(tmp_path / f'context{number}-page{page_number}.png'), full_page=True)
        with contextlib.suppress(Exception):  # already closed with its browser is as good
            context.close()
