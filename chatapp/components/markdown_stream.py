"""Markdown for replies, rendered so that a streamed token costs the same at token 20,000 as at token 1.

A growing reply is cut into finished blocks and an unfinished tail: at a blank line outside a code fence,
once the next line shows it does not continue the block; after a heading; before and after a code fence
that is a block of its own. Each finished block is rendered once, and every cut is one where rendering
the pieces gives what rendering the whole text gives (chatapp/rendering.py says what is safe about it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from html import escape

from chatapp.rendering import RENDER_ON_LOOP_COST, plain_html, render_cost, render_markdown

_FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
_CONTINUES = re.compile(r'\s|[-*+]\s|\d{1,9}[.)]\s')  # indented text or a list item: a loose list goes on
_CODE_FENCE = re.compile(r'(`{3,})[ \t]*[\w+-]*[ \t]*')
_HEADING = re.compile(r' {0,3}#{1,6}(\s|$)')
# a line that is not simply more of a paragraph: indented, a list item, a quote, a table, a rule or underline
_NOT_PARAGRAPH = re.compile(r'\s|[-*+]\s|\d{1,9}[.)]\s|[>|#]|(?:[-=*_] *){2,}$')
_MAY_CLOSE_SPAN = re.compile(r'[*`~)$\]]')  # ($ and ] close a formula)
LIVE_RENDER_CHARS = 2000  # a longer unfinished paragraph is shown as text: rendering it per token would add up
LIVE_RENDER_COST = 6000   # nor one dense with markup (see render_cost)


def render_block(text: str) -> tuple[str, bool]:
    """A finished block's HTML, and whether it is only a stand-in: a block too costly to render on the
    event loop shows as text until the whole reply is rendered off it."""
    if render_cost(text) > RENDER_ON_LOOP_COST:
        return plain_html(text), True
    return render_markdown(text), False


class TailKind(IntEnum):
    """How the page shows the unfinished tail (the numbers go to reply_view.js)."""
    TEXT = 1  # plain text
    HTML = 2  # rendered: a paragraph inline (without its <p>), or a list, table or quote so far
    CODE = 3  # the code inside an open fence, in a code box


@dataclass(frozen=True)
class StreamUpdate:
    blocks_html: str   # newly finished blocks, rendered
    tail: str          # what to add to the shown tail; with `reset`, the whole new tail
    reset: TailKind | None = None  # the shown tail is replaced by `tail`, shown this way


class MarkdownStream:
    """Splits a growing text into rendered finished blocks and an unfinished tail.

    The tail is shown as cheaply as it can be: tokens are appended as text; a short tail is rendered again
    only when a token may close a span (`**`, a backtick, a link's `)`) or, in a list, table or quote,
    ends a line; the inside of a code fence shows as code, without its fence lines.
    """

    def __init__(self) -> None:
        self.tail = ''             # text not yet rendered
        self.kind = TailKind.TEXT  # how the page shows it
        self.stand_ins: list[tuple[str, str]] = []  # (its stand-in, a block) too costly to render here
        self._shown_code = (-1, -1)
        self._restart_scan()

    def feed(self, delta: str) -> StreamUpdate:
        self.tail += delta
        blocks = []
        while (cut := self._find_cut()) > 0:
            block, self.tail = self.tail[:cut], self.tail[cut:]
            if block.strip():
                blocks.append(self._render(block))
            self._restart_scan()
        shown = self.kind
        if blocks or (self._code_from, self._code_to) != self._shown_code:
            return StreamUpdate(''.join(blocks), *self.display())
        if shown == TailKind.CODE:
            return StreamUpdate('', '' if self._code_to >= 0 else delta)  # after the closing fence: not code
        may_change = _MAY_CLOSE_SPAN.search(delta) or ('\n' in delta and _NOT_PARAGRAPH.match(self.tail))
        if may_change and len(self.tail) <= LIVE_RENDER_CHARS:  # past it: appended as it is (as past the cost)
            tail, kind = self.display()
            if kind != shown or kind == TailKind.HTML:
                return StreamUpdate('', tail, kind)
        return StreamUpdate('', delta)

    def display(self) -> tuple[str, TailKind]:
        """The whole tail as the page shows it, and how."""
        self._shown_code = (self._code_from, self._code_to)
        if self._code_from >= 0:
            self.kind = TailKind.CODE
            return self.tail[self._code_from:self._code_to if self._code_to >= 0 else None], self.kind
        live = self._live_html()
        self.kind = TailKind.HTML if live else TailKind.TEXT
        return live or self.tail, self.kind

    def finish(self) -> StreamUpdate:
        """The reply is complete: render whatever is left."""
        block, self.tail, self.kind = self.tail, '', TailKind.TEXT
        self._restart_scan()
        self._shown_code = (-1, -1)
        return StreamUpdate(self._render(block) if block.strip() else '', '', TailKind.TEXT)

    def _render(self, block: str) -> str:
        html, stand_in = render_block(block)
        if stand_in:
            self.stand_ins.append((html, block))
        return html

    def _live_html(self) -> str:
        """A short tail rendered, if Markdown shows it as more than text: a paragraph inline (without its
        <p>), any other block (a list, a table, a quote) as far as its whole lines go, the line being
        written after it as text."""
        if len(self.tail) > LIVE_RENDER_CHARS or render_cost(self.tail) > LIVE_RENDER_COST:
            return ''
        if not _NOT_PARAGRAPH.match(self.tail):
            if self._paragraph:
                return self._inline_html()
            return self._finished_paragraph_html() if self._after_paragraph else ''
        lines_end = self.tail.rfind('\n') + 1
        if not self.tail[:lines_end].strip():
            return ''
        return render_markdown(self.tail[:lines_end]) + escape(self.tail[lines_end:])

    def _finished_paragraph_html(self) -> str:
        """A paragraph, the blank lines after it and the start of what follows, which does not yet show whether
        it ends the paragraph: the paragraph stays rendered (it was, as it grew), the rest shows as text."""
        lines_end = self.tail.rfind('\n') + 1
        rendered = render_markdown(self.tail[:lines_end])
        if '<' not in rendered.strip()[3:-4]:
            return ''  # plain text, as it was shown
        return rendered + escape(self.tail[lines_end:])

    def _inline_html(self) -> str:
        """The paragraph without its <p>, if it has more than text in it."""
        rendered = render_markdown(self.tail).strip()
        inner = rendered[3:-4]
        if not (rendered.startswith('<p>') and rendered.endswith('</p>')) or '<' not in inner or '<p>' in inner:
            return ''
        trailing = self.tail[len(self.tail.rstrip()):]  # Markdown drops it, the next token needs it
        return inner.rstrip() + trailing.replace('\n', '<br>')

    def _restart_scan(self) -> None:
        self._scanned = 0          # offset in `tail` up to which whole lines were examined
        self._fence = ''           # the fence the scan is inside of at `_scanned`, or ''
        self._after_blank = False  # the line at `_scanned` follows a blank line outside a fence
        self._paragraph = True     # every line scanned is a line of one paragraph
        self._after_paragraph = False  # the blank lines at `_scanned` follow such a paragraph
        self._blank_until = 0      # where the blank lines the tail opens with end
        self._ended_before = False  # a heading or the tail's code block ended on the line before
        self._code_from = -1       # the tail opens with a code fence: where its code starts
        self._code_to = -1         # and where its closing fence starts

    def _find_cut(self) -> int:
        """Offset where the finished blocks end, or 0. Looks at each line once (the first after a cut twice)."""
        text = self.tail
        while True:
            end = text.find('\n', self._scanned)
            line = text[self._scanned:end if end >= 0 else len(text)]
            if self._after_blank and (line.strip() and (end >= 0 or len(line) > 12)):
                # the first line after a blank one decides whether the block above is finished
                if not _CONTINUES.match(line) or (self._after_paragraph and not line[0].isspace()):
                    return self._scanned  # (a list item after a paragraph starts a list; after an item it may go on)
                self._after_blank = self._after_paragraph = False
            if end < 0:
                return 0
            if cut := self._scan_line(line, end + 1):
                return cut

    def _scan_line(self, line: str, next_offset: int) -> int:
        """Take in one whole line; returns where a block it finishes ends, or 0."""
        start, self._scanned = self._scanned, next_offset
        if self._ended_before:  # a blank line after a heading or a code block finishes it
            self._ended_before = False
            if not line.strip():
                return next_offset
            self._code_from = self._code_to = -1  # text right after it: it may not be a block of its own
        fence = _FENCE.match(line)
        if self._fence:
            if fence and fence.group(1)[0] == self._fence[0] and len(fence.group(1)) >= len(self._fence) \
                    and not line.strip()[len(fence.group(1)):].strip():
                if self._code_from >= 0 and line.rstrip(' \t') == self._fence:  # as markdown2 closes it
                    self._code_to, self._ended_before = start, True
                else:
                    self._code_from = -1
                self._fence = ''
        elif fence:
            self._fence = fence.group(1)
            if _CODE_FENCE.fullmatch(line):  # markdown2's own rule: backticks, at most a language after them
                if start == 0:
                    self._code_from = next_offset
                elif self._paragraph:  # the fence ends the paragraph above it
                    return start
            self._paragraph = False
        elif not line.strip():
            self._after_blank = True
            self._after_paragraph = self._after_paragraph or (self._paragraph and start > self._blank_until)
            self._paragraph = False
            self._blank_until = next_offset if start == self._blank_until else self._blank_until
        elif _HEADING.match(line) and self._paragraph:
            self._ended_before, self._paragraph = True, False
        elif _NOT_PARAGRAPH.match(line):
            self._paragraph = False
        return 0
