"""The element that shows an assistant reply, finished or still streaming."""

from __future__ import annotations

import time
from typing import Any

from nicegui import background_tasks, events, ui

from chatapp.components.markdown_stream import MarkdownStream, StreamUpdate, TailKind, render_block
from chatapp.render_worker import renderer

# an update the page has not confirmed after this long is taken as lost (a dropped connection): send on
LOST_UPDATE_SECONDS = 2.0
# the page is asked to confirm an update at most this often: each confirmation is a websocket message the
# server handles, and confirming every update was a large share of a streaming reply's server CPU
ASK_SECONDS = 0.1
# the socket message that carries an update (reply_view.js): kept short, as every token of a reply repeats it
UPDATE_MESSAGE = 'ra'


class ReplyView(ui.element, component='reply_view.js'):
    """Rendered Markdown that can grow: `append` sends only what was added.

    Flow control: an update asks the page to confirm when it has drawn it (at most every ASK_SECONDS),
    and while it has not, new text waits on the server and goes out as one update when the page
    confirms. A busy or slow page gets fewer, larger updates instead of a growing backlog of small ones;
    a hidden tab, which draws no frames, gets one every LOST_UPDATE_SECONDS, and the rest once it is
    shown. A page that keeps up confirms within a frame, before the next token comes.

    Updates go out as NiceGUI outbox messages of their own type (UPDATE_MESSAGE), not `run_javascript`:
    they keep their order with the element's own updates and are replayed after a reconnect like them,
    without a script for the page to evaluate per token.
    """

    def __init__(self, text: str = '', *, streaming: bool = False, html: str | None = None) -> None:
        """`html`: a finished reply's HTML as stored, so that showing it renders nothing."""
        super().__init__()
        self._parts = [text]  # joined only when the whole text is asked for, not on every append
        self._length = len(text)
        self._step = 0
        self._restarted_at = 0  # the step of the last restart: from then on the rendered blocks only grow
        self._waiting: list[str] = []  # text appended while the page still draws the update asked about
        self._asked: tuple[int, float] | None = None  # step and time of the update the page should confirm
        self._last_ask = float('-inf')
        # the step of the last update sent since the element was last sent whole; None: the next names its step
        self._sent_step: int | None = None
        self._stream: MarkdownStream | None = None
        self.on('shown', self._on_shown)
        if streaming:
            self._stream = MarkdownStream()
            self._blocks = [self._feed(text).blocks_html]
        elif html is not None:
            self._blocks = [html]
        elif text.strip():
            html, stand_in = render_block(text)
            self._blocks = [html]
            if stand_in:
                self._render_off_loop(html, text)
        else:
            self._blocks = ['']

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts[:] = [''.join(self._parts)]
        return self._parts[0]

    @property
    def length(self) -> int:
        return self._length

    @property
    def streaming(self) -> bool:
        return self._stream is not None

    def append(self, delta: str) -> None:
        if self._stream is None:
            self.restart()
        assert self._stream is not None
        self._parts.append(delta)
        self._length += len(delta)
        self._waiting.append(delta)
        if self._asked is None or time.monotonic() - self._asked[1] > LOST_UPDATE_SECONDS:
            self._send_waiting()

    def finish(self) -> None:
        """Render the rest once; the reply is complete (or stopped) and will not grow.

        The end goes out with the element itself, not as an append: NiceGUI sends element updates before
        the JavaScript calls of the same moment, so an appended end would reach the page after the row's
        finished state, which a page (or a test) could show for a moment without the last words. A page
        that shows an earlier state of the same text appends only the new end of the snapshot; appends
        still on their way are older, and skipped."""
        if self._stream is not None:
            if self._waiting:
                self._blocks.append(self._feed(''.join(self._waiting)).blocks_html)
                self._waiting.clear()
            self._blocks.append(self._stream.finish().blocks_html)
            self._take_stand_ins()
            self._stream = None
            self._step += 1
            self.update()

    def restart(self) -> None:
        """Clear the reply for a regeneration."""
        self._parts, self._length = [''], 0
        self._stream = MarkdownStream()
        self._blocks = []
        self._waiting.clear()
        self._asked = None
        self._step += 1
        self._restarted_at = self._step
        self.update()

    def _on_shown(self, event: events.GenericEventArguments) -> None:
        if self._asked and isinstance(event.args, int) and event.args >= self._asked[0]:  # it drew the update
            self._asked = None
            if self._waiting and self._stream is not None:
                self._send_waiting()

    def _send_waiting(self) -> None:
        assert self._stream is not None
        text = ''.join(self._waiting)
        self._waiting.clear()
        self._send(self._feed(text))

    def _feed(self, text: str) -> StreamUpdate:
        assert self._stream is not None
        update = self._stream.feed(text)
        self._take_stand_ins()
        return update

    def _take_stand_ins(self) -> None:
        assert self._stream is not None
        for stand_in, block in self._stream.stand_ins:
            self._render_off_loop(stand_in, block)
        self._stream.stand_ins.clear()

    def _render_off_loop(self, stand_in: str, block: str) -> None:
        """A block too costly to render on the event loop shows as text until the worker has rendered it."""
        async def render() -> None:
            html = await renderer.render(block)
            joined = ''.join(self._blocks)
            if self.is_deleted or stand_in not in joined:  # gone, or restarted meanwhile
                return
            self._blocks = [joined.replace(stand_in, html, 1)]
            self._step += 1
            self._restarted_at = self._step  # the page replaces what it shows instead of appending to it
            self.update()
        background_tasks.create(render(), name='render-block')

    def _send(self, update: StreamUpdate) -> None:
        self._step += 1
        self._blocks.append(update.blocks_html)
        if not self._is_safe_to_interact():
            return
        now = time.monotonic()
        message: dict[str, Any] = {'i': self.id, 't': update.tail}
        if self._sent_step != self._step - 1:  # the page counts on from the update before
            message['s'] = self._step
        self._sent_step = self._step
        if update.blocks_html:
            message['b'] = update.blocks_html
        if update.reset:
            message['k'] = update.reset
        if self._asked is not None or now - self._last_ask >= ASK_SECONDS:  # (an unanswered ask is lost)
            self._asked, self._last_ask = (self._step, now), now
            message['a'] = 1
        self.client.outbox.enqueue_message(UPDATE_MESSAGE, message, self.client.id)

    def _to_dict(self) -> dict[str, Any]:
        # props are materialized only when the element is (re)sent, never per token
        if self._waiting and self._stream is not None:  # a snapshot shows all there is
            self._blocks.append(self._feed(''.join(self._waiting)).blocks_html)
            self._waiting.clear()
            self._step += 1
        self._asked = None
        self._sent_step = None
        with self._props.suspend_updates():
            self._blocks = [''.join(self._blocks)]
            self._props['html'] = self._blocks[0]
            self._props['tail'], self._props['tailKind'] = \
                self._stream.display() if self._stream else ('', TailKind.TEXT)
            self._props['step'] = self._step
            self._props['since'] = self._restarted_at
        return super()._to_dict()
