"""This app's own JSON of a conversation (format `chatapp.conversation`, version 1): everything it holds.

Every message of the tree (every branch), each with its parent, role, text, status, model, usage and times; the
branch shown (`leaf_id`); the title, model and dates; the system prompt for its owner only (the store hands
anybody else none). Times are ISO 8601 in UTC. Reading it back is `draft`, which checks every field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatapp.models import Message, Role, Status
from chatapp.store import Tree
from chatapp.transfer import drafts
from chatapp.transfer.drafts import Draft, DraftMessage, Invalid

FORMAT = 'chatapp.conversation'
VERSION = 1
SOURCE = 'chatapp:'
USAGE = ('prompt_tokens', 'completion_tokens', 'usage_estimated', 'first_token_ms', 'tokens_per_second', 'cost')
WRITTEN_WHILE_STREAMING = 'Exported while it was still being written.'


def iso(moment: datetime) -> str:
    """A stored time (SQLite hands them back without a zone: they are UTC) as ISO 8601 in UTC."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace('+00:00', 'Z')


def document(tree: Tree, exported_at: datetime) -> dict[str, Any]:
    conversation = tree.conversation
    return {'format': FORMAT, 'version': VERSION, 'exported_at': iso(exported_at),
            'id': conversation.id, 'title': conversation.title, 'model': conversation.model,
            'system_prompt': conversation.system_prompt,  # None for anyone but its owner (the store's rule)
            'created_at': iso(conversation.created_at), 'updated_at': iso(conversation.updated_at),
            'leaf_id': conversation.leaf_id, 'forked_from': conversation.forked_from,
            'imported_from': conversation.imported_from,
            'messages': [_message(message, tree) for message in tree.messages]}


def _message(message: Message, tree: Tree) -> dict[str, Any]:
    author = tree.authors.get(message.author_id or '') if message.role == Role.USER else None
    files = tree.attachments.get(message.id or 0, [])
    return {'id': message.id, 'parent_id': message.parent_id, 'role': message.role, 'author': author,
            'content': message.content, 'status': message.status, 'error': message.error, 'model': message.model,
            **{name: getattr(message, name) for name in USAGE},
            'created_at': iso(message.created_at), 'updated_at': iso(message.updated_at),
            # what the question attached, named (the files themselves stay in the app; an import skips this)
            **({'attachments': [{'name': f.name, 'kind': f.kind, 'size': f.size} for f in files]} if files else {})}


def is_ours(data: Any) -> bool:
    return isinstance(data, dict) and data.get('format') == FORMAT


def draft(data: Any) -> Draft:
    """A conversation of this app's JSON, checked; raises Invalid."""
    if not is_ours(data):
        raise Invalid('it is not a chatapp conversation')
    version = data.get('version')
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Invalid('it has no format version')
    if version > VERSION:
        raise Invalid(f'it was written by a newer chatapp (format version {version})')
    raw = data.get('messages')
    if not isinstance(raw, list):
        raise Invalid('it has no list of messages')
    if len(raw) > drafts.MAX_MESSAGES:
        raise Invalid(f'it has more than {drafts.MAX_MESSAGES:,} messages')
    messages = drafts.tree_order([_draft_message(item, n) for n, item in enumerate(raw, 1)])
    leaf = None if data.get('leaf_id') is None else drafts.key(data.get('leaf_id'), 'its shown message')
    return Draft(source=SOURCE + drafts.key(data.get('id'), 'its id'), title=drafts.title(data.get('title')),
                 created_at=drafts.iso_time(data.get('created_at'), 'its creation date'),
                 updated_at=drafts.iso_time(data.get('updated_at'), 'its date'),
                 messages=messages, leaf=leaf if any(m.key == leaf for m in messages) else None,
                 model=drafts.text(data.get('model', ''), 'its model', limit=drafts.MAX_NAME_CHARS),
                 system_prompt=drafts.optional_text(data.get('system_prompt'), 'its system prompt',
                                                    limit=drafts.MAX_SYSTEM_PROMPT_CHARS))


def _draft_message(item: Any, number: int) -> DraftMessage:
    what = f'message {number}'
    if not isinstance(item, dict):
        raise Invalid(f'{what} is not a message')
    try:
        role, status = Role(item.get('role')), Status(item.get('status', Status.COMPLETE))
    except ValueError:
        raise Invalid(f'{what} has an unknown role or status') from None
    error = item.get('error', '')
    if status == Status.STREAMING:  # nothing will finish it here
        status, error = Status.INTERRUPTED, error or WRITTEN_WHILE_STREAMING
    elif status == Status.QUEUED:  # nor answer it on its own: the person asks again
        status = Status.COMPLETE
    created_at = drafts.iso_time(item.get('created_at'), f'the date of {what}')
    parent = item.get('parent_id')
    return DraftMessage(
        key=drafts.key(item.get('id'), f'the id of {what}'),
        parent=None if parent is None else drafts.key(parent, f'the parent of {what}'),
        role=role, content=drafts.text(item.get('content', ''), f'the text of {what}'), status=status,
        error=drafts.text(error, f'the error of {what}', limit=drafts.MAX_CONTENT_CHARS)[:drafts.ERROR_CHARS],
        model=drafts.text(item.get('model', ''), f'the model of {what}', limit=drafts.MAX_NAME_CHARS),
        prompt_tokens=drafts.count(item.get('prompt_tokens'), f'the prompt tokens of {what}'),
        completion_tokens=drafts.count(item.get('completion_tokens'), f'the completion tokens of {what}'),
        usage_estimated=drafts.flag(item.get('usage_estimated', False), f'the usage of {what}'),
        first_token_ms=drafts.count(item.get('first_token_ms'), f'the first token time of {what}'),
        tokens_per_second=drafts.amount(item.get('tokens_per_second'), f'the speed of {what}'),
        cost=drafts.amount(item.get('cost'), f'the cost of {what}'),
        created_at=created_at,
        updated_at=drafts.iso_time(item['updated_at'], f'the date of {what}') if 'updated_at' in item else created_at)
