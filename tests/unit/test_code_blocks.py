"""A reply's code block: under a header with its language and a Copy button, its code shown exactly as written
(reply_view.js copies the text of its <pre>); the header adds no text to the reply's; the same whether the reply
streamed or was rendered whole."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from chatapp.components.markdown_stream import MarkdownStream
from chatapp.rendering import render_markdown


class CodeBlocks(HTMLParser):
    """The language label and the text of the <pre> of each code block, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[dict[str, str]] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get('class') or '').split()
        if 'code-block' in classes:
            self.blocks.append({'lang': '', 'code': '', 'button': ''})
        elif 'code-head' in classes:
            self.blocks[-1]['lang'] = attributes.get('data-lang') or ''
        elif tag == 'button':
            self.blocks[-1]['button'] = attributes.get('aria-label') or ''
        elif tag == 'pre':
            self._in = 'code'

    def handle_endtag(self, tag: str) -> None:
        if tag == 'pre':
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in and self.blocks:
            self.blocks[-1][self._in] += data


def code_blocks(html: str) -> list[dict[str, str]]:
    parser = CodeBlocks()
    parser.feed(html)
    return parser.blocks


@pytest.mark.parametrize(('fence', 'code'), [
    ('```python', 'def f(x):\n    return x < 2 and "a" or \'b\'\n'),
    ('```', '\n\n  indented, after blank lines\n\n\n'),  # kept as written: nothing stripped
    ('~~~js', 'const a = `${b}`;  // <script>alert(1)</script>\n'),
    ('```no-such-language', 'whatever &amp; <b>\n'),
])
def test_a_code_block_has_its_language_a_copy_button_and_its_code_as_written(fence: str, code: str) -> None:
    [block] = code_blocks(render_markdown(f'Here:\n\n{fence}\n{code}{fence[:3]}\n\nDone.'))
    assert block['lang'] == fence.lstrip('`~')
    assert block['button'] == 'Copy code'
    assert block['code'] == code


def test_a_language_label_is_text() -> None:
    html = render_markdown('```<img/src=x/onerror=alert(1)>\ncode\n```')
    assert '<img' not in html and code_blocks(html)[0]['lang'] == '<img/src=x/onerror=alert(1)>'


def test_the_header_adds_no_text_to_the_reply() -> None:
    html = render_markdown('```python\nx = 1\n```')
    assert re.sub(r'<[^>]+>', '', html).strip() == 'x = 1'


def test_a_streamed_code_block_renders_as_the_whole_text_does() -> None:
    text = 'Run this:\n\n```bash\nls -la\necho "done"\n```\n\nThen this:\n\n```\nplain\n```\n'
    stream, html = MarkdownStream(), ''
    for index in range(0, len(text), 3):
        html += stream.feed(text[index:index + 3]).blocks_html
    html += stream.finish().blocks_html
    assert code_blocks(html) == code_blocks(render_markdown(text))
    assert [b['code'] for b in code_blocks(html)] == ['ls -la\necho "done"\n', 'plain\n']
