"""What an attached file holds, decided by its bytes alone: text, a PDF's text, or an image checked by decoding it.

A browser's file name and content type are not trusted: a PNG named `notes.txt` is an image, and anything that is
not text, a PDF or one of four image formats is refused. Blocking and CPU-bound on purpose: this module is the
program of the child process that `worker.inspect` runs for each file (`python -m chatapp.attachments.reading`), with
a time and a memory limit; the server never imports it.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import dataclasses
import io
import itertools
import json
import re
import sys
import warnings
from typing import BinaryIO

from PIL import Image, ImageOps
from pypdf import PdfReader

from chatapp import text as texts
from chatapp.attachments.files import FRAME, Inspected, Kind, Unreadable, clean_name

MAX_PIXELS = 50_000_000  # an image's width times its height: decoded as RGBA, 200 MB
THUMBNAIL_PX = 320  # a thumbnail's longer side
MAX_PDF_PAGES = 2_000
PDF_HEADER_WITHIN = 1_024  # readers accept a PDF whose '%PDF-' follows some junk: so do we
MEMORY_BYTES = 1536 * 2**20  # the child's address space: more than a 50-megapixel image needs to decode
CONTROL_SHARE = 0.01  # of a text's characters: more that are control characters, and it is binary

_IMAGE_TYPES = {'PNG': 'image/png', 'JPEG': 'image/jpeg', 'GIF': 'image/gif', 'WEBP': 'image/webp'}
# Control characters a text file may well hold: tab, line feed, carriage return, form feed (page breaks in old
# source code), and escape (the colours of a terminal's log, one per few printable characters). Any other, C0 or
# C1, is rare in text and common in binary data; NUL alone says binary.
_CONTROL = re.compile('[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f-\x9f]')


def inspect_file(name: str, data: bytes) -> Inspected:
    """What `data` holds, by its content alone. Raises Unreadable, with a message naming the file."""
    name = clean_name(name)
    if not data.strip():
        raise Unreadable(f'{name} is empty.')
    if image_format := _image_format(data):
        return _image(name, data, image_format)
    pdf_at = data.find(b'%PDF-', 0, PDF_HEADER_WITHIN)
    text = _text_of(data) if pdf_at != 0 else None
    if pdf_at == 0 or (pdf_at > 0 and text is None):
        return _pdf(name, data)
    if pdf_at > 0:  # after some text: a PDF with a preamble, or a text about PDFs (code that checks for one)
        with contextlib.suppress(Unreadable):
            return _pdf(name, data)
    if text is None:
        raise Unreadable(f'{name} is not a text file, a PDF or an image (PNG, JPEG, GIF or WebP): '
                         'it was not attached.')
    if not text.strip():
        raise Unreadable(f'{name} is empty.')
    return Inspected(Kind.TEXT, 'text/plain', text.replace('\r\n', '\n').replace('\r', '\n'))


def _image_format(data: bytes) -> str | None:
    """Pillow's name of the image format `data` starts as, of those accepted."""
    if data.startswith(b'\x89PNG\r\n\x1a\n'):
        return 'PNG'
    if data.startswith(b'\xff\xd8\xff'):
        return 'JPEG'
    if data.startswith((b'GIF87a', b'GIF89a')):
        return 'GIF'
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'WEBP'
    return None


def _image(name: str, data: bytes, image_format: str) -> Inspected:
    too_large = Unreadable(f'{name} is too large an image (more than {MAX_PIXELS // 1_000_000} million pixels): '
                           'it was not attached.')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', Image.DecompressionBombWarning)  # Pillow's own limit, past ours: refuse
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:  # no other format's parser
                if image.width * image.height > MAX_PIXELS:  # from the header: nothing is decoded yet
                    raise too_large
                image.load()  # decodes it whole (its first frame): a truncated or damaged file fails here
                return _with_thumbnail(image, _IMAGE_TYPES[image_format])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except (Unreadable, MemoryError):
        raise
    except Exception:  # a parser fed hostile bytes may fail in any way: all of them mean a damaged file
        raise Unreadable(f'{name} could not be read as an image: it may be damaged.') from None


def _with_thumbnail(image: Image.Image, media_type: str) -> Inspected:
    upright = ImageOps.exif_transpose(image)
    width, height = upright.size
    small = upright.convert('RGBA' if upright.has_transparency_data else 'RGB')
    small.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    thumbnail = io.BytesIO()
    small.save(thumbnail, 'WEBP', quality=80)
    return Inspected(Kind.IMAGE, media_type, '', thumbnail.getvalue(), width, height)


def _pdf(name: str, data: bytes) -> Inspected:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(''):  # many PDFs are encrypted with an empty password
            raise Unreadable(f'{name} is protected by a password: it was not attached.')
        pages = [page.extract_text().rstrip() for page in itertools.islice(reader.pages, MAX_PDF_PAGES)]
    except (Unreadable, MemoryError):
        raise
    except Exception:  # as for images: any failure of the parser means a damaged file
        raise Unreadable(f'{name} could not be read as a PDF: it may be damaged.') from None
    text = texts.clean('\n\n'.join(pages))  # a PDF's text may hold NUL, or lone surrogates from a bad font map
    if not text.strip():
        raise Unreadable(f'{name} has no text to read (a scanned document?): it was not attached.')
    return Inspected(Kind.PDF, 'application/pdf', text)


def _text_of(data: bytes) -> str | None:
    """The text of `data` in the first encoding that reads it whole: UTF-8 (without its BOM), UTF-16 if it starts
    with its BOM, or Windows' Latin-1 (cp1252, which refuses its five undefined bytes); None if none does, or if
    what it reads looks like binary data (NUL, or many control characters)."""
    encodings = ['utf-8-sig', 'cp1252']
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings.insert(0, 'utf-16')
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        binary = '\x00' in text or len(_CONTROL.findall(text)) > len(text) * CONTROL_SHARE
        return None if binary else text
    return None


# --- the child ------------------------------------------------------------------------------------------------

def _limit_memory() -> None:
    """A file that would take more than MEMORY_BYTES fails in the child (MemoryError, or the process ends), never
    in the server. Where there is no such limit (not on Unix), the time limit still holds."""
    try:
        import resource
    except ImportError:
        return
    with contextlib.suppress(ValueError, OSError):  # a lower hard limit stays, and so does an unsupported one
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _read_framed(source: BinaryIO) -> bytes:
    (length,) = FRAME.unpack(source.read(FRAME.size))
    return source.read(length)


def serve() -> None:
    """The child: one file in, its inspection (or why it cannot be attached) out."""
    _limit_memory()
    source = sys.stdin.buffer
    name = _read_framed(source).decode()
    data = _read_framed(source)
    try:
        inspected = inspect_file(name, data)
        answer = dataclasses.asdict(inspected) | {'thumbnail': base64.b64encode(inspected.thumbnail).decode()}
    except Unreadable as error:
        answer = {'error': str(error)}
    answer_bytes = json.dumps(answer).encode()
    sys.stdout.buffer.write(FRAME.pack(len(answer_bytes)) + answer_bytes)
    sys.stdout.buffer.flush()


if __name__ == '__main__':
    serve()
