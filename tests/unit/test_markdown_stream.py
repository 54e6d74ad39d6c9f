"""Incremental Markdown: rendered block by block, it must equal rendering the whole text at once, and a
token must cost the same late in a long reply as early."""

from __future__ import annotations

import random
import re

import pytest

from chatapp.components.markdown_stream import (
    LIVE_RENDER_CHARS,
    MarkdownStream,
    StreamUpdate,
    TailKind,
)
from chatapp.rendering import render_markdown

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


# blocks of the kinds models write; markdown2's lazy continuations (a quote that swallows the indented
# code after it, a rule under a code fence that makes a heading) are left out: any cut differs there
BLOCKS = ['Some **bold** text and `code`.', 'A line\nand another line', '## Heading two', '# Top',
          '```py\nx = 1\n\ny = "<b>"\n```', '~~~\ntilde\n~~~', '```\nplain\n```', '- a\n- b **c**',
          '1. one\n2. two', '- loose\n\n- list', '> quote **q**\n> more', '| a | b |\n|---|---|\n| 1 | 2 |',
          'Setext\n======', 'Under\n---', 'Text [link](http://x.y) end', '* star item',
          'para then\n```js\nf()\n```', '### H3 with `code`', 'Last <script>x</script> line']


@pytest.mark.parametrize('seed', range(300))
def test_random_documents_render_the_same_streamed(seed: int) -> None:
    rng = random.Random(seed)
    blocks = [rng.choice(BLOCKS) + rng.choice(['\n', '\n\n', '\n\n', '\n\n\n']) for _ in range(rng.randint(2, 6))]
    document = ''.join(blocks).rstrip('\n') if rng.random() < 0.5 else ''.join(blocks)
    html, _ = stream(document, [rng.randint(1, 9) for _ in range(len(document))])
    # markdown2 leaves an empty paragraph here and there, where a block was taken out before the rest
    assert normalized(html).replace('<p></p>', '') == normalized(render_markdown(document)).replace('<p></p>', '')


def test_a_paragraph_tail_is_text_until_a_span_closes() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('Hello **wor') == StreamUpdate('', 'Hello **wor')  # an open span: appended as text
    assert markdown.feed('ld** and') == StreamUpdate('', 'Hello <strong>world</strong> and', TailKind.HTML)
    assert markdown.feed(' more ') == StreamUpdate('', ' more ')  # no span can close: appended
    update = markdown.feed('`x` ')
    assert update == StreamUpdate('', 'Hello <strong>world</strong> and more <code>x</code> ', TailKind.HTML)
    second = markdown.feed('\n\n1')
    assert second.blocks_html == '', 'too early to tell: "1" may start a list item of a loose list'
    third = markdown.feed('984 was a year\n')
    assert third.blocks_html.strip() == '<p>Hello <strong>world</strong> and more <code>x</code></p>'
    assert (third.tail, third.reset) == ('1984 was a year\n', TailKind.TEXT)


def test_only_a_short_paragraph_is_rendered_inline_before_its_line_ends() -> None:
    for tail in ['- item **one**', '> quoted **text**', '| a | **b** |', '## Title **bold**',
                 'x' * LIVE_RENDER_CHARS + ' **bold**']:
        markdown = MarkdownStream()
        assert markdown.feed(tail) == StreamUpdate('', tail), tail
    markdown = MarkdownStream()
    markdown.feed('**a** <img src=x onerror=alert(1)>')
    assert markdown.display() == ('<strong>a</strong> &lt;img src=x onerror=alert(1)&gt;', TailKind.HTML)


def test_a_list_is_shown_rendered_as_far_as_its_whole_lines_go() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('- one **a**') == StreamUpdate('', '- one **a**')  # no whole line yet
    first = render_markdown('- one **a**\n')
    assert markdown.feed('\n- tw') == StreamUpdate('', first + '- tw', TailKind.HTML)
    assert markdown.feed('o <b>') == StreamUpdate('', 'o <b>')  # the line being written: appended as text
    assert markdown.feed('\n') == StreamUpdate('', render_markdown('- one **a**\n- two <b>\n'), TailKind.HTML)
    markdown.feed('- <img src=x onerror=alert(1)> **x**')  # a span may close: shown again, escaped
    assert markdown.display()[0].endswith('- &lt;img src=x onerror=alert(1)&gt; **x**')


def test_a_paragraph_that_grows_too_long_to_render_again_keeps_what_it_shows() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('**Bold** start').reset == TailKind.HTML
    words = 'word ' * (LIVE_RENDER_CHARS // 5)
    assert markdown.feed(words) == StreamUpdate('', words)
    assert markdown.feed('**more**') == StreamUpdate('', '**more**')  # appended, not rendered again


def test_an_open_code_fence_shows_as_code_and_its_end_finishes_the_block() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('Look:\n```py\nx = 1') == StreamUpdate('<p>Look:</p>\n', 'x = 1', TailKind.CODE)
    assert markdown.feed('\n\ny = 2\n``') == StreamUpdate('', '\n\ny = 2\n``')
    assert markdown.feed('`\n') == StreamUpdate('', 'x = 1\n\ny = 2\n', TailKind.CODE)  # without the fence
    assert markdown.feed('\nAft') == StreamUpdate(render_markdown('```py\nx = 1\n\ny = 2\n```\n\n'), 'Aft',
                                                  TailKind.TEXT)


def test_a_heading_is_finished_by_the_blank_line_after_it() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('## Plan\n').blocks_html == ''  # "---" on the next line would make it another heading
    assert markdown.feed('\n').blocks_html == '<h2>Plan</h2>\n'


def test_code_fence_is_never_cut_in_the_middle() -> None:
    markdown = MarkdownStream()
    update = markdown.feed('```\nline one\n\nline two\n\nmore\n')
    assert update.blocks_html == ''
    update = markdown.feed('```\n\nafter the fence')
    assert '<pre>' in update.blocks_html and 'line two' in update.blocks_html


def test_raw_html_and_javascript_links_are_neutralized() -> None:
    html = render_markdown('<img src=x onerror=alert(1)> <script>x</script> [a](javascript:alert(1))')
    assert '<img' not in html and '<script' not in html and '<a' not in html  # the link stays text


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


def test_a_rendered_paragraph_keeps_its_line_breaks_and_is_not_rendered_again_at_its_end() -> None:
    markdown = MarkdownStream()
    assert markdown.feed('**a** b\n') == StreamUpdate('', '<strong>a</strong> b<br>', TailKind.HTML)
    assert markdown.feed('c\n\n') == StreamUpdate('', 'c\n\n')  # the page turns these into <br>


def test_a_list_item_after_a_paragraph_finishes_the_paragraph() -> None:
    """After a list item a blank line and another item may go on one loose list; after a paragraph the
    item starts a new block, so the paragraph is finished and the list shows rendered as it grows."""
    markdown = MarkdownStream()
    markdown.feed('Some **words**.\n\n')
    update = markdown.feed('- one\n')
    assert update.blocks_html == '<p>Some <strong>words</strong>.</p>\n'
    assert (update.tail, update.reset) == (render_markdown('- one\n'), TailKind.HTML)
    assert markdown.feed('\n- two').blocks_html == ''  # a loose list goes on
