"""Export: one conversation as JSON (everything, native.py) or Markdown (the branch shown, to read), and all of a
person's own conversations as one ZIP, streamed: read a page at a time, each page's entries compressed in a worker
thread and handed on before the next page is read, the ZIP's directory kept on disk (zipstream.py), so neither the
event loop nor memory carries the account."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from urllib.parse import quote

from chatapp.attachments.content import size_label
from chatapp.models import Message, Role, Status
from chatapp.store import ConversationStore, Tree
from chatapp.transfer import native
from chatapp.transfer.zipstream import ZipStream

PAGE = 25  # conversations read (and written) at a time
EXPORT_FORMAT = 'chatapp.export'
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_NOT_ASCII_NAME = re.compile(r'[^A-Za-z0-9._ -]+')
_MARKUP = re.compile(r'[\\`*_{}\[\]()<>#+!|~-]')
Label = Callable[[str], str]


def json_bytes(tree: Tree, exported_at: datetime) -> bytes:
    return json.dumps(native.document(tree, exported_at), ensure_ascii=False, indent=1).encode()


def markdown(tree: Tree, exported_at: datetime, label: Label = lambda key: key) -> str:
    """The conversation to read: its title, dates and the branch shown, a section a message (who wrote it, which
    model answered, when)."""
    conversation = tree.conversation
    branch = shown_branch(tree.messages, conversation.leaf_id)
    lines = [f'# {conversation.title}', '',
             f'Created {_when(conversation.created_at)} · last changed {_when(conversation.updated_at)} · '
             f'exported from chatapp {_when(exported_at)}', '']
    if len(branch) < len(tree.messages):
        lines += [f'*The branch shown: {len(branch)} of its {len(tree.messages)} messages. The JSON export holds '
                  'every branch.*', '']
    for message in branch:
        lines += ['---', '', f'### {_speaker(message, tree.authors, label)} · {_when(message.created_at)}', '',
                  message.content.rstrip(), '']
        if files := tree.attachments.get(message.id or 0):
            lines += ['*Attached: ' + ', '.join(f'{_escaped(f.name)} ({f.kind}, {size_label(f.size)})' for f in files)
                      + '*', '']
        if message.status not in (Status.COMPLETE, Status.QUEUED):
            lines += [f'*{message.status.capitalize()}{": " + message.error if message.error else ""}*', '']
    return '\n'.join(lines)


def shown_branch(messages: list[Message], leaf_id: int | None) -> list[Message]:
    """The messages from the first one down to `leaf_id`, by their parent links."""
    by_id = {message.id: message for message in messages}
    branch: list[Message] = []
    current = by_id.get(leaf_id) if leaf_id is not None else None
    while current is not None and len(branch) <= len(messages):  # (a loop in stored data ends too)
        branch.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return branch[::-1]


def _escaped(name: str) -> str:
    """A file's name as Markdown text: its markup characters shown as written."""
    return _MARKUP.sub(r'\\\g<0>', name)


def _speaker(message: Message, authors: dict[str, str], label: Label) -> str:
    if message.role == Role.USER:
        return authors.get(message.author_id or '') or 'You'
    return f'Assistant ({label(message.model)})' if message.model else 'Assistant'


def _when(moment: datetime) -> str:
    return native.iso(moment)[:16].replace('T', ' ') + ' UTC'


# --- file names -----------------------------------------------------------------------------------------------

def file_title(title: str) -> str:
    """A title as a file name: no path separators or characters file systems refuse, not too long."""
    return ' '.join(_UNSAFE.sub(' ', title).split())[:80].strip(' .') or 'conversation'


def content_disposition(title: str, suffix: str) -> str:
    """An attachment named after `title`: an ASCII name for old clients, and the title itself (RFC 5987)."""
    name = file_title(title)
    ascii_name = unicodedata.normalize('NFKD', name).encode('ascii', 'ignore').decode()
    ascii_name = ' '.join(_NOT_ASCII_NAME.sub('', ascii_name).split()).strip(' .') or 'conversation'
    name, ascii_name = name + suffix, ascii_name + suffix
    return f'attachment; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(name, safe="")}'


# --- all of a person's data, as a ZIP ------------------------------------------------------------------------

async def all_data(store: ConversationStore, user_id: str, person: str, exported_at: datetime,
                   label: Label = lambda key: key) -> AsyncIterator[bytes]:
    """The ZIP of all the person's own conversations (JSON and Markdown each), with a README and a manifest, in
    pieces as it is written: a page of conversations read, compressed in a worker thread and handed on before the
    next is read."""
    archive = ZipStream()
    try:
        yield archive.add('README.md', _readme(person, exported_at).encode())
        count, before = 0, None
        while page := await store.own_trees(user_id, before=before, limit=PAGE):
            yield await asyncio.to_thread(_page_entries, archive, page, exported_at, label)
            count += len(page)
            before = (page[-1].conversation.updated_at, page[-1].conversation.id)
        yield archive.add('manifest.json', json.dumps({
            'format': EXPORT_FORMAT, 'version': native.VERSION, 'exported_at': native.iso(exported_at),
            'conversations': count}, indent=1).encode())
        end = archive.finish()
        while (chunk := await asyncio.to_thread(next, end, None)) is not None:  # the directory, from its file
            yield chunk
    finally:
        archive.close()


def _page_entries(archive: ZipStream, page: list[Tree], exported_at: datetime, label: Label) -> bytes:
    entries = []
    for tree in page:
        conversation = tree.conversation
        name = f'conversations/{native.iso(conversation.created_at)[:10]} {file_title(conversation.title)} ' \
               f'{conversation.id[:8]}'
        entries.append(archive.add(f'{name}.json', json_bytes(tree, exported_at)))
        entries.append(archive.add(f'{name}.md', markdown(tree, exported_at, label).encode()))
    return b''.join(entries)


def _readme(person: str, exported_at: datetime) -> str:
    return f'''# chatapp data of {person}

Exported {_when(exported_at)}: every conversation of yours, whole.

- `conversations/*.json`: each conversation with everything it holds: every branch, the models that answered,
  tokens, costs and times (format `{native.FORMAT}`, version {native.VERSION}). Import this ZIP, or one of
  these files, into chatapp: account menu, Import conversations.
- `conversations/*.md`: the same conversations to read, each with the branch it shows.
- `manifest.json`: what this is, when it was made, and how many conversations it holds.

Conversations others shared with you are theirs, and are not in here.
'''
