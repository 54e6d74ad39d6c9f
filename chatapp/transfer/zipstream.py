"""A ZIP written front to back whose memory does not grow with its number of files.

A ZIP ends with a directory of all its files. zipfile keeps a record of each file (about 575 bytes) until it
writes that directory; here each file's directory entry goes to a temporary file as the file is written, and is
copied out at the end. The format as APPNOTE.TXT describes it: deflated files, sizes after each file's data (the
stream cannot seek back), UTF-8 names, ZIP64 records where sizes, offsets or the count outgrow the classic ones.
"""

from __future__ import annotations

import struct
import tempfile
import time
import zlib
from collections.abc import Iterator

_LOCAL = struct.Struct('<IHHHHHIIIHH')
_DESCRIPTOR64 = struct.Struct('<IIQQ')
_CENTRAL = struct.Struct('<IHHHHHHIIIHHHHHII')
_ZIP64_EXTRA = struct.Struct('<HHQQQ')
_END64 = struct.Struct('<IQHHIIQQQQ')
_LOCATOR64 = struct.Struct('<IIQI')
_END = struct.Struct('<IHHHHIIH')
_FLAGS = 0x0808  # sizes in a descriptor after the data; the name is UTF-8
_DEFLATED = 8
_VERSION = 45  # ZIP64: every size in the directory is given in its ZIP64 field
_MADE_BY = 3 << 8 | _VERSION  # on Unix: the permissions below mean what they say
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF
COPY_CHUNK = 1 << 20


class ZipStream:
    """Files added one at a time, each returned as the bytes to send; `finish` returns the end."""

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryFile()  # noqa: SIM115 (closed by finish or close)  on disk, not in memory
        self._offset = 0
        self._count = 0
        self._when = _dos_time(time.localtime())

    def add(self, name: str, data: bytes) -> bytes:
        encoded = name.encode()
        compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        compressed = compressor.compress(data) + compressor.flush()
        crc = zlib.crc32(data)
        local = _LOCAL.pack(0x04034B50, _VERSION, _FLAGS, _DEFLATED, *self._when, 0, _MAX32, _MAX32,
                            len(encoded), _ZIP64_EXTRA.size) + encoded + _zip64_extra(0, 0, 0)
        descriptor = _DESCRIPTOR64.pack(0x08074B50, crc, len(compressed), len(data))
        self._directory.write(_CENTRAL.pack(
            0x02014B50, _MADE_BY, _VERSION, _FLAGS, _DEFLATED, *self._when, crc, _MAX32, _MAX32, len(encoded),
            _ZIP64_EXTRA.size, 0, 0, 0, 0o644 << 16, _MAX32) + encoded
            + _zip64_extra(len(data), len(compressed), self._offset))
        entry = local + compressed + descriptor
        self._offset += len(entry)
        self._count += 1
        return entry

    def finish(self) -> Iterator[bytes]:
        """The directory, copied from its temporary file, and the records that end the ZIP."""
        start, size = self._offset, self._directory.tell()
        self._directory.seek(0)
        while chunk := self._directory.read(COPY_CHUNK):
            yield chunk
        self._directory.close()
        end64 = start + size
        yield (_END64.pack(0x06064B50, _END64.size - 12, _VERSION, _VERSION, 0, 0, self._count, self._count,
                           size, start)
               + _LOCATOR64.pack(0x07064B50, 0, end64, 1)
               + _END.pack(0x06054B50, 0, 0, min(self._count, _MAX16), min(self._count, _MAX16),
                           min(size, _MAX32), min(start, _MAX32), 0))

    def close(self) -> None:
        self._directory.close()


def _zip64_extra(size: int, compressed: int, offset: int) -> bytes:
    return _ZIP64_EXTRA.pack(0x0001, 24, size, compressed, offset)


def _dos_time(moment: time.struct_time) -> tuple[int, int]:
    """(time, date) as DOS packs them; the clock is the server's."""
    return (moment.tm_hour << 11 | moment.tm_min << 5 | moment.tm_sec // 2,
            max(moment.tm_year - 1980, 0) << 9 | moment.tm_mon << 5 | moment.tm_mday)
