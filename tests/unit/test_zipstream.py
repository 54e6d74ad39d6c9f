"""The streamed ZIP of all data: what zipfile (and Info-ZIP's unzip, where installed) read back, with names in
any script, empty files, and more files than the classic directory counts (ZIP64)."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from chatapp.transfer.zipstream import ZipStream

FILES = {
    'README.md': b'# hello\n',
    'conversations/2026-12-05 Budget \u00fcber alles \u6570\u636e.json': '{"title": "\u6570\u636e"}'.encode(),
    'empty.md': b'',
    'big.md': bytes(range(256)) * 4000,  # a megabyte that barely compresses
}


def written(files: dict[str, bytes]) -> bytes:
    stream = ZipStream()
    parts = [stream.add(name, data) for name, data in files.items()]
    return b''.join(parts) + b''.join(stream.finish())


def test_what_is_written_reads_back_whole() -> None:
    with zipfile.ZipFile(io.BytesIO(written(FILES))) as archive:
        assert archive.testzip() is None  # every CRC checks
        assert archive.namelist() == list(FILES)
        assert {name: archive.read(name) for name in FILES} == FILES


def test_more_files_than_the_classic_directory_counts() -> None:
    files = {f'f{number}.md': str(number).encode() for number in range(70_000)}
    with zipfile.ZipFile(io.BytesIO(written(files))) as archive:
        assert len(archive.infolist()) == 70_000
        assert archive.read('f69999.md') == b'69999'


@pytest.mark.skipif(shutil.which('unzip') is None, reason='Info-ZIP unzip is not installed')
def test_another_implementation_reads_it(tmp_path: Path) -> None:
    path = tmp_path / 'all.zip'
    path.write_bytes(written(FILES))
    tested = subprocess.run(['unzip', '-t', str(path)], capture_output=True, text=True)
    assert tested.returncode == 0 and 'No errors detected' in tested.stdout, tested.stdout + tested.stderr
