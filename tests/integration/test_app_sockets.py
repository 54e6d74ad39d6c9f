"""The app's WebSockets at the HTTP level, without a browser: what a proxy in front of the app does to them.

tests/support/crowd.py's socket clients stand in for pages; see chatapp/http_protocol.py for the race tested here.
"""

from __future__ import annotations

import asyncio

from tests.support.crowd import DROP_REASONS, Crowd
from tests.support.servers import App

SOCKETS = 40  # on uvicorn's own protocol, 12 of 40 were closed
UVICORN_KEEP_ALIVE_SECONDS = 5  # uvicorn's timeout_keep_alive, which chatapp leaves at its default


async def test_a_socket_upgraded_on_a_reused_connection_stays_open(app_server: App) -> None:
    """As through nginx with pooled upstream connections: each page's socket is upgraded on the connection
    that has just served the page. None may be closed when that connection's keep-alive time runs out."""
    crowd = Crowd(app_server.url)
    try:
        await crowd.open(SOCKETS, reuse_connection=True)
        await asyncio.sleep(UVICORN_KEEP_ALIVE_SECONDS + 3)
        drops, connected = crowd.drops, crowd.connected
    finally:
        await crowd.close()
    assert (drops, connected) == (0, SOCKETS), f'{drops} of {SOCKETS} sockets were closed: {dict(DROP_REASONS)}'
