"""Real-browser fixtures: llmock and the app as subprocesses on loopback, Debian's chromium through Playwright.

Everything here is module-scoped (one llmock, one app, one browser per test module) so that start-up is paid
once; each test gets a fresh browser context and a reset llmock. When a test fails, the log lines the app and
llmock wrote during it are attached to the report, and screenshots of its pages land in its tmp_path.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import (
    CHUNK_DELAY_MS,
    LLM,
    App,
    free_port,
    serving,
)

CHROMIUM = '/usr/bin/chromium'
BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync']


# --- processes --------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLM]:
    port = free_port()
    command = [sys.executable, '-c', 'from llmock.cli import app; app()', 'serve', '--host', '127.0.0.1',
               '--port', str(port), '--stream-chunk-delay-ms', str(CHUNK_DELAY_MS), '--log-level', 'warning']
    with serving('llmock', command, tmp_path_factory.mktemp('llmock'), f'http://127.0.0.1:{port}/health'):
        yield LLM(port)


@pytest.fixture
def llm(llm_server: LLM) -> LLM:
    """The llmock, with nothing queued and an empty journal."""
    llm_server.reset()
    return llm_server


@pytest.fixture(scope='module')
def app_server(tmp_path_factory: pytest.TempPathFactory, llm_server: LLM) -> Iterator[App]:
    """One app for the module; tests tell their conversations apart by id."""
    with App(tmp_path_factory.mktemp('chatapp'), llm_server) as app:
        yield app


# --- browser ----------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def browser() -> Iterator:
    if not os.path.exists(CHROMIUM):
        message = f'{CHROMIUM} is missing (bash tests/run installs it)'
        if os.environ.get('CI') == 'true':
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser, app_server: App, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """A fresh browser profile per test; on failure a screenshot of every open page lands in tmp_path."""
    context = browser.new_context(base_url=app_server.base_url, viewport={'width': 1280, 'height': 900})
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(20_000)
    try:
        yield context
    finally:
        report = getattr(request.node, 'rep_call', None)
        if report is not None and report.failed:
            for number, page in enumerate(context.pages):
                with contextlib.suppress(Exception):  # the page may be gone; the screenshot is a courtesy
                    page.screenshot(path=str(tmp_path / f'page{number}.png'), full_page=True)
        context.close()


@pytest.fixture
def page(context):
    return context.new_page()

