"""What an attached file is to the server: its kind, what was read of it, why it was refused, its name made safe.
Reading the bytes themselves is `reading`'s, in a child process (`worker`): the parsers never load in the server.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import StrEnum

MAX_NAME_CHARS = 200
FRAME = struct.Struct('>Q')  # the length before each message between the server and a child reading a file


class Kind(StrEnum):
    # Markup is text, SVG and HTML included: a model reads its source, and a text is only ever served back as
    # text/plain, never rendered, so a script it holds never runs.
    TEXT = 'text'  # plain text, Markdown, source code, CSV, JSON, HTML, SVG...
    PDF = 'pdf'
    IMAGE = 'image'


@dataclass(frozen=True)
class Inspected:
    kind: Kind
    media_type: str  # text/plain for every text, whatever its name; application/pdf; image/png, jpeg, gif or webp
    text: str  # what a model reads (TEXT and PDF), whole: the caller cuts it to the context; '' for an image
    thumbnail: bytes = b''  # of an image: WebP, at most reading.THUMBNAIL_PX on its longer side
    width: int = 0  # of an image, upright (after its EXIF orientation), in pixels
    height: int = 0


class Unreadable(Exception):
    """The file cannot be attached; the message says why, in words for the person, naming the file."""


_UNSHOWN = re.compile('[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]')  # bidi overrides, isolates


def clean_name(name: str) -> str:
    """A browser's file name made safe to show and store: its last path part, without control or bidi override
    characters, at most MAX_NAME_CHARS long (keeping its extension), 'file' when nothing is left."""
    name = _UNSHOWN.sub('', re.split(r'[/\\]', name)[-1]).strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, extension = name.rpartition('.')
        if stem and len(extension) < MAX_NAME_CHARS // 10:
            name = stem[:MAX_NAME_CHARS - len(dot + extension)].rstrip() + dot + extension
        else:
            name = name[:MAX_NAME_CHARS].rstrip()
    return name if name.strip('.') else 'file'  # '.' and '..' name nothing
