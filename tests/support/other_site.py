"""Another site on loopback, as far as a browser can tell (127.0.0.2 is not 127.0.0.1's site): it serves the
pages a test gives it and records every request that reaches it."""

from __future__ import annotations

import http.server
import threading
from typing import Self

PIXEL = b'GIF89a\x01\x00\x01\x00\x00\x00\x00;'


class OtherSite(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.pages: dict[str, str] = {}
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                page = site.pages.get(self.path)
                body, kind = (page.encode(), 'text/html') if page is not None else (PIXEL, 'image/gif')
                self.send_response(200)
                self.send_header('Content-Type', kind)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(('127.0.0.2', 0), Handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def origin(self) -> str:
        return f'http://127.0.0.2:{self.server_address[1]}'

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
