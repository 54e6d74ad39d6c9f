"""A conversation of ChatGPT's data export as a draft. The export's `conversations.json` (in its ZIP, or split
into `conversations-000.json`, … in newer ones) is a list of conversations, each:

- `title`, `create_time`, `update_time` (seconds since 1970), `id` / `conversation_id`, `current_node`;
- `mapping`: {node id: {id, message or null, parent, children}}: a tree whose root holds no message; an edited
  question or a regenerated answer is a sibling of the one it replaced;
- a message: `author.role` (system, user, assistant, tool), `content` (`content_type` 'text' or
  'multimodal_text' with `parts`, strings and, for images and audio, objects; 'code', 'execution_output',
  'thoughts', 'user_editable_context', … for the rest), `create_time`, `metadata` (`model_slug`,
  `is_visually_hidden_from_conversation`), `recipient` ('all', or the tool it calls).

What becomes of it:
- Kept: questions and answers people saw: user and assistant messages to everyone ('all'), with text, not hidden.
  Their parts are joined by blank lines; an image or a file is written as [image] or [file] (the file itself is
  not in conversations.json); a voice message keeps its transcript.
- Dropped: the root, system messages (custom instructions), tool calls and tool output, reasoning, and empty
  messages. What hung below a dropped message hangs from its nearest kept ancestor, so edits and regenerations
  stay siblings. Two messages of one role in a row (an answer in two parts around a tool call) stay as they are:
  nothing is merged or made up.
- `current_node`, or its nearest kept ancestor, is the branch shown; without one, the newest branch.
- ChatGPT's citation marks (private-use characters around 'cite…' references) are taken out of the text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chatapp.models import Role, utcnow
from chatapp.transfer import drafts
from chatapp.transfer.drafts import Draft, DraftMessage, Invalid

SOURCE = 'chatgpt:'
KEPT_CONTENT = ('text', 'multimodal_text')
_CITATION = re.compile('\ue200[^\ue201]{0,500}\ue201|[\ue200-\ue2ff]')
_ATTACHMENTS = {'image_asset_pointer': '[image]', 'audio_asset_pointer': '',  # a voice message: its transcript
                'real_time_user_audio_video_asset_pointer': ''}


def looks_like(data: Any) -> bool:
    """One conversation of ChatGPT's export, by its shape."""
    return isinstance(data, dict) and isinstance(data.get('mapping'), dict)


def draft(data: Any) -> Draft:
    """A conversation of ChatGPT's export, checked and turned into a tree of ours; raises Invalid."""
    if not looks_like(data):
        raise Invalid('it is not a ChatGPT conversation')
    mapping: dict[str, Any] = data['mapping']
    if len(mapping) > drafts.MAX_MESSAGES:
        raise Invalid(f'it has more than {drafts.MAX_MESSAGES:,} messages')
    source = SOURCE + drafts.key(data.get('conversation_id') or data.get('id'), 'its id')
    created = drafts.epoch_time(data.get('create_time'), 'its creation time')
    updated = drafts.epoch_time(data.get('update_time'), 'its update time')
    messages, nearest = _walk(mapping, created or updated or utcnow())
    if not messages:
        raise Invalid('it holds no messages to import')
    ordered = drafts.tree_order(messages)
    current = data.get('current_node')
    leaf = nearest.get(current) if isinstance(current, str) else None
    created = created or min(m.created_at for m in ordered)
    return Draft(source=source, title=drafts.title(data.get('title')), created_at=created,
                 updated_at=max(updated or created, created), messages=ordered, leaf=leaf or ordered[-1].key)


def _walk(mapping: dict[str, Any], start: datetime) -> tuple[list[DraftMessage], dict[str, str | None]]:
    """The kept messages, each under its nearest kept ancestor, from the roots down (a node no root leads to, in a
    loop, is never reached); and for every node reached, the nearest kept message at or above it."""
    children = _children(mapping)
    messages: list[DraftMessage] = []
    nearest: dict[str, str | None] = {}
    stack: list[tuple[str, str | None, datetime]] = [(node_id, None, start) for node_id in reversed(children[None])]
    while stack:
        node_id, above, time = stack.pop()
        if node_id in nearest:
            continue
        message = _message(node_id, mapping[node_id].get('message'), above, time)
        if message is not None:
            messages.append(message)
            above, time = message.key, message.created_at
        nearest[node_id] = above
        stack.extend((child, above, time) for child in reversed(children.get(node_id, [])))
    return messages, nearest


def _children(mapping: dict[str, Any]) -> dict[str | None, list[str]]:
    """Each node's children by their `parent` links (None: the roots, whose parent is missing), in the order of
    the parent's `children` list; checks each node's shape."""
    found: dict[str | None, list[str]] = {None: []}
    for node_id, node in mapping.items():
        drafts.key(node_id, 'a message id')
        if not isinstance(node, dict) or not isinstance(node.get('children', []), list):
            raise Invalid('a message of it is not a ChatGPT message')
        parent = node.get('parent')
        found.setdefault(parent if isinstance(parent, str) and parent in mapping else None, []).append(node_id)
    for parent, ids in found.items():
        listed = mapping[parent].get('children') or [] if parent is not None else []
        place = {child: n for n, child in enumerate(listed) if isinstance(child, str)}
        ids.sort(key=lambda child: place.get(child, len(place)))  # stable: the rest in the file's order
    return found


def _message(node_id: str, message: Any, parent: str | None, time: datetime) -> DraftMessage | None:
    """The node's message as one of ours, or None when it is not one people saw (see the module's docstring)."""
    if not isinstance(message, dict):
        return None
    author, metadata = message.get('author'), message.get('metadata')
    metadata = metadata if isinstance(metadata, dict) else {}
    role = author.get('role') if isinstance(author, dict) else None
    if role not in (Role.USER, Role.ASSISTANT) or metadata.get('is_visually_hidden_from_conversation') is True:
        return None
    if role == Role.ASSISTANT and message.get('recipient', 'all') not in ('all', None):
        return None  # a call of a tool
    content = _text(message.get('content'), node_id)
    if not content.strip():
        return None
    created = drafts.epoch_time(message.get('create_time'), 'the time of a message') or time
    model = metadata.get('model_slug') if role == Role.ASSISTANT else None
    return DraftMessage(key=node_id, parent=parent, role=Role(role), content=content, created_at=created,
                        updated_at=drafts.epoch_time(message.get('update_time'), 'the time of a message') or created,
                        model=drafts.text(model or '', 'the model of a message', limit=drafts.MAX_NAME_CHARS))


def _text(content: Any, node_id: str) -> str:
    """The text of a message's content, '' for content that is not text."""
    if not isinstance(content, dict) or content.get('content_type') not in KEPT_CONTENT:
        return ''
    parts = content.get('parts')
    if not isinstance(parts, list):
        raise Invalid('a message of it has no parts')
    pieces = [piece for piece in (_part(part) for part in parts) if piece.strip()]
    text = drafts.text('\n\n'.join(pieces), 'the text of a message')
    return _CITATION.sub('', text)


def _part(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        raise Invalid('a message of it has a part that is neither text nor an attachment')
    kind = part.get('content_type')
    if kind == 'audio_transcription':
        return part.get('text') if isinstance(part.get('text'), str) else ''
    return _ATTACHMENTS.get(kind, '[file]') if isinstance(kind, str) else '[file]'
