"""What an uploaded file holds, read one conversation at a time: blocking code, for a worker thread.

A file is one of:
- a JSON object: one conversation, of this app's or of ChatGPT's export;
- a JSON list: ChatGPT's `conversations.json` (or a list of this app's conversations);
- a ZIP: this app's export of all data (`conversations/*.json`), or ChatGPT's export (`conversations.json`, or
  `conversations-000.json`, … in newer ones).

`survey` reads the whole file once, before anything is imported: a file that is not JSON, a truncated or foreign
one, or a ZIP that would unpack to too much is refused (BadFile, with what is wrong) and nothing is imported; a
good one is counted, for the progress. `conversations` then reads it again and yields one conversation at a
time, so memory holds one conversation besides the file (a list is parsed element by element, `ArrayReader`).
"""

from __future__ import annotations

import codecs
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from chatapp.transfer import chatgpt, native

CHUNK = 1 << 20
ZIP_MAGIC = b'PK\x03\x04'
UNPACK_FACTOR = 5  # a ZIP may unpack to this many times the largest file one may import
MAX_ENTRIES = 100_000
_OURS = re.compile(r'(^|/)conversations/[^/]+\.json$')
_CHATGPT = re.compile(r'(^|/)conversations(-\d+)?\.json$')
_WHITESPACE = b' \t\r\n'
_BOM = codecs.BOM_UTF8
DEEP = 'The file is not valid JSON for this app: it is nested too deeply.'


class BadFile(Exception):
    """The file as a whole cannot be imported; the message says what is wrong, to the person."""


@dataclass
class Survey:
    kind: str  # 'object': one conversation; 'list': a JSON list of them; 'zip': ZIP entries, each a list or one
    total: int  # conversations in the file
    entries: list[str] = field(default_factory=list)  # of a ZIP: the JSON files to read, in order


def survey(file: IO[bytes], max_bytes: int) -> Survey:
    """What the file holds and how many conversations; raises BadFile."""
    size = file.seek(0, 2)
    if size > max_bytes:
        raise BadFile(f'The file is larger than the {megabytes(max_bytes)} one may import.')
    if not size:
        raise BadFile('The file is empty.')
    file.seek(0)
    start = file.read(4)
    file.seek(0)
    if start == ZIP_MAGIC:
        return _survey_zip(file, max_bytes * UNPACK_FACTOR)
    first = _first_byte(file)
    if first == b'{':
        return Survey('object', _check_one(_load(file)))
    if first == b'[':
        return Survey('list', _count(file, 'The file'))
    raise BadFile('The file is neither JSON nor a ZIP archive: choose the .json or .zip file of an export.')


def conversations(file: IO[bytes], found: Survey) -> Iterator[Any]:
    """The conversations of a surveyed file, one at a time, as parsed JSON (not checked yet)."""
    file.seek(0)
    if found.kind == 'object':
        yield _load(file)
    elif found.kind == 'list':
        yield from _elements(file)
    else:
        with zipfile.ZipFile(file) as archive:
            for name in found.entries:
                with archive.open(name) as entry:
                    if _first_byte(entry) == b'[':
                        yield from _elements(entry)
                    else:
                        yield _load(entry)


# --- JSON ---------------------------------------------------------------------------------------------------

def _first_byte(file: IO[bytes]) -> bytes:
    """The first byte that is not a byte-order mark or whitespace; the file is left where it was."""
    head = file.read(4096)
    if hasattr(file, 'seek') and file.seekable():
        file.seek(-len(head), 1)
    return head.removeprefix(_BOM).lstrip(_WHITESPACE)[:1]


def _load(file: IO[bytes]) -> Any:
    try:
        return json.loads(file.read().removeprefix(_BOM).decode('utf-8'))
    except UnicodeDecodeError:
        raise BadFile('The file is not UTF-8 text, as JSON is.') from None
    except json.JSONDecodeError as error:
        raise BadFile(f'The file is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}).') \
            from None
    except RecursionError:
        raise BadFile(DEEP) from None


def _check_one(data: Any) -> int:
    if native.is_ours(data) or chatgpt.looks_like(data):
        return 1
    if isinstance(data, dict) and data.get('format') == 'chatapp.export':
        raise BadFile('This is the manifest of a chatapp export: import the whole ZIP instead.')
    raise BadFile('This JSON is neither a chatapp conversation nor a ChatGPT export.')


def _count(file: IO[bytes], what: str) -> int:
    """How many conversations a JSON list holds, checking that it is one (of conversations, by their shape)."""
    total = known = 0
    last: Any = None
    for last in _elements(file):
        total += 1
        known += native.is_ours(last) or chatgpt.looks_like(last)
    if total and not known:
        if isinstance(last, dict) and 'chat_messages' in last:
            raise BadFile(f"{what} looks like Claude's export, which this app cannot import.")
        raise BadFile(f'{what} is a JSON list, but not of conversations of ChatGPT or chatapp.')
    if not total:
        raise BadFile(f'{what} holds no conversations.')
    return total


def _elements(file: IO[bytes]) -> Iterator[Any]:
    reader = ArrayReader()
    while chunk := file.read(CHUNK):
        yield from reader.feed(chunk)
    yield from reader.feed(b'', final=True)


class ArrayReader:
    """The elements of one JSON list, parsed one by one as its bytes arrive (the standard library has no
    streaming parser). An element cut off by the end of a chunk is parsed again once the text held has doubled,
    so a big element costs linear time, not quadratic."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder('utf-8-sig')()  # drops a BOM
        self._json = json.JSONDecoder()
        self._text = ''
        self._state = 'start'  # 'start' (before '['), 'first' (after it), 'item', 'comma', 'end'
        self._retry_at = 0  # parse a cut-off element again when this much text is held

    def feed(self, data: bytes, *, final: bool = False) -> list[Any]:
        try:
            self._text += self._decoder.decode(data, final)
        except UnicodeDecodeError:
            raise BadFile('The file is not UTF-8 text, as JSON is.') from None
        found: list[Any] = []
        position = 0
        while True:
            position = _skip_space(self._text, position)
            if position == len(self._text):
                break
            step = self._step(position, final, found)
            if step is None:
                break
            position = step
        self._text = self._text[position:]
        if final and self._state != 'end':
            raise BadFile('The file is not valid JSON: it ends before its list does (is it complete?).')
        return found

    def _step(self, position: int, final: bool, found: list[Any]) -> int | None:
        """Take what is at `position` (not whitespace); the position after it, or None to wait for more text."""
        char, state = self._text[position], self._state
        if state == 'start':
            return self._expect(char, '[', 'first', position)
        if state in ('first', 'comma') and char == ']':
            self._state = 'end'
            return position + 1
        if state in ('first', 'item'):
            return self._element(position, final, found)
        if state == 'comma':
            return self._expect(char, ',', 'item', position)
        raise BadFile('The file is not valid JSON: there is more after its list.')

    def _expect(self, char: str, wanted: str, state: str, position: int) -> int:
        if char != wanted:
            raise BadFile(f'The file is not valid JSON: {wanted!r} expected where it has {char!r}.')
        self._state = state
        return position + 1

    def _element(self, position: int, final: bool, found: list[Any]) -> int | None:
        if not final and len(self._text) - position < self._retry_at:
            return None
        try:
            element, end = self._json.raw_decode(self._text, position)
        except json.JSONDecodeError as error:
            if final:
                raise BadFile(f'The file is not valid JSON ({error.msg}).') from None
            self._retry_at = 2 * (len(self._text) - position)  # wait for the text held to double
            return None
        except RecursionError:
            raise BadFile(DEEP) from None
        self._retry_at = 0
        found.append(element)
        self._state = 'comma'
        return end


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in ' \t\r\n':
        position += 1
    return position


# --- ZIP ----------------------------------------------------------------------------------------------------

def _survey_zip(file: IO[bytes], max_unpacked: int) -> Survey:
    try:
        with zipfile.ZipFile(file) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ENTRIES:
                raise BadFile(f'The ZIP holds more than {MAX_ENTRIES:,} files.')
            names = [e.filename for e in entries if _OURS.search(e.filename)] or \
                sorted(e.filename for e in entries if _CHATGPT.search(e.filename))
            if not names:
                raise BadFile("The ZIP holds neither a chatapp export nor ChatGPT's conversations.json.")
            chosen = [archive.getinfo(name) for name in names]
            if any(info.flag_bits & 0x1 for info in chosen):
                raise BadFile('The ZIP is password-protected.')
            if sum(info.file_size for info in chosen) > max_unpacked:  # zipfile reads no more than these sizes
                raise BadFile(f'The ZIP would unpack to more than {megabytes(max_unpacked)}.')
            return Survey('zip', sum(_count_entry(archive, name) for name in names), names)
    # RuntimeError: zipfile's refusal of a compression method it lacks (a subclass) or of an encrypted entry
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, RuntimeError) as error:
        raise BadFile(f'The ZIP archive is damaged or of a kind this app cannot read ({error}).') from None


def _count_entry(archive: zipfile.ZipFile, name: str) -> int:
    with archive.open(name) as entry:
        if _first_byte(entry) == b'[':
            return _count(entry, name)
        return _check_one(_load(entry))


def megabytes(size: int) -> str:
    return f'{size / 1_000_000:,.4g} MB'
