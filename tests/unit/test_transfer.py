"""Export and import without a database: ChatGPT's mapping becomes our tree, our JSON goes round unchanged, hostile
or foreign files are refused with what is wrong, a list is parsed element by element, file names are safe."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from chatapp.models import Conversation, Message, Role, Status
from chatapp.store import Tree
from chatapp.transfer import chatgpt, drafts, export, native
from chatapp.transfer.drafts import Invalid
from chatapp.transfer.reading import ArrayReader, BadFile, conversations, survey
from tests.support.chatgpt_export import KYOTO_ID, KYOTO_SHOWN, KYOTO_TITLE, file_bytes, kyoto, sample, simple

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def branch(draft: drafts.Draft, leaf: str | None = None) -> list[str]:
    """The contents from the first message down to `leaf` (the draft's shown one by default)."""
    by_key = {m.key: m for m in draft.messages}
    found, key = [], leaf or draft.leaf
    while key is not None:
        found.append(by_key[key].content)
        key = by_key[key].parent
    return found[::-1]


# --- ChatGPT -----------------------------------------------------------------------------------------------

def test_the_mapping_becomes_our_tree_with_the_current_node_shown() -> None:
    draft = chatgpt.draft(kyoto())
    assert draft.source == f'chatgpt:{KYOTO_ID}' and draft.title == KYOTO_TITLE
    assert draft.created_at == datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
    assert draft.updated_at == draft.created_at + timedelta(hours=1)
    assert [m.key for m in draft.messages] == ['u1', 'a1', 'u1b', 'a2', 'a2b', 'u2', 'a4']  # oldest first
    parents = {m.key: m.parent for m in draft.messages}
    assert parents == {'u1': None, 'u1b': None, 'a1': 'u1', 'a2': 'u1b', 'a2b': 'u1b', 'u2': 'a2b', 'a4': 'u2'}
    # the system message, the custom instructions, the tool call and its output are gone; the edit and the
    # regeneration stay siblings
    assert [c.replace('[image]\n\n', '') for c in branch(draft)] == [*KYOTO_SHOWN[:3],
                                                                     KYOTO_SHOWN[3] + ', the Golden Pavilion.']
    by_key = {m.key: m for m in draft.messages}
    assert by_key['u2'].content == '[image]\n\nIs this the Golden Pavilion?'  # an image is named, not lost
    assert '\ue200' not in by_key['a4'].content and 'cite' not in by_key['a4'].content
    assert (by_key['a1'].model, by_key['a4'].model, by_key['u1'].model) == ('gpt-4', 'gpt-4o', '')
    assert by_key['a2b'].created_at == datetime(2024, 3, 5, 16, 0, 50, tzinfo=UTC)
    assert all(m.status == Status.COMPLETE for m in draft.messages)


def test_a_dropped_current_node_shows_its_nearest_kept_ancestor() -> None:
    data = kyoto()
    data['current_node'] = 't3'  # the tool's output
    assert chatgpt.draft(data).leaf == 'u2'
    data['current_node'] = 'nowhere'
    assert chatgpt.draft(data).leaf == 'a4'  # the newest branch
    del data['current_node']
    assert chatgpt.draft(data).leaf == 'a4'


def test_voice_and_files_and_ids_of_older_exports() -> None:
    data = simple('older', 'Old', 'x', 'y')
    del data['conversation_id']  # older exports have only `id`
    data['mapping']['q']['message']['content'] = {'content_type': 'multimodal_text', 'parts': [
        {'content_type': 'audio_transcription', 'text': 'Spoken question'}, {'content_type': 'audio_asset_pointer'},
        {'content_type': 'something_new'}]}
    draft = chatgpt.draft(data)
    assert draft.source == 'chatgpt:older' and draft.messages[0].content == 'Spoken question\n\n[file]'


@pytest.mark.parametrize('damage, reason', [
    (lambda c: c.update(mapping={'a': {'parent': 'b', 'message': None}, 'b': {'parent': 'a', 'message': None}}),
     'no messages'),
    (lambda c: c['mapping']['q']['message']['content'].update(parts=[1]), 'neither text'),
    (lambda c: c['mapping']['q']['message'].update(create_time='yesterday'), 'time'),
    (lambda c: c['mapping']['q']['message'].update(create_time=1e300), 'time'),
    (lambda c: c.update(id='x' * 500, conversation_id=None), 'id'),
    (lambda c: c['mapping']['a']['message']['content'].update(parts=['x' * (drafts.MAX_CONTENT_CHARS + 1)]),
     'longer than'),
    (lambda c: c['mapping']['a']['message']['metadata'].update(model_slug=['x']), 'model'),
    (lambda c: c['mapping'].update({f'n{n}': {'parent': None, 'message': None} for n in range(drafts.MAX_MESSAGES)}),
     'more than'),
])
def test_a_damaged_conversation_is_refused_with_a_reason(damage: Callable[[dict], object], reason: str) -> None:
    data = simple('c1', 'Fine', 'Hello?', 'Hi')
    damage(data)
    with pytest.raises(Invalid, match=reason):
        chatgpt.draft(data)


def test_a_loop_below_the_root_is_never_reached() -> None:
    data = simple('c1', 'Loop', 'Hello?', 'Hi')
    data['mapping'] |= {'x': {'id': 'x', 'parent': 'y', 'children': ['y'], 'message': data['mapping']['q']['message']},
                        'y': {'id': 'y', 'parent': 'x', 'children': ['x'], 'message': None}}
    assert [m.key for m in chatgpt.draft(data).messages] == ['q', 'a']


# --- our JSON ------------------------------------------------------------------------------------------------

def tree() -> Tree:
    """A conversation of ours with an edited question and usage, as the store reads it."""
    at = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    conversation = Conversation(id='c0ffee00-0000-4000-8000-000000000001', user_id='u', title='Plans 计划',
                                model='local/llama', system_prompt='Be brief.', created_at=at,
                                updated_at=at + timedelta(hours=2), leaf_id=4)
    messages = [
        Message(id=1, conversation_id=conversation.id, role=Role.USER, author_id='u', content='First?', created_at=at,
                updated_at=at),
        Message(id=2, conversation_id=conversation.id, parent_id=1, role=Role.ASSISTANT, content='First.',
                model='local/llama', prompt_tokens=12, completion_tokens=3, usage_estimated=True, first_token_ms=240,
                tokens_per_second=31.5, cost=0.0012, status=Status.STOPPED, error='Stopped.',
                created_at=at + timedelta(seconds=1), updated_at=at + timedelta(seconds=2)),
        Message(id=3, conversation_id=conversation.id, role=Role.USER, author_id='u', content='Second? 第二',
                created_at=at + timedelta(minutes=1), updated_at=at + timedelta(minutes=1)),
        Message(id=4, conversation_id=conversation.id, parent_id=3, role=Role.ASSISTANT, content='Second.',
                model='local/llama', created_at=at + timedelta(minutes=2), updated_at=at + timedelta(minutes=2)),
    ]
    return Tree(conversation, messages, {'u': 'Mary Bode', '': 'Mary Bode'})


def test_our_json_keeps_everything_and_reads_back_the_same() -> None:
    written = json.loads(json.dumps(native.document(tree(), NOW)))
    assert (written['format'], written['version'], written['exported_at']) == ('chatapp.conversation', 1,
                                                                              '2026-01-02T03:04:05Z')
    assert written['messages'][1] | {} == {
        'id': 2, 'parent_id': 1, 'role': 'assistant', 'author': None, 'content': 'First.', 'status': 'stopped',
        'error': 'Stopped.', 'model': 'local/llama', 'prompt_tokens': 12, 'completion_tokens': 3,
        'usage_estimated': True, 'first_token_ms': 240, 'tokens_per_second': 31.5, 'cost': 0.0012,
        'created_at': '2025-06-01T12:00:01Z', 'updated_at': '2025-06-01T12:00:02Z'}
    assert written['messages'][0]['author'] == 'Mary Bode' and written['system_prompt'] == 'Be brief.'
    draft = native.draft(written)
    assert draft.source == 'chatapp:c0ffee00-0000-4000-8000-000000000001' and draft.title == 'Plans 计划'
    assert (draft.model, draft.system_prompt, draft.leaf) == ('local/llama', 'Be brief.', '4')
    original = tree()
    assert (draft.created_at, draft.updated_at) == (original.conversation.created_at, original.conversation.updated_at)
    for ours, back in zip(original.messages, draft.messages, strict=True):
        assert back.key == str(ours.id) and back.parent == (None if ours.parent_id is None else str(ours.parent_id))
        for name in ('role', 'content', 'status', 'error', 'model', *native.USAGE, 'created_at', 'updated_at'):
            assert getattr(back, name) == getattr(ours, name), name


@pytest.mark.parametrize('damage, reason', [
    (lambda d: d.update(version=2), 'newer chatapp'),
    (lambda d: d.update(version='1'), 'version'),
    (lambda d: d['messages'][1].update(status='exploded'), 'unknown role or status'),
    (lambda d: d['messages'][1].update(parent_id=99), 'not in the file'),
    (lambda d: d['messages'][1].update(id=1), 'same id'),
    (lambda d: d['messages'][0].update(parent_id=2), 'loop'),
    (lambda d: d['messages'][1].update(prompt_tokens=-1), 'count'),
    (lambda d: d['messages'][1].update(cost=float('nan')), 'number'),
    (lambda d: d['messages'][1].update(created_at='soon'), 'date'),
    (lambda d: d.update(messages={}), 'list of messages'),
    (lambda d: d.update(system_prompt=5), 'not text'),
])
def test_our_json_is_checked(damage: Callable[[dict], object], reason: str) -> None:
    data = json.loads(json.dumps(native.document(tree(), NOW)))
    damage(data)
    with pytest.raises(Invalid, match=reason):
        native.draft(data)


def test_a_reply_exported_while_being_written_comes_back_interrupted() -> None:
    data = json.loads(json.dumps(native.document(tree(), NOW)))
    data['messages'][3]['status'], data['messages'][2]['status'] = 'streaming', 'queued'
    draft = native.draft(data)
    assert draft.messages[3].status == Status.INTERRUPTED and draft.messages[3].error
    assert draft.messages[2].status == Status.COMPLETE  # nothing answers a queued question on its own


def test_markdown_shows_the_branch_with_who_and_when() -> None:
    text = export.markdown(tree(), NOW, lambda key: key.upper())
    assert text.startswith('# Plans 计划\n')
    assert '### Mary Bode · 2025-06-01 12:01 UTC\n\nSecond? 第二' in text
    assert '### Assistant (LOCAL/LLAMA) · 2025-06-01 12:02 UTC\n\nSecond.' in text
    assert 'First?' not in text and 'The branch shown: 2 of its 4 messages' in text


def test_file_names_are_safe_and_keep_the_title() -> None:
    header = export.content_disposition('Café "plans"/../x 计划', '.md')
    assert header == ('attachment; filename="Cafe plans .. x.md"; '
                      "filename*=UTF-8''Caf%C3%A9%20plans%20..%20x%20%E8%AE%A1%E5%88%92.md")
    assert 'filename="conversation.json"' in export.content_disposition('计划', '.json')
    assert 'filename="conversation.md"' in export.content_disposition('...', '.md')


# --- files ---------------------------------------------------------------------------------------------------

def test_a_list_is_read_element_by_element_however_it_is_cut() -> None:
    data = file_bytes(sample())
    for size in (1, 7, 4096):
        reader, found = ArrayReader(), []
        for start in range(0, len(data), size):
            found += reader.feed(data[start:start + size])
        found += reader.feed(b'', final=True)
        assert found == sample()


@pytest.mark.parametrize('content, message', [
    (b'', 'empty'),
    (b'%PDF-1.7 ...', 'neither JSON nor a ZIP'),
    (b'[{"mapping": {}}', 'ends before its list'),
    (b'[{"mapping": {}},]', 'not valid JSON'),
    (b'{"mapping": ', 'not valid JSON'),
    (b'["\xff"]', 'not UTF-8'),
    (b'[1, 2]', 'not of conversations'),
    (b'[{"uuid": "x", "chat_messages": []}]', "Claude's export"),
    (b'{"format": "chatapp.export"}', 'manifest'),
    (b'{"messages": []}', 'neither a chatapp conversation'),
    (b'[]', 'no conversations'),
    (b'PK\x03\x04 and then nothing', 'damaged'),
    (b'[' * 100_000, 'nested too deeply'),
])
def test_a_file_that_is_no_export_is_refused_with_what_is_wrong(content: bytes, message: str) -> None:
    with pytest.raises(BadFile, match=message):
        survey(io.BytesIO(content), 1_000_000)


def test_a_file_over_the_limit_is_refused() -> None:
    with pytest.raises(BadFile, match=r'larger than the 0\.0001 MB'):
        survey(io.BytesIO(b'[' + b' ' * 1000 + b']'), 100)


def zipped(files: dict[str, bytes]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_zips_of_ours_and_of_chatgpt_are_read_one_conversation_at_a_time() -> None:
    ours = json.dumps(native.document(tree(), NOW)).encode()
    archive = zipped({'export/README.md': b'hi', 'export/conversations/a.json': ours,
                      'export/conversations/a.md': b'# a', 'export/manifest.json': b'{}'})
    found = survey(archive, 1_000_000)
    assert (found.kind, found.total, found.entries) == ('zip', 1, ['export/conversations/a.json'])
    assert [c['id'] for c in conversations(archive, found)] == [tree().conversation.id]
    theirs = zipped({'chat.html': b'<html>', 'conversations-000.json': file_bytes(sample()[:2]),
                     'conversations-001.json': file_bytes(sample()[2:]), 'user.json': b'{}'})
    found = survey(theirs, 1_000_000)
    assert (found.total, len(list(conversations(theirs, found)))) == (3, 3)


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    bomb = zipped({'conversations.json': b'[' + b' ' * 6_000_000 + b']'})
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(BadFile, match='unpack to more than'):
        survey(bomb, 1_000_000)
    with pytest.raises(BadFile, match='neither a chatapp export nor'):
        survey(zipped({'notes.txt': b'x'}), 1_000_000)


def test_a_broken_conversation_in_a_good_file_does_not_spoil_the_file() -> None:
    data = copy.deepcopy(sample())
    found = survey(io.BytesIO(file_bytes(data)), 1_000_000)
    assert (found.kind, found.total) == ('list', 3)
