"""The HTTP protocol uvicorn serves the app with: its own, minus one race that closes WebSockets.

uvicorn (0.54) upgrades a connection to a WebSocket as soon as the upgrade request arrives, even while
the response before it on that connection is still finishing. When that response then finishes, uvicorn
arms the connection's keep-alive timer, and 5 s later the timer closes the transport, which by then
carries the WebSocket. Browsers open each WebSocket on a connection of its own, but a proxy that pools
its connections to the app (nginx with `keepalive`, as docs/deploy describes) sends upgrades on reused
ones, so a share of the sockets opened through such a proxy are closed 5 s after they open. Each page
then reconnects, and a reply streaming into it stutters.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that leaves a connection alone once a WebSocket has taken it over."""

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.transport.get_protocol() is not self and self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()  # the connection is the WebSocket's now
            self.timeout_keep_alive_task = None
