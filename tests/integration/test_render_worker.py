"""The render worker: a process of its own renders what is too costly for the event loop, as the loop would, and
gives up on what takes too long."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chatapp import render_worker, rendering
from chatapp.render_worker import renderer
from chatapp.rendering import RENDER_ON_LOOP_COST, render_cost, render_markdown


@pytest.fixture
async def worker() -> AsyncIterator[render_worker.RenderWorker]:
    """The app's worker process, ended with the test (its pipes belong to the test's event loop)."""
    yield renderer
    await renderer.close()


async def test_the_worker_renders_what_is_too_costly_for_the_loop_as_the_loop_would(
        worker: render_worker.RenderWorker) -> None:
    text = '**bold** [x](' * 3000
    assert render_cost(text) > RENDER_ON_LOOP_COST
    assert await worker.render(text) == render_markdown(text)
    assert await worker.render('*cheap*') == '<p><em>cheap</em></p>\n'  # rendered in place


async def test_a_render_over_its_time_is_shown_as_plain_text_and_the_next_one_works(
        worker: render_worker.RenderWorker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render_worker, 'RENDER_SECONDS', 0.0001)
    html = await worker.render('[' * 64_000)
    assert html.startswith(f'<p class="render-note">{rendering.PLAIN_NOTE}</p>') and '[[[' in html
    monkeypatch.setattr(render_worker, 'RENDER_SECONDS', 5.0)
    text = '![' * 11_000
    assert await worker.render(text) == render_markdown(text)


async def test_a_text_too_long_to_try_is_shown_as_plain_text(worker: render_worker.RenderWorker) -> None:
    html = await worker.render('<b>' * (render_worker.MAX_RENDER_CHARS // 3 + 1))
    assert render_worker.TOO_LONG_NOTE in html and '&lt;b&gt;' in html and '<b>' not in html
