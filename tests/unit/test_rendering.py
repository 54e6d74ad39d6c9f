"""The renderer on hostile input: nothing fetched from elsewhere, nothing run, nothing slow on the loop.

(integration/test_render_worker.py: the worker process that renders what is too costly for the loop.)
"""

from __future__ import annotations

import gc
import random
import time

import pytest

from chatapp.components.markdown_stream import MarkdownStream, render_block
from chatapp.rendering import RENDER_ON_LOOP_COST, allow_image_hosts, render_cost, render_markdown

# what used to freeze or break the renderer (markdown2): quadratic runs, and nesting that recursed
HOSTILE = {
    'link openers': '[x](' * 10_000,
    'backticks': '`' * 40_000,
    'brackets': '[' * 64_000,
    'image openers': '![' * 20_000,
    'emphasis': '*a_' * 15_000,
    'deep quote': '>' * 5_000 + ' x',
    'deep list': ''.join('  ' * depth + '- a\n' for depth in range(400)),
    'entities': '&#1' * 15_000,
}


@pytest.mark.parametrize('name', HOSTILE)
def test_a_hostile_text_too_costly_for_the_loop_is_never_rendered_on_it(name: str) -> None:
    text = HOSTILE[name]
    html, stand_in = render_block(text)
    if stand_in:
        assert html.count('<') == 2 * html.count('</')  # only its own wrapper: the text is escaped
    else:
        started = time.perf_counter()
        render_markdown(text)
        assert time.perf_counter() - started < 0.05


FORMULAS = ['$x_{i}^{2}$ ', '$\\frac{a}{b}$ ', '\\(a+b\\) ', '$' + 'a+' * 200 + 'a$ ',
            '$' + '{' * 150 + 'x' + '}' * 150 + '$ ']


@pytest.mark.parametrize('pattern', ['[', '[x](', '![', '*a_', '`a', '<a', '&#1', '\\*', '~~a', *FORMULAS])
def test_the_cost_estimate_keeps_renders_on_the_loop_short(pattern: str) -> None:
    """Text just under the budget, made of the densest markup, renders within the event loop's 50 ms."""
    text = pattern
    while render_cost(text + pattern) <= RENDER_ON_LOOP_COST:
        text += pattern
    assert render_cost(text) <= RENDER_ON_LOOP_COST  # what the loop would render, not what goes to the worker
    gc.collect()
    gc.disable()  # the render's own work: a collection's pause is not the text's, nor is time waiting for a core
    try:
        started = time.thread_time()
        render_markdown(text)
        assert time.thread_time() - started < 0.05
    finally:
        gc.enable()


def test_deep_nesting_renders_without_recursing() -> None:
    assert '<blockquote>' in render_markdown('>' * 200 + ' deep')
    assert '<ul>' in render_markdown(''.join('  ' * depth + '- a\n' for depth in range(200)))


@pytest.mark.parametrize('source', [
    '![s](https://evil.example/x.png?d=secret)', '![x](/logout)', '![x](//evil.example/x.png)',
    '![x](http://evil.example/x.png)', '![x](data:image/svg+xml;base64,PHN2Zz4=)', '![x](javascript:alert(1))',
])
def test_images_from_elsewhere_are_shown_as_text_not_loaded(source: str) -> None:
    html = render_markdown(source)
    assert '<img' not in html and 'src=' not in html


def test_an_image_from_elsewhere_shows_its_alt_text_and_url_and_opens_only_on_a_click() -> None:
    html = render_markdown('![the chart](https://evil.example/x.png?d=secret)')
    assert 'the chart' in html and 'https://evil.example/x.png?d=secret' in html
    assert 'target="_blank"' in html and 'rel="noopener noreferrer"' in html
    assert 'href="/logout"' not in render_markdown('![x](/logout)')  # an app route is not even a link


def test_inline_images_and_allowed_hosts_load() -> None:
    pixel = 'data:image/png;base64,iVBORw0KGgo='
    assert f'<img src="{pixel}"' in render_markdown(f'![dot]({pixel})')
    allow_image_hosts(['images.example.com'])
    try:
        assert '<img src="https://images.example.com/a.png"' in render_markdown('![a](https://images.example.com/a.png)')
        assert '<img' not in render_markdown('![a](http://images.example.com/a.png)')  # https only
        assert '<img' not in render_markdown('![a](https://images.example.com.evil.example/a.png)')
        assert '<img' not in render_markdown('![a](https://images.example.com@evil.example/a.png)')
        assert '<img' not in render_markdown('![a](https://images.example.com:8443/a.png)')  # not that port
    finally:
        allow_image_hosts([])


def test_links_open_in_a_new_tab_without_a_referrer() -> None:
    html = render_markdown('[docs](https://example.com/docs)')
    assert html.strip() == ('<p><a href="https://example.com/docs" target="_blank" rel="noopener noreferrer">'
                            'docs</a></p>')


def test_a_stream_of_hostile_text_keeps_its_stand_ins_marked() -> None:
    markdown = MarkdownStream()
    for index in range(0, 40_000, 7):
        markdown.feed(HOSTILE['link openers'][index:index + 7])
    markdown.finish()
    assert markdown.stand_ins


FUZZ_PIECES = ['[', ']', '(', ')', '![', '*', '**', '_', '`', '```', '~~', '<', '>', '> ', '&', '&#', '\\', '|',
               '- ', '1. ', '#', '    ', '\n', '\n\n', ' ', 'a', 'http://e.x/']


def test_random_markup_never_renders_slower_than_its_cost_estimate() -> None:
    """A time-bounded fuzzer (bench/render_bench.py runs a longer one): the estimate that keeps costly renders
    off the event loop holds for whatever mix of markup it finds."""
    rng = random.Random(16)
    worst, worst_text = 0.0, ''
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        weights = [rng.random() ** 4 for _ in FUZZ_PIECES]
        text = ''.join(rng.choices(FUZZ_PIECES, weights, k=3000))
        started = time.perf_counter()
        render_markdown(text)
        if (per_unit := (time.perf_counter() - started) / render_cost(text)) > worst:
            worst, worst_text = per_unit, text
    seconds = min(timed(worst_text) for _ in range(3))  # the slowest again, without the noise of one run
    assert seconds / render_cost(worst_text) < 2e-6, repr(worst_text[:80])


def timed(text: str) -> float:
    started = time.perf_counter()
    render_markdown(text)
    return time.perf_counter() - started
