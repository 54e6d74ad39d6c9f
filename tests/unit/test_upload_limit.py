"""The import's upload limit in the security middleware, around an app that reads the whole body: a body that says
it is too long is refused before the app sees it, one that hides its length ends at the limit."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from chatapp.http_security import UPLOAD_OVERHEAD, SecurityMiddleware

UPLOAD = '/_nicegui/client/c1/upload/7'
LIMIT = 1000


class Reader:
    """An app that reads every body message it gets, then answers 200."""

    def __init__(self) -> None:
        self.received: list[Message] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            self.received.append(message)
            if message['type'] == 'http.disconnect' or not message.get('more_body'):
                break
        await send({'type': 'http.response.start', 'status': 200, 'headers': []})
        await send({'type': 'http.response.body', 'body': b'ok'})


async def call(path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]]) -> tuple[Reader, list[Message]]:
    reader, sent = Reader(), []
    messages = [{'type': 'http.request', 'body': chunk, 'more_body': n < len(chunks) - 1}
                for n, chunk in enumerate(chunks)]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)
    scope = {'type': 'http', 'method': 'POST', 'path': path, 'headers': headers}
    await SecurityMiddleware(reader, max_upload_bytes=LIMIT)(scope, receive, send)
    return reader, sent


async def test_a_body_that_says_it_is_too_long_is_refused_unread() -> None:
    too_long = str(LIMIT + UPLOAD_OVERHEAD + 1).encode()
    reader, sent = await call(UPLOAD, [b'x'], [(b'content-length', too_long)])
    assert sent[0]['status'] == 413 and reader.received == []
    reader, sent = await call('/elsewhere', [b'x'], [(b'content-length', too_long)])  # only the upload route
    assert sent[0]['status'] == 200


async def test_a_body_that_hides_its_length_ends_at_the_limit() -> None:
    chunks = [b'y' * 10_000] * 20
    reader, _ = await call(UPLOAD, chunks, [(b'transfer-encoding', b'chunked')])
    assert reader.received[-1] == {'type': 'http.disconnect'}
    assert sum(len(m.get('body', b'')) for m in reader.received) <= LIMIT + UPLOAD_OVERHEAD
    reader, _ = await call(UPLOAD, [b'z' * 100] * 3, [(b'content-length', b'300')])  # within it: untouched
    assert [m['body'] for m in reader.received] == [b'z' * 100] * 3
