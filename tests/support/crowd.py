"""Many NiceGUI clients without a browser, and what the app process holds (diag_app.py's diagnostics).

A `SocketClient` is what one browser tab is to the server: the page GET builds the page and its NiceGUI
`Client` (the HTML carries the client id and the socket query), then a Socket.IO connection with the
query nicegui.js sends (client_id, next_message_id, implicit_handshake, document_id, tab_id) completes
the implicit handshake, so the server counts it as connected, sends it updates and keeps its page until
it disconnects and `reconnect_timeout` has passed. Like nicegui.js it acknowledges the messages it got
every few seconds, so the server can prune its replay history.
"""

from __future__ import annotations

import ast
import asyncio
import collections
import contextlib
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

import aiohttp
import socketio

SOCKET_PATH = '/_nicegui_ws/socket.io'
ACK_SECONDS = 3.0  # nicegui.js acknowledges received messages on this interval
DROP_REASONS: collections.Counter[str] = collections.Counter()  # why sockets dropped, over the whole run
_QUERY = re.compile(r'\bquery:\s*(\{[^{}]*\})')
_ELEMENTS = re.compile(r'parseElements\(String\.raw`(.*?)`\)', re.DOTALL)
_UNESCAPE = (('&#36;', '$'), ('&#96;', '`'), ('&gt;', '>'), ('&lt;', '<'), ('&amp;', '&'))  # as nicegui.js does


async def diagnostics(base_url: str, *, collect: bool = False, trim: bool = False) -> dict:
    """What the app process holds, from diag_app.py's test-only route (see its options)."""
    params = {'collect': str(int(collect)), 'trim': str(int(trim))}
    async with aiohttp.ClientSession() as session, \
            session.get(f'{base_url}/_test/diagnostics', params=params) as response:
        response.raise_for_status()
        return await response.json()


def page_elements(html: str) -> dict[str, dict]:
    """The elements a NiceGUI page starts with, by id, as nicegui.js parses them out of the HTML."""
    match = _ELEMENTS.search(html)
    if match is None:
        raise RuntimeError('the page has no NiceGUI elements; is it a NiceGUI page?')
    raw = match.group(1)
    for escaped, plain in _UNESCAPE:
        raw = raw.replace(escaped, plain)
    return json.loads(raw)


def socket_query(html: str) -> dict[str, str]:
    """The socket query nicegui.js would send for the page in `html` (index.html embeds its start)."""
    match = _QUERY.search(html)
    if match is None:
        raise RuntimeError('the page has no NiceGUI socket query; is it a NiceGUI page?')
    query = ast.literal_eval(match.group(1))  # the template writes the Python dict as it is (repr)
    # nicegui.js adds these: a fresh document per page load, and the tab's id (a new tab has no old one)
    query |= {'document_id': str(uuid.uuid4()), 'tab_id': str(uuid.uuid4())}
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in query.items()}


@dataclass
class SocketClient:
    """One connected page, as the server sees a browser tab."""

    http: aiohttp.ClientSession
    sio: socketio.AsyncClient
    client_id: str
    next_message_id: int = 0
    acked_message_id: int = -1
    messages: int = 0
    drops: int = 0  # disconnections it did not ask for (e.g. a ping answered too late)
    closing: bool = False
    html: str = ''
    notifications: list[str] = field(default_factory=list)

    @classmethod
    async def open(cls, base_url: str, path: str = '/', *, timeout: float = 30.0,
                   reuse_connection: bool = False) -> SocketClient:
        """Load the page and connect its socket. A browser does that on two connections; with
        `reuse_connection` the socket's upgrade goes over the page's connection, as through a proxy that
        pools its connections to the app."""
        # a cookie jar of its own: each client is a separate browser (unsafe=True keeps cookies for 127.0.0.1)
        http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     timeout=aiohttp.ClientTimeout(total=timeout))
        try:
            headers = {} if reuse_connection else {'Connection': 'close'}
            async with http.get(base_url + path, headers=headers) as response:
                response.raise_for_status()
                html = await response.text()
            query = socket_query(html)
            # like socket.io in the browser it reconnects after a drop, within NiceGUI's reconnect_timeout
            sio = socketio.AsyncClient(reconnection=True, reconnection_attempts=5, reconnection_delay=0.5,
                                       reconnection_delay_max=1,
                                       http_session=http, handle_sigint=False)
            client = cls(http, sio, query['client_id'], int(query['next_message_id']), html=html)
            sio.on('*', client._received)
            sio.on('disconnect', client._dropped)
            url = f'{base_url}?{urllib.parse.urlencode(query)}'
            await sio.connect(url, socketio_path=SOCKET_PATH, transports=['websocket'], wait_timeout=timeout)
        except BaseException:
            await http.close()
            raise
        return client

    async def _received(self, event: str, *args: object) -> None:
        """Count every message and remember the next id, as nicegui.js does with `_id`."""
        self.messages += 1
        data = args[0] if args else None
        if not isinstance(data, dict):
            return
        if isinstance(data.get('_id'), int) and data['_id'] >= self.next_message_id:
            self.next_message_id = data['_id'] + 1
        if event == 'run_javascript' and data.get('request_id'):
            await self._answer_javascript(data['request_id'])
        if event == 'notify':
            self.notifications.append(str(data.get('message', '')))

    async def fire(self, testid: str, event_type: str, *args: object) -> None:
        """Send the event a person's action on the element marked `data-testid=testid` sends, as nicegui.js
        would, with whatever arguments (a forged event is just as easy)."""
        element_id, element = next((key, element) for key, element in page_elements(self.html).items()
                                   if element.get('props', {}).get('data-testid') == testid)
        listener = next(event for event in element.get('events', []) if event['type'] == event_type)
        await self.sio.emit('event', {'id': int(element_id), 'client_id': self.client_id,
                                      'listener_id': listener['listener_id'], 'args': [json.dumps(a) for a in args]})

    async def _answer_javascript(self, request_id: str) -> None:
        """Answer what the server awaits of the page (no JavaScript runs here) with null."""
        await self.sio.emit('javascript_response',
                            {'request_id': request_id, 'client_id': self.client_id, 'result': None})

    def _dropped(self, reason: object = None) -> None:
        if not self.closing:
            self.drops += 1
            DROP_REASONS[str(reason)] += 1

    async def ack(self) -> None:
        if self.sio.connected and self.next_message_id > self.acked_message_id:
            await self.sio.emit('ack', {'client_id': self.client_id, 'next_message_id': self.next_message_id})
            self.acked_message_id = self.next_message_id

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):  # already gone is as good as closed
            await self.sio.shutdown()  # unlike disconnect(), also ends a reconnection under way after a drop
        await self.http.close()


@dataclass
class Crowd:
    """Many socket clients on one app, opened a few at a time (the server builds each page on one core)."""

    base_url: str
    clients: list[SocketClient] = field(default_factory=list)
    _acker: asyncio.Task | None = None

    async def open(self, count: int, path: str = '/', *, concurrency: int = 8,
                   reuse_connection: bool = False) -> float:
        """Open `count` more clients on `path` (see `SocketClient.open`); returns the seconds it took."""
        started = time.monotonic()
        gate = asyncio.Semaphore(concurrency)

        async def one() -> SocketClient:
            async with gate:
                return await SocketClient.open(self.base_url, path, reuse_connection=reuse_connection)

        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        self.clients += [result for result in results if isinstance(result, SocketClient)]
        failures = [result for result in results if isinstance(result, BaseException)]
        if failures:
            raise RuntimeError(f'{len(failures)} of {count} clients failed to connect; first: {failures[0]!r}')
        if self._acker is None:
            self._acker = asyncio.create_task(self._ack_periodically())
        return time.monotonic() - started

    async def _ack_periodically(self) -> None:
        while True:
            await asyncio.sleep(ACK_SECONDS)
            await asyncio.gather(*(client.ack() for client in self.clients), return_exceptions=True)

    @property
    def connected(self) -> int:
        return sum(1 for client in self.clients if client.sio.connected)

    async def reconnected(self, timeout: float) -> int:
        """How many are connected once the ones that dropped have had `timeout` seconds to reconnect."""
        deadline = time.monotonic() + timeout
        while self.connected < len(self.clients) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return self.connected

    @property
    def drops(self) -> int:
        return sum(client.drops for client in self.clients)

    async def close(self) -> None:
        if self._acker is not None:
            self._acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._acker
            self._acker = None
        await asyncio.gather(*(client.close() for client in self.clients), return_exceptions=True)
        for _ in range(3):  # a reconnection already under way after a drop may still complete: close it again
            stragglers = [client for client in self.clients
                          if client.sio.connected or client.sio.eio.state != 'disconnected']
            if not stragglers:
                break
            await asyncio.sleep(1.0)
            await asyncio.gather(*(client.close() for client in stragglers), return_exceptions=True)
        self.clients.clear()
