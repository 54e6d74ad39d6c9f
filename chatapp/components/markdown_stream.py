"""Markdown for replies, rendered so that a streamed token costs the same at token 20,000 as at token 1.

A growing reply is cut into finished blocks (at a blank line outside a code fence, once the next line
shows it does not continue the block) and an unfinished tail. Each finished block is rendered once;
the tail is shown as plain text until its block finishes. Raw HTML is escaped by markdown2 and the
browser sanitizes again with DOMPurify, so nothing a user or model writes can run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import markdown2
from pygments.formatters import HtmlFormatter

EXTRAS = ['fenced-code-blocks', 'tables', 'cuddled-lists', 'strike', 'code-friendly', 'break-on-newline',
          'target-blank-links']
_FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
_CONTINUES = re.compile(r'\s|[-*+]\s|\d{1,9}[.)]\s')  # indented text or a list item: a loose list goes on


CODE_THEMES = {'.codehilite': 'default', '.body--dark .codehilite': 'github-dark'}  # light, dark


def code_style_css() -> str:
    return ''.join(HtmlFormatter(nobackground=True, style=style).get_style_defs(selector)
                   for selector, style in CODE_THEMES.items())


def _unstyled_span() -> re.Pattern[str]:
    """Pygments' spans that change nothing on screen: classes styled like plain text in every theme, and
    whitespace (its colour has no glyph). Names and punctuation are half of a code block's markup."""
    formatters = [HtmlFormatter(style=style) for style in CODE_THEMES.values()]
    candidates = set().union(*(f.class2style for f in formatters)) - {''}
    plain = sorted(c for c in candidates if c == 'w' or all(
        f.class2style.get(c, ('',))[0] in ('', f.class2style.get('', ('',))[0]) for f in formatters))
    return re.compile(rf'<span class="(?:{"|".join(plain)})">([^<]*)</span>|<span></span>')


_UNSTYLED_SPAN = _unstyled_span()


def render_markdown(text: str) -> str:
    html = markdown2.markdown(text, extras=EXTRAS, safe_mode='escape')
    return _UNSTYLED_SPAN.sub(r'\1', html) if '<span' in html else html


@dataclass(frozen=True)
class StreamUpdate:
    blocks_html: str   # newly finished blocks, rendered
    tail: str          # plain text: the new tail when reset, else what to append to it
    reset_tail: bool


class MarkdownStream:
    """Splits a growing text into rendered finished blocks and a plain-text tail."""

    def __init__(self) -> None:
        self.tail = ''           # text not yet rendered
        self._fence = ''         # the fence the scan is inside of at `_scanned`, or ''
        self._scanned = 0        # offset in `tail` up to which whole lines were examined
        self._after_blank = False  # the line at `_scanned` follows a blank line outside a fence

    def feed(self, delta: str) -> StreamUpdate:
        self.tail += delta
        cut = self._find_cut()
        if cut <= 0:
            return StreamUpdate('', delta, reset_tail=False)
        block, self.tail = self.tail[:cut], self.tail[cut:]
        self._scanned -= cut
        return StreamUpdate(render_markdown(block), self.tail, reset_tail=True)

    def finish(self) -> StreamUpdate:
        """The reply is complete: render whatever is left."""
        block, self.tail = self.tail, ''
        self._scanned, self._after_blank, self._fence = 0, False, ''
        return StreamUpdate(render_markdown(block) if block.strip() else '', '', reset_tail=True)

    def _find_cut(self) -> int:
        """Offset where the finished blocks end, or 0. Looks at each line only once."""
        cut = 0
        text = self.tail
        while True:
            end = text.find('\n', self._scanned)
            line = text[self._scanned:end if end >= 0 else len(text)]
            if self._after_blank and (line.strip() and (end >= 0 or len(line) > 12)):
                # the first line after a blank one decides whether the block above is finished
                if not _CONTINUES.match(line):
                    cut = self._scanned
                self._after_blank = False
            if end < 0:
                return cut
            self._scan_line(line, end + 1)

    def _scan_line(self, line: str, next_offset: int) -> None:
        fence = _FENCE.match(line)
        if self._fence:
            if fence and fence.group(1)[0] == self._fence[0] and len(fence.group(1)) >= len(self._fence) \
                    and not line.strip()[len(fence.group(1)):].strip():
                self._fence = ''
        elif fence:
            self._fence = fence.group(1)
        elif not line.strip():
            self._after_blank = True
        self._scanned = next_offset
