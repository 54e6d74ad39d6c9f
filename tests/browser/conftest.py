"""Browser profiles for the real-browser tests. The processes are tests/conftest.py's: the module's app on its
llmock (`app_server`, `llm`), or apps with a login through the test provider (`start_app`), and Chromium.

Each test gets fresh profiles; when it fails, every page it left open lands in its tmp_path as a screenshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.browser import close_contexts
from tests.support.oidc import keep_to_loopback
from tests.support.servers import App


@pytest.fixture
def context(browser: Browser, app_server: App, request: pytest.FixtureRequest,
            tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh profile on the module's app."""
    context = browser.new_context(base_url=app_server.url, viewport={'width': 1280, 'height': 900})
    context.set_default_timeout(10_000)
    context.set_default_navigation_timeout(20_000)
    try:
        yield context
    finally:
        close_contexts([context], request, tmp_path)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest,
                tmp_path: Path) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh profiles, one per person, that reach nothing beyond loopback (the provider's sign-in page asks for
    web fonts)."""
    contexts: list[BrowserContext] = []

    def create() -> BrowserContext:
        context = browser.new_context(viewport={'width': 1280, 'height': 800})
        context.set_default_timeout(20_000)
        keep_to_loopback(context)
        contexts.append(context)
        return context

    try:
        yield create
    finally:
        close_contexts(contexts, request, tmp_path)


@pytest.fixture
def no_server_errors(app_server: App) -> Iterator[None]:
    """Every action of the test leaves the app's log free of tracebacks (a page's handler failing is not visible)."""
    start = app_server.log.size()
    yield
    assert 'Traceback' not in app_server.log.text(since=start)
