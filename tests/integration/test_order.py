"""Pin, archive and folders, on SQLite and PostgreSQL: each person keeps each conversation they may read their own
way (a member's pin is theirs), only in folders of their own; the sidebar's lists and their pages follow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chatapp import places
from chatapp import store as store_module
from chatapp.events import ConversationChanged, Event, user_topic
from chatapp.models import Access, User, utcnow
from chatapp.store import ConversationStore
from tests.support.factories import make_conversation


async def people(store: ConversationStore, *names: str) -> list[User]:
    return [await store.upsert_user('test', name, name=name.title()) for name in names]


async def conversations(store: ConversationStore, user_id: str, *titles: str) -> list[str]:
    """Conversations of the user's, the first the newest, a minute apart."""
    now = utcnow()
    return [(await make_conversation(store.db, user_id, title, at=now - timedelta(minutes=n))).id
            for n, title in enumerate(titles)]


async def listed(store: ConversationStore, user_id: str, **options: object) -> list[str]:
    return [c.title for c in await store.list_conversations(user_id, **options)]


async def test_each_person_keeps_a_shared_conversation_their_own_way(store: ConversationStore) -> None:
    alice, bob = await people(store, 'alice', 'bob')
    plans, = await conversations(store, alice.id, 'Plans')
    assert await store.share(alice.id, plans, bob.id, Access.PARTICIPANT)
    heard: dict[str, list[Event]] = {alice.id: [], bob.id: []}
    for person, events in heard.items():
        store.bus.subscribe(user_topic(person), events.append)

    assert await store.set_pinned(bob.id, plans, True)
    assert heard == {alice.id: [], bob.id: [ConversationChanged(bob.id, plans)]}  # only his sidebars follow
    bobs, alices = await store.shelves(bob.id), await store.shelves(alice.id)
    assert [c.title for c in bobs.pinned] == ['Plans'] and bobs.recent == []
    assert bobs.pinned[0].pinned_at is not None  # the reader's place rides along
    assert alices.pinned == [] and [(c.title, c.pinned_at) for c in alices.recent] == [('Plans', None)]

    assert await store.set_archived(alice.id, plans, True)
    assert await listed(store, alice.id) == [] and await listed(store, alice.id, archived=True) == ['Plans']
    assert [c.title for c in (await store.shelves(bob.id)).pinned] == ['Plans']  # still his pin
    assert await listed(store, bob.id, archived=True) == []

    folder = await store.create_folder(bob.id, 'Team')
    assert folder is not None and await store.move_to_folder(bob.id, plans, folder.id)
    [bobs_folder] = (await store.shelves(bob.id)).folders
    assert [(c.title, c.folder_id) for c in bobs_folder.conversations] == [('Plans', folder.id)]
    assert (await store.shelves(bob.id)).pinned == []  # moved: it went where it was moved
    assert await store.set_archived(alice.id, plans, False)
    assert await listed(store, alice.id) == ['Plans']  # her list never had his folder

    assert await store.unshare(alice.id, plans, bob.id)
    assert (await store.shelves(bob.id)).folders[0].conversations == []  # his place went with his membership


async def test_nobody_reaches_another_persons_folders_or_conversations(store: ConversationStore,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    alice, carol = await people(store, 'alice', 'carol')
    mine, = await conversations(store, alice.id, 'Mine')
    hers, = await conversations(store, carol.id, 'Hers')
    folder = await store.create_folder(alice.id, '  Work \n stuff  ')
    assert folder is not None and folder.name == 'Work stuff'
    heard: list[Event] = []
    store.bus.subscribe(user_topic(alice.id), heard.append)

    for call in (store.set_pinned(carol.id, mine, True), store.set_archived(carol.id, mine, True),
                 store.move_to_folder(carol.id, mine, None), store.move_to_folder(carol.id, hers, folder.id),
                 store.move_to_folder(alice.id, mine, 'no-such-folder'), store.set_pinned(alice.id, 'nothing', True)):
        assert await call is False
    assert await store.rename_folder(carol.id, folder.id, 'Taken') is None
    assert await store.delete_folder(carol.id, folder.id, keep_conversations=False) is None
    assert await store.folders(carol.id) == [] and [f.name for f in await store.folders(alice.id)] == ['Work stuff']
    assert heard == [] and await listed(store, alice.id) == ['Mine'] and await listed(store, carol.id) == ['Hers']

    assert await store.create_folder(alice.id, ' \n ') is None
    assert await store.rename_folder(alice.id, folder.id, '') is None
    renamed = await store.rename_folder(alice.id, folder.id, 'x' * 300)
    assert renamed is not None and renamed.name == 'x' * places.FOLDER_NAME_CHARS
    monkeypatch.setattr(store_module, 'MAX_FOLDERS', 2)
    assert await store.create_folder(alice.id, 'Second') is not None
    assert await store.create_folder(alice.id, 'Third') is None  # a page cannot make folders without end


async def test_the_sidebar_lists_pinned_then_folders_then_the_rest(store: ConversationStore) -> None:
    alice, = await people(store, 'alice')
    a, b, c, d, e = await conversations(store, alice.id, 'A', 'B', 'C', 'D', 'E')
    zoo, apps = await store.create_folder(alice.id, 'zoo'), await store.create_folder(alice.id, 'Apps')
    assert zoo is not None and apps is not None
    for cid in (d, b):  # the latest pin first
        assert await store.set_pinned(alice.id, cid, True)
    assert await store.move_to_folder(alice.id, c, zoo.id) and await store.move_to_folder(alice.id, e, zoo.id)
    assert await store.set_archived(alice.id, a, True)

    shelves = await store.shelves(alice.id)
    assert [x.title for x in shelves.pinned] == ['B', 'D']
    assert [(f.folder.name, [x.title for x in f.conversations], f.count) for f in shelves.folders] == [
        ('Apps', [], 0), ('zoo', ['C', 'E'], 2)]  # by name, in any case
    assert shelves.recent == []
    assert await store.move_to_folder(alice.id, b, apps.id)  # a pinned one moved is unpinned
    assert await store.set_pinned(alice.id, a, True)  # an archived one pinned is back
    assert await store.set_archived(alice.id, c, True)  # archived: out of its folder's rows, and its count
    shelves = await store.shelves(alice.id)
    assert [x.title for x in shelves.pinned] == ['A', 'D']
    assert [(f.folder.name, [x.title for x in f.conversations], f.count) for f in shelves.folders] == [
        ('Apps', ['B'], 1), ('zoo', ['E'], 1)]
    assert await store.set_archived(alice.id, c, False) and await store.set_pinned(alice.id, d, False)
    shelves = await store.shelves(alice.id)
    assert [x.title for x in shelves.folders[1].conversations] == ['C', 'E']  # restored into its folder
    assert [x.title for x in shelves.recent] == ['D']


async def test_a_folder_shows_its_newest_and_counts_all_own_and_shared(store: ConversationStore,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, 'FOLDER_ROWS', 2)
    alice, bob = await people(store, 'alice', 'bob')
    own = await conversations(store, alice.id, 'Own 1', 'Own 2', 'Own 3')
    shared, = await conversations(store, bob.id, 'Shared')  # the newest of all
    assert await store.share(bob.id, shared, alice.id, Access.VIEWER)
    folder = await store.create_folder(alice.id, 'All')
    assert folder is not None
    for cid in (*own, shared):
        assert await store.move_to_folder(alice.id, cid, folder.id)
    [rows] = (await store.shelves(alice.id)).folders
    assert ([c.title for c in rows.conversations], rows.count) == (['Shared', 'Own 1'], 4)  # the newest two of all
    other = await store.create_folder(alice.id, 'Other')
    assert other is not None
    assert await store.move_to_folder(alice.id, own[2], other.id)
    # a page reads the rows of the folders it has open only: a closed one sends its count
    closed, opened = (await store.shelves(alice.id, open_folders={other.id, 'not-a-folder'})).folders
    assert (closed.folder.id, closed.conversations, closed.count, closed.loaded) == (folder.id, [], 3, False)
    assert ([c.title for c in opened.conversations], opened.count, opened.loaded) == (['Own 3'], 1, True)


async def test_deleting_a_folder_keeps_its_conversations_or_deletes_those_the_person_owns(
        store: ConversationStore) -> None:
    alice, bob, carol = await people(store, 'alice', 'bob', 'carol')
    kept, gone, gone_archived, gone_shared = await conversations(store, alice.id, 'Kept', 'Gone', 'Gone too',
                                                                 'Gone shared')
    bobs, = await conversations(store, bob.id, 'Bobs')
    assert await store.share(bob.id, bobs, alice.id, Access.PARTICIPANT)
    assert await store.share(alice.id, gone_shared, carol.id, Access.VIEWER)
    first, second = await store.create_folder(alice.id, 'First'), await store.create_folder(alice.id, 'Second')
    assert first is not None and second is not None
    assert await store.move_to_folder(alice.id, kept, first.id)
    for cid in (gone, gone_archived, gone_shared, bobs):
        assert await store.move_to_folder(alice.id, cid, second.id)
    assert await store.set_archived(alice.id, gone_archived, True)

    assert await store.delete_folder(alice.id, first.id, keep_conversations=True) == []
    assert [f.name for f in await store.folders(alice.id)] == ['Second']
    assert await listed(store, alice.id) == ['Kept']  # back in the list
    heard: list[Event] = []
    store.bus.subscribe(user_topic(carol.id), heard.append)
    deleted = await store.delete_folder(alice.id, second.id, keep_conversations=False)
    assert sorted(deleted or []) == sorted([gone, gone_archived, gone_shared])
    for cid in deleted or []:
        assert await store.list_messages(alice.id, cid) is None
    assert heard == [ConversationChanged(carol.id, gone_shared, True)]  # it leaves her sidebar too
    assert await listed(store, alice.id) == ['Bobs', 'Kept']  # bob's only left the folder
    assert await store.list_messages(bob.id, bobs) == []
    assert await store.folders(alice.id) == []
    assert await store.delete_folder(alice.id, second.id, keep_conversations=True) is None


async def test_pages_of_the_list_skip_what_is_kept_elsewhere(store: ConversationStore) -> None:
    alice, bob = await people(store, 'alice', 'bob')
    titles = [f'C{n:02d}' for n in range(12)]
    ids = dict(zip(titles, await conversations(store, alice.id, *titles), strict=True))
    shared, = await conversations(store, bob.id, 'C05b')  # between C05 and C06
    assert await store.share(bob.id, shared, alice.id, Access.VIEWER)
    folder = await store.create_folder(alice.id, 'F')
    assert folder is not None
    await store.set_pinned(alice.id, ids['C01'], True)
    await store.move_to_folder(alice.id, ids['C04'], folder.id)
    await store.move_to_folder(alice.id, shared, folder.id)
    for title in ('C02', 'C07', 'C10'):
        await store.set_archived(alice.id, ids[title], True)

    for archived, expected in ((False, ['C00', 'C03', 'C05', 'C06', 'C08', 'C09', 'C11']),
                               (True, ['C02', 'C07', 'C10'])):
        pages, before = [], None
        while True:
            page = await store.list_conversations(alice.id, limit=2, before=before, archived=archived)
            pages += [c.title for c in page]
            if len(page) < 2:
                break
            before = (page[-1].updated_at, page[-1].id)
        assert pages == expected, archived
    assert await store.move_to_folder(alice.id, shared, None)
    assert 'C05b' in await listed(store, alice.id, limit=20)  # out of the folder: by its own date


async def test_search_finds_archived_conversations_and_marks_them(store: ConversationStore) -> None:
    alice, bob = await people(store, 'alice', 'bob')
    first, second = await conversations(store, alice.id, 'Invoice draft', 'Invoice final')
    assert await store.share(alice.id, second, bob.id, Access.VIEWER)
    assert await store.set_archived(alice.id, second, True)
    assert await store.set_archived(bob.id, second, False)
    hits = {hit.conversation.title: hit.conversation for hit in await store.search(alice.id, 'invoice')}
    assert set(hits) == {'Invoice draft', 'Invoice final'}
    assert hits['Invoice final'].archived_at is not None and hits['Invoice draft'].archived_at is None
    assert await store.set_archived(bob.id, second, True)
    assert await store.set_archived(alice.id, second, False)
    [bobs] = await store.search(bob.id, 'invoice')
    assert bobs.conversation.archived_at is not None  # as he keeps it
    [alices] = [hit for hit in await store.search(alice.id, 'final')]
    assert alices.conversation.archived_at is None
    assert first != second
