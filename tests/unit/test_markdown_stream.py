"""Incremental Markdown: rendered block by block, it must equal rendering the whole text at once, and a
token must cost the same late in a long reply as early."""

from __future__ import annotations

import random
import re

import pytest

from chatapp.components.markdown_stream import MarkdownStream, render_markdown

DOCUMENT = """# Plan

Some **bold** text
and a second line with `code`.

1. one

2. two
   continued

    indented continuation

```python
def f():

    return "<b>"
```

- a
- b

| a | b |
|---|---|
| 1 | 2 |

> a quote

~~~
tilde fence

~~~

Last paragraph <script>alert(1)</script> [x](javascript:alert(1)).
"""


def stream(text: str, sizes: list[int]) -> tuple[str, int]:
    markdown, html, cuts = MarkdownStream(), [], 0
    position = 0
    for size in sizes:
        update = markdown.feed(text[position:position + size])
        position += size
        html.append(update.blocks_html)
        cuts += bool(update.blocks_html)
    html.append(markdown.finish().blocks_html)
    return ''.join(html), cuts


def normalized(html: str) -> str:
    return re.sub(r'>\s+<', '><', html).strip()


@pytest.mark.parametrize('seed', range(40))
def test_streamed_rendering_equals_whole_rendering(seed: int) -> None:
    rng = random.Random(seed)
    sizes = [rng.randint(1, 9) for _ in range(len(DOCUMENT))]
    html, cuts = stream(DOCUMENT, sizes)
    assert normalized(html) == normalized(render_markdown(DOCUMENT))
    assert cuts >= 5, 'finished blocks should be rendered while the reply still streams'


def test_tail_is_plain_text_until_its_block_ends() -> None:
    markdown = MarkdownStream()
    first = markdown.feed('Hello **wor')
    assert (first.blocks_html, first.tail, first.reset_tail) == ('', 'Hello **wor', False)
    second = markdown.feed('ld**\n\n1')
    assert second.blocks_html == '', 'too early to tell: "1" may start a list item of a loose list'
    third = markdown.feed('984 was a year\n')
    assert third.blocks_html.strip() == '<p>Hello <strong>world</strong></p>'
    assert (third.tail, third.reset_tail) == ('1984 was a year\n', True)


def test_code_fence_is_never_cut_in_the_middle() -> None:
    markdown = MarkdownStream()
    update = markdown.feed('```\nline one\n\nline two\n\nmore\n')
    assert update.blocks_html == ''
    update = markdown.feed('```\n\nafter the fence')
    assert '<pre>' in update.blocks_html and 'line two' in update.blocks_html


def test_raw_html_and_javascript_links_are_neutralized() -> None:
    html = render_markdown('<img src=x onerror=alert(1)> <script>x</script> [a](javascript:alert(1))')
    assert '<img' not in html and '<script' not in html and 'javascript:' not in html


def test_tail_stays_short_in_a_long_reply() -> None:
    """Only the unfinished block is held as text: nothing accumulates as the reply grows."""
    markdown = MarkdownStream()
    paragraph = 'The quick brown fox jumps over the lazy dog, again and again. ' * 3 + '\n\n'
    for word in (paragraph * 700).split(' '):  # about 20,000 tokens
        markdown.feed(word + ' ')
        assert len(markdown.tail) <= 2 * len(paragraph)


def test_code_keeps_its_colours_without_spans_that_change_nothing() -> None:
    html = render_markdown('```python\nif total < limit: print(name)  # why\n```\n')
    assert '<span class="k">if</span>' in html and '<span class="c1"># why</span>' in html
    assert 'class="n"' not in html and 'class="p"' not in html and '<span></span>' not in html
    assert re.sub(r'<[^>]+>', '', html).strip() == 'if total &lt; limit: print(name)  # why'
