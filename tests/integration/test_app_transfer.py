"""The export routes and the import's upload as the app process serves them (local mode; with logins, see
tests/browser/test_transfer.py): the ZIP streams in chunks, a conversation that is not there is a plain 404, and an
upload that says it is beyond CHATAPP_MAX_IMPORT_MB is refused before it is read (one that hides its length:
tests/unit/test_upload_limit.py)."""

from __future__ import annotations

import http.client
import io
import json
import zipfile
from collections.abc import Iterator

import pytest

from tests.support.servers import App

LIMIT_MB = 0.05  # 50 kB, plus the multipart overhead the middleware allows (64 KiB)
UPLOAD = '/_nicegui/client/00000000-0000-0000-0000-000000000000/upload/7'


@pytest.fixture(scope='module')
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    with App(tmp_path_factory.mktemp('transfer'), CHATAPP_MAX_IMPORT_MB=str(LIMIT_MB)) as running:
        yield running


def connect(app: App) -> http.client.HTTPConnection:
    return http.client.HTTPConnection('127.0.0.1', app.port, timeout=10)


def test_all_data_streams_as_a_zip_and_a_missing_conversation_is_not_found(app: App) -> None:
    connection = connect(app)
    connection.request('GET', '/export/all.zip')
    response = connection.getresponse()
    assert response.status == 200 and response.getheader('Transfer-Encoding') == 'chunked'
    assert response.getheader('Content-Disposition').startswith('attachment; filename="chatapp-export-')
    assert response.getheader('Cache-Control') == 'no-store'
    with zipfile.ZipFile(io.BytesIO(response.read())) as archive:
        assert json.loads(archive.read('manifest.json'))['conversations'] == 0
    for path in ('/export/00000000-0000-4000-8000-000000000000.json', '/export/x.md'):
        connection.request('GET', path)
        missing = connection.getresponse()
        assert (missing.status, missing.read()) == (404, b'Not found')


def test_an_upload_over_the_limit_is_refused_before_it_is_read(app: App) -> None:
    connection = connect(app)
    body = b'x' * 200_000
    connection.request('POST', UPLOAD, body=body, headers={'Content-Type': 'multipart/form-data; boundary=b'})
    response = connection.getresponse()
    assert (response.status, response.read()) == (413, b'Refused: the file is larger than this app accepts.')
