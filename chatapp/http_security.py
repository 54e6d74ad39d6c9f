"""What every request and response passes: no other site may act for a person or frame the app.

- A request that changes something (POST, PUT, PATCH, DELETE) must come from the app's own pages:
  browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); a request from another site, even
  a sibling subdomain, is refused before any login or session is looked at. Clients that are not
  browsers send neither header and cannot carry a person's cookie for another site.
- NiceGUI's socket (its handshake, polling and WebSocket) accepts only the app's own origin: its events
  act for the person whose page opened it.
- An upload (NiceGUI's route for `ui.upload`, open without a login, reads any body whole onto disk) is refused
  beyond the largest file an import takes, before it is read.
- Every response carries a Content-Security-Policy. NiceGUI's page bootstrap is inline and changes with
  every page, so each HTML page lists the SHA-256 of its own inline scripts: nothing else inline runs
  (a DOM event attribute neither). NiceGUI evaluates the JavaScript that the server sends over the
  socket (`run_javascript`, `js_handler`) and Vue compiles component templates in the browser, which
  needs 'unsafe-eval'. Styles may be inline (Quasar sets them). Images load from the app, `data:` and
  the allowed hosts only: with the renderer's rule, content cannot make a browser fetch from elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNSAFE_METHODS = frozenset({'POST', 'PUT', 'PATCH', 'DELETE'})
SOCKET_PREFIX = '/_nicegui_ws/'
UPLOAD_PATH = re.compile(r'/_nicegui/client/[^/]+/upload/[^/]+')  # ui.upload's route: it reads any body whole
UPLOAD_OVERHEAD = 64 * 1024  # a multipart body's boundaries and headers around the file
_INLINE_SCRIPT = re.compile(rb'<script\b(?![^>]*\bsrc=)[^>]*>(.*?)</script>', re.DOTALL | re.IGNORECASE)
REFUSED = b'Refused: this request did not come from a page of this app.'
TOO_LARGE = b'Refused: the file is larger than this app accepts.'


def content_security_policy(script_hashes: Iterable[str], image_hosts: Iterable[str]) -> str:
    scripts = ' '.join(f"'sha256-{digest}'" for digest in script_hashes)
    images = ' '.join(f'https://{host}' for host in sorted(image_hosts))
    return '; '.join([
        "default-src 'self'",
        f"script-src 'self' 'unsafe-eval' {scripts}".rstrip(),
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: {images}".rstrip(),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ])


def inline_script_hashes(html: bytes) -> list[str]:
    return sorted({base64.b64encode(hashlib.sha256(body).digest()).decode() for body in _INLINE_SCRIPT.findall(html)})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f'{parts.scheme}://{parts.netloc}'.lower()


class SecurityMiddleware:
    def __init__(self, app: ASGIApp, *, public_url: str = '', image_hosts: Iterable[str] = (),
                 max_upload_bytes: int = 0) -> None:
        self.app = app
        self.public_origin = origin_of(public_url) if public_url else ''
        self.image_hosts = tuple(image_hosts)
        self.max_body = max_upload_bytes + UPLOAD_OVERHEAD if max_upload_bytes else 0  # of an upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'websocket':
            if not self._own_origin(scope):
                await send({'type': 'websocket.close', 'code': 1008})
                return
        elif scope['type'] == 'http':
            if self._refused(scope):
                await self._refuse(scope, send)
                return
            if self.max_body and scope['method'] == 'POST' and UPLOAD_PATH.fullmatch(scope['path']):
                length = _header(scope, b'content-length') or ''
                if length.isdigit() and int(length) > self.max_body:
                    await self._refuse(scope, send, status=413, body=TOO_LARGE)
                    return
                receive = self._capped(receive)
            send = self._with_headers(send)
        await self.app(scope, receive, send)

    def _own_origin(self, scope: Scope) -> bool:
        """No Origin (not a browser's cross-origin request), or the app's own."""
        origin = _header(scope, b'origin')
        if origin is None:
            return True
        scheme = {'ws': 'http', 'wss': 'https'}.get(scope.get('scheme', 'http'), scope.get('scheme', 'http'))
        own = {self.public_origin, f'{scheme}://{_header(scope, b"host") or ""}'.lower()} - {''}
        return origin.lower() in own

    def _refused(self, scope: Scope) -> bool:
        if scope['path'].startswith(SOCKET_PREFIX):
            return not self._own_origin(scope)
        if scope['method'] not in UNSAFE_METHODS:
            return False
        return _header(scope, b'sec-fetch-site') in ('cross-site', 'same-site') or not self._own_origin(scope)

    async def _refuse(self, scope: Scope, send: Send, *, status: int = 403, body: bytes = REFUSED) -> None:
        # a request that brought no session cookie must not get one: it would replace the person's
        if b'cookie' not in dict(scope['headers']) and isinstance(scope.get('session'), dict):
            scope['session'].clear()
        await send({'type': 'http.response.start', 'status': status,
                    'headers': [(b'content-type', b'text/plain; charset=utf-8'), *self._headers([])]})
        await send({'type': 'http.response.body', 'body': body})

    def _capped(self, receive: Receive) -> Receive:
        """An upload whose length was not said, or was said wrong, ends (as if the client left) at the limit."""
        received = 0

        async def receiving() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get('body', b''))
            return {'type': 'http.disconnect'} if received > self.max_body else message
        return receiving

    def _headers(self, script_hashes: list[str]) -> list[tuple[bytes, bytes]]:
        return [(b'content-security-policy', content_security_policy(script_hashes, self.image_hosts).encode()),
                (b'x-content-type-options', b'nosniff'),
                (b'referrer-policy', b'same-origin'),
                (b'x-frame-options', b'DENY')]

    def _with_headers(self, send: Send) -> Send:
        """Adds the headers; an HTML page is held until its end, for the hashes of its inline scripts."""
        start: Message | None = None
        body: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal start
            if message['type'] == 'http.response.start':
                if b'text/html' in dict(message.get('headers', [])).get(b'content-type', b''):
                    start = message
                    return
                message['headers'] = [*message.get('headers', []), *self._headers([])]
            elif start is not None and message['type'] == 'http.response.body':
                body.append(message.get('body', b''))
                if message.get('more_body'):
                    return
                html = b''.join(body)
                start['headers'] = [*start.get('headers', []), *self._headers(inline_script_hashes(html))]
                await send(start)
                message = {'type': 'http.response.body', 'body': html}
            await send(message)
        return sending


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope['headers']:
        if key == name:
            return value.decode('latin-1')
    return None
