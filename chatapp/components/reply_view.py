"""The element that shows an assistant reply, finished or still streaming."""

from __future__ import annotations

import json
from typing import Any

from nicegui import ui

from chatapp.components.markdown_stream import MarkdownStream, StreamUpdate, render_markdown


class ReplyView(ui.element, component='reply_view.js'):
    """Rendered Markdown that can grow: `append` sends only what was added."""

    def __init__(self, text: str = '', *, streaming: bool = False) -> None:
        super().__init__()
        self._parts = [text]  # joined only when the whole text is asked for, not on every append
        self._length = len(text)
        self._step = 0
        self._stream: MarkdownStream | None = None
        if streaming:
            self._stream = MarkdownStream()
            self._blocks = [self._stream.feed(text).blocks_html]
        else:
            self._blocks = [render_markdown(text) if text.strip() else '']

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
        self._send(self._stream.feed(delta))

    def append_at(self, offset: int, delta: str) -> bool:
        """Append the part of `delta` (which starts at `offset` of the reply) not shown yet; False on a gap."""
        shown = self._length
        if offset > shown:
            return False
        if offset + len(delta) > shown:
            self.append(delta[shown - offset:])
        return True

    def finish(self) -> None:
        """Render the rest once; the reply is complete (or stopped) and will not grow."""
        if self._stream is not None:
            update = self._stream.finish()
            self._stream = None
            self._send(update)

    def restart(self) -> None:
        """Clear the reply for a regeneration."""
        self._parts, self._length = [''], 0
        self._stream = MarkdownStream()
        self._blocks = []
        self._step += 1
        self.update()

    def _send(self, update: StreamUpdate) -> None:
        self._step += 1
        self._blocks.append(update.blocks_html)
        if not self._is_safe_to_interact():
            return
        args: list[Any] = [self.id, self._step, update.tail]
        if update.blocks_html or update.reset_tail:
            args += [update.blocks_html, int(update.reset_tail)]
        # `ra` (reply_view.js) instead of run_method: this call goes out up to 30 times a second, and its
        # envelope, not the text, used to be most of the bytes
        self.client.run_javascript(f'ra({json.dumps(args, ensure_ascii=False, separators=(",", ":"))[1:-1]})')

    def _to_dict(self) -> dict[str, Any]:
        # props are materialized only when the element is (re)sent, never per token
        with self._props.suspend_updates():
            self._blocks = [''.join(self._blocks)]
            self._props['html'] = self._blocks[0]
            self._props['tail'] = self._stream.tail if self._stream else ''
            self._props['step'] = self._step
        return super()._to_dict()
