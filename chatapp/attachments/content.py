"""What an attachment is to the rest of the app: a file a question carries (before and after it is stored), and
what a model reads of it."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cached_property

IMAGE = 'image'  # attachments.files.Kind.IMAGE: the one kind a model does not read as text
IMAGE_CHARS = 4_000  # an image counts as about 1,000 tokens in the estimates (OpenAI's models take 765 for 1024 px)


@dataclass(frozen=True)
class NewAttachment:
    """A file read and checked, about to be sent with a question."""
    name: str
    kind: str  # attachments.files.Kind
    media_type: str
    data: bytes
    text: str = ''  # what the model reads: the file's text, or as much of it as fits the context
    text_chars: int = 0  # of the file's whole text
    thumbnail: bytes = b''  # of an image
    width: int = 0
    height: int = 0

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def prompt_chars(self) -> int:
        """What it adds to its question's prompt, in characters."""
        return IMAGE_CHARS if self.kind == IMAGE else len(framed(self.name, self.text, self.text_chars))


@dataclass(frozen=True)
class ShownFile:
    """An attachment as a page shows it on its question."""
    id: str
    name: str
    kind: str
    size: int
    width: int = 0  # of an image
    height: int = 0
    note: str = ''  # what a person is told of it, e.g. that only part of its text fit (`cut_note`)


@dataclass(frozen=True)
class PromptFile:
    """An attachment as a prompt reads it: its text, or an image's bytes."""
    name: str
    kind: str
    text: str = ''
    text_chars: int = 0
    media_type: str = ''
    data: bytes = b''  # of an image

    def framed(self) -> str:
        return framed(self.name, self.text, self.text_chars)

    def image_url(self) -> str:
        return f'data:{self.media_type};base64,{base64.b64encode(self.data).decode()}'


def framed(name: str, text: str, text_chars: int) -> str:
    """A file's text as the model reads it after the question: delimited, named, and saying where it was cut."""
    cut = f' (only its first {len(text):,} of {text_chars:,} characters fit)' if len(text) < text_chars else ''
    return f'\n\n[Attached file: {name}{cut}]\n{text}\n[End of {name}]'


def cut_note(kept: int, text_chars: int) -> str:
    """What a person is told of a file whose text was cut to fit the model's context ('' when whole): `kept` of
    its `text_chars` characters."""
    if kept >= text_chars:
        return ''
    return f'only its first {kept:,} of {text_chars:,} characters fit in the model’s context'


def size_label(size: int) -> str:
    if size < 1_000:
        return f'{size} B'
    if size < 1_000_000:
        return f'{size / 1_000:.0f} KB'
    return f'{size / 1_000_000:.1f} MB'
