"""Attachments in the store (both databases: stored once, read only by the conversation's readers, kept by an edit and
a fork, gone with the conversation) and through the engine to a real OpenAI-protocol server (llmock's journal
shows what the model was sent: a file's text, a PDF's, an image as an image_url part), with the refusals before
anything is stored or sent."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import select

from chatapp.attachments.content import NewAttachment
from chatapp.attachments.reading import inspect_file
from chatapp.db import Database
from chatapp.engine import Refused
from chatapp.models import Access, Attachment, Blob, Conversation, utcnow
from chatapp.settings import Settings
from chatapp.store import ConversationStore
from chatapp.transfer import export, native
from tests.integration.test_engine import Harness, make_harness
from tests.support.engines import image_models_file
from tests.support.factories import release_claims
from tests.support.files import HELLO_PDF, made_image
from tests.support.servers import LLMock

NOTES = '# Notes\nThe launch is on Tuesday.\n'
PNG = made_image('PNG', (64, 48))


def attachment(name: str, data: bytes) -> NewAttachment:
    """A file as the composer hands it over: read and checked, its text whole."""
    found = inspect_file(name, data)
    return NewAttachment(name, found.kind, found.media_type, data, found.text, len(found.text), found.thumbnail,
                         found.width, found.height)


async def count(database: Database, table: type[Blob] | type[Attachment]) -> int:
    async with database.session() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def ask(store: ConversationStore, user_id: str, conversation_id: str | None, text: str,
              *files: NewAttachment) -> tuple[str, int]:
    """A question with its files (and an empty reply, released at once); its conversation and its id."""
    stored = await store.add_exchange(user_id, conversation_id, text, 'm', 'here', attachments=files)
    assert stored is not None
    question, _ = stored
    await release_claims(store.db, question.conversation_id)
    assert question.id is not None
    return question.conversation_id, question.id


async def files_of(store: ConversationStore, user_id: str, conversation_id: str) -> dict[int, list[str]]:
    branch = await store.read_branch(user_id, conversation_id)
    assert branch is not None
    return {message_id: [f.name for f in files] for message_id, files in branch.attachments.items()}


# --- the store --------------------------------------------------------------------------------------------

async def test_the_same_file_twice_is_stored_once(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    conversation, _ = await ask(store, alice.id, None, 'Two of them', attachment('a.png', PNG),
                                attachment('same.png', PNG))
    await ask(store, alice.id, conversation, 'Again', attachment('notes.md', NOTES.encode()))
    await ask(store, bob.id, None, 'Mine too', attachment('b.png', PNG), attachment('notes.txt', NOTES.encode()))
    assert await count(store.db, Attachment) == 5
    assert await count(store.db, Blob) == 3  # the image, its thumbnail, the notes


async def test_an_attachment_is_read_by_the_conversations_readers_only(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    bob = await store.upsert_user('test', 'bob')
    conversation, question = await ask(store, alice.id, None, 'Look', attachment('chart.png', PNG),
                                       attachment('notes.md', NOTES.encode()))
    shown = (await store.read_branch(alice.id, conversation)).attachments[question]
    image, notes = (file.id for file in shown)

    found = await store.read_attachment(alice.id, image)
    assert found is not None and found[1] == PNG and found[0].media_type == 'image/png'
    thumbnail = await store.read_attachment(alice.id, image, thumbnail=True)
    assert thumbnail is not None and thumbnail[1].startswith(b'RIFF') and thumbnail[1][8:12] == b'WEBP'
    assert (await store.read_attachment(alice.id, notes))[1] == NOTES.encode()
    assert await store.read_attachment(alice.id, notes, thumbnail=True) is None  # a text has none

    assert await store.read_attachment(bob.id, image) is None  # as if there were no such attachment
    assert await store.read_attachment(bob.id, 'not-an-id') is None
    assert await store.share(alice.id, conversation, bob.id, Access.VIEWER)
    assert (await store.read_attachment(bob.id, notes))[1] == NOTES.encode()
    assert await store.unshare(alice.id, conversation, bob.id)
    assert await store.read_attachment(bob.id, notes) is None


async def test_a_link_serves_the_attachments_of_the_messages_it_shows_only(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation, first = await ask(store, alice.id, None, 'Shared', attachment('notes.md', NOTES.encode()))
    link = await store.create_link(alice.id, conversation, live=False)
    live = await store.create_link(alice.id, conversation, live=True)
    _, later = await ask(store, alice.id, conversation, 'After the link', attachment('chart.png', PNG))
    files = await files_of(store, alice.id, conversation)
    (shared,), (after,) = files[first], files[later]
    shown = (await store.read_branch(alice.id, conversation)).attachments
    shared_id, after_id = shown[first][0].id, shown[later][0].id
    assert (shared, after) == ('notes.md', 'chart.png')

    assert (await store.read_link_attachment(link.token, shared_id))[1] == NOTES.encode()
    assert await store.read_link_attachment(link.token, after_id) is None  # after the message it shows
    assert (await store.read_link_attachment(live.token, after_id))[1] == PNG
    assert await store.read_link_attachment('no-such-link', shared_id) is None
    assert await store.revoke_link(alice.id, link.token)
    assert await store.read_link_attachment(link.token, shared_id) is None


async def test_an_edit_and_a_fork_keep_the_attachments(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation, question = await ask(store, alice.id, None, 'Summarize', attachment('notes.md', NOTES.encode()),
                                       attachment('chart.png', PNG))
    edited = await store.add_exchange(alice.id, conversation, 'Summarize briefly', 'm', 'here', instead_of=question)
    assert edited is not None
    edit = edited[0]
    await release_claims(store.db, conversation)
    assert (await files_of(store, alice.id, conversation))[edit.id] == ['notes.md', 'chart.png']
    prompt = await store.read_prompt(alice.id, conversation, edited[1].id)
    assert [(f.name, f.text, f.data) for f in prompt.files[edit.id]] == [
        ('notes.md', attachment('notes.md', NOTES.encode()).text, b''), ('chart.png', '', PNG)]
    fork = await store.fork(alice.id, conversation, edited[1].id)
    assert fork is not None
    forked = await store.read_branch(alice.id, fork.id)
    (files,) = forked.attachments.values()
    assert [f.name for f in files] == ['notes.md', 'chart.png']
    assert (await store.read_attachment(alice.id, files[1].id))[1] == PNG
    assert await count(store.db, Blob) == 3  # shared by the question, its edit and the fork's copy


async def test_attachments_go_with_their_conversation(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    kept, _ = await ask(store, alice.id, None, 'Keep', attachment('notes.md', NOTES.encode()))
    gone, question = await ask(store, alice.id, None, 'Delete', attachment('same notes.md', NOTES.encode()),
                               attachment('chart.png', PNG))
    filed, _ = await ask(store, alice.id, None, 'Filed', attachment('only here.txt', b'Filed away\n'))
    attachment_id = (await store.read_branch(alice.id, gone)).attachments[question][1].id

    assert await store.delete_conversation(alice.id, gone)
    assert await store.read_attachment(alice.id, attachment_id) is None
    assert await count(store.db, Attachment) == 2
    assert await count(store.db, Blob) == 2  # the notes (the kept conversation holds them) and the filed text
    folder = await store.create_folder(alice.id, 'Old')
    assert await store.move_to_folder(alice.id, filed, folder.id)
    assert await store.delete_folder(alice.id, folder.id, keep_conversations=False) == [filed]
    assert (await count(store.db, Attachment), await count(store.db, Blob)) == (1, 1)
    assert await files_of(store, alice.id, kept)


async def test_the_prompt_counts_and_reads_the_files(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    notes, image = attachment('notes.md', NOTES.encode()), attachment('chart.png', PNG)
    stored = await store.add_exchange(alice.id, None, 'Look', 'm', 'here', attachments=[notes, image])
    question, reply = stored
    assert question.attached_chars == notes.prompt_chars + image.prompt_chars
    branch = await store.read_branch(alice.id, question.conversation_id)
    assert branch.lengths[0] == len('Look') + question.attached_chars  # the context gauge counts them
    source = await store.read_prompt(alice.id, question.conversation_id, reply.id)
    text, picture = source.files[question.id]
    assert (text.kind, text.text, picture.kind, picture.data, picture.media_type) == (
        'text', NOTES, 'image', PNG, 'image/png')
    async with store.db.session() as session:  # a new conversation with only files takes its first one's name
        assert (await session.get(Conversation, question.conversation_id)).title == 'Look'
    only_files, _ = await ask(store, alice.id, None, '', attachment('report.pdf', HELLO_PDF))
    async with store.db.session() as session:
        assert (await session.get(Conversation, only_files)).title == 'report.pdf'


# --- through the engine to the model ----------------------------------------------------------------------

@pytest.fixture
async def models(tmp_path: Path, llmock: LLMock) -> AsyncIterator[Harness]:
    """A model that takes images (the default) and one that does not, with a small context, on llmock."""
    models_file = image_models_file(tmp_path / 'models.toml', llmock.base_url)
    settings = Settings(models_file=str(models_file), llm_max_retries=0, llm_timeout=5.0, system_prompt='Be brief.',
                        max_attachments=3, max_file_mb=0.1, max_attachments_mb=0.15)
    harness = await make_harness(tmp_path, settings)
    yield harness
    await harness.engine.shutdown()
    await harness.store.db.close()


def user_content(request: dict) -> list[dict] | str:
    return request['body']['messages'][-1]['content']


async def test_a_text_file_and_a_pdf_reach_the_model_as_named_text(models: Harness, llmock: LLMock) -> None:
    llmock.reply('Read.')
    sent = await models.engine.send(models.user_id, None, 'What do these say?',
                                    attachments=[attachment('notes.md', NOTES.encode()),
                                                 attachment('report.pdf', HELLO_PDF)])
    await models.wait(sent.conversation_id)
    content = user_content(llmock.requests()[-1])
    assert isinstance(content, str)
    assert content.startswith('What do these say?\n\n[Attached file: notes.md]\n# Notes\nThe launch is on Tuesday.')
    assert '[End of notes.md]' in content and '[Attached file: report.pdf]\nHello PDF' in content


async def test_an_image_reaches_a_model_that_takes_images_as_an_image_part(models: Harness, llmock: LLMock) -> None:
    llmock.reply('A gradient.')
    sent = await models.engine.send(models.user_id, None, 'What is this?', attachments=[attachment('shot.png', PNG)])
    await models.wait(sent.conversation_id)
    text, image = user_content(llmock.requests()[-1])
    assert text == {'type': 'text', 'text': 'What is this?'}
    assert image['type'] == 'image_url'
    prefix, data = image['image_url']['url'].split(',', 1)
    assert prefix == 'data:image/png;base64' and base64.b64decode(data) == PNG

    # regenerated, the reply gets the question's image again; by a model without images, it is refused first
    llmock.reply('Still a gradient.')
    await models.engine.regenerate(models.user_id, sent.conversation_id, sent.reply.id)
    await models.wait(sent.conversation_id)
    assert user_content(llmock.requests()[-1])[1] == image
    asked = len(llmock.requests())
    with pytest.raises(Refused, match='Text model does not take images, and this question has one'):
        await models.engine.regenerate(models.user_id, sent.conversation_id, sent.reply.id, model='mock/text-only')
    with pytest.raises(Refused, match='Text model does not take images'):
        await models.engine.send(models.user_id, sent.conversation_id, 'Shorter?', model='mock/text-only',
                                 instead_of=sent.question.id)
    assert len(llmock.requests()) == asked


async def test_an_image_for_a_model_without_images_is_refused_before_anything_is_stored(
        models: Harness, llmock: LLMock) -> None:
    with pytest.raises(Refused, match=r'Text model does not take images\. Remove the image, or pick a model'):
        await models.engine.send(models.user_id, None, 'What is this?', model='mock/text-only',
                                 attachments=[attachment('shot.png', PNG)])
    assert llmock.requests() == []
    assert await models.store.list_conversations(models.user_id) == []


@pytest.mark.parametrize(('files', 'refusal'), [
    ([('a.txt', b'a\n'), ('b.txt', b'b\n'), ('c.txt', b'c\n'), ('d.txt', b'd\n')],
     'A message may attach 3 files at most; this one has 4'),
    ([('big.txt', b'x' * 150_000)], 'big.txt has 150 KB; a file may have 100 KB at most'),
    ([('a.txt', b'a' * 80_000), ('b.txt', b'b' * 80_000)], 'The files come to 160 KB; a message may attach 150 KB'),
    ([('long.txt', b'word ' * 4_000)], r'come to about 5,\d{3} tokens; a prompt to Text model may hold 3,000'),
])
async def test_limits_are_refused_with_their_numbers(models: Harness, llmock: LLMock, files: list[tuple[str, bytes]],
                                                     refusal: str) -> None:
    with pytest.raises(Refused, match=refusal):
        await models.engine.send(models.user_id, None, 'Read', model='mock/text-only',
                                 attachments=[attachment(name, data) for name, data in files])
    assert llmock.requests() == []


async def test_an_edit_keeps_the_files_of_the_question_it_replaces(models: Harness, llmock: LLMock) -> None:
    llmock.reply('Tuesday.')
    sent = await models.engine.send(models.user_id, None, 'When?', attachments=[attachment('notes.md',
                                                                                           NOTES.encode())])
    await models.wait(sent.conversation_id)
    llmock.reply('On Tuesday.')
    await models.engine.send(models.user_id, sent.conversation_id, 'When exactly?', instead_of=sent.question.id)
    await models.wait(sent.conversation_id)
    content = user_content(llmock.requests()[-1])
    assert content.startswith('When exactly?\n\n[Attached file: notes.md]\n# Notes')


async def test_a_file_only_question_is_sent(models: Harness, llmock: LLMock) -> None:
    llmock.reply('A report.')
    sent = await models.engine.send(models.user_id, None, '  ', attachments=[attachment('report.pdf', HELLO_PDF)])
    await models.wait(sent.conversation_id)
    assert user_content(llmock.requests()[-1]).startswith('[Attached file: report.pdf]\nHello PDF')
    with pytest.raises(Refused, match='The message is empty'):
        await models.engine.send(models.user_id, None, '  ')


async def test_an_export_names_the_files_a_question_attached(store: ConversationStore) -> None:
    alice = await store.upsert_user('test', 'alice')
    conversation, question = await ask(store, alice.id, None, 'Read these', attachment('my_notes.md', NOTES.encode()),
                                       attachment('chart.png', PNG))
    now = utcnow()
    tree = await store.read_tree(alice.id, conversation)
    asked = next(m for m in json.loads(export.json_bytes(tree, now))['messages'] if m['id'] == question)
    assert asked['attachments'] == [{'name': 'my_notes.md', 'kind': 'text', 'size': len(NOTES)},
                                    {'name': 'chart.png', 'kind': 'image', 'size': len(PNG)}]
    assert f'Read these\n\n*Attached: my\\_notes.md (text, {len(NOTES)} B), chart.png (image, ' \
        in export.markdown(tree, now)
    (everything,) = await store.own_trees(alice.id)
    assert [f.name for f in everything.attachments[question]] == ['my_notes.md', 'chart.png']
    assert native.draft(json.loads(export.json_bytes(tree, now))).messages  # an import reads it, files aside
