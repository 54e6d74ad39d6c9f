"""Users are stored by (provider, subject), their profile refreshed at each login; local-mode data stays
readable in local mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

from chatapp.services import Services
from chatapp.settings import load_settings, prepare_data_dir
from chatapp.store import ConversationStore
from tests.support.factories import get_user, make_conversation


async def test_same_provider_and_subject_is_the_same_user_with_a_fresh_profile(store: ConversationStore) -> None:
    issuer = 'https://id.example.com'
    first = await store.upsert_user(issuer, 'sub-42', email='pat@example.com', name='Pat', avatar_url='https://a/1')
    await asyncio.sleep(0.01)
    again = await store.upsert_user(issuer, 'sub-42', email='pat.lee@example.com', name='Pat Lee', avatar_url='')
    assert again.id == first.id
    assert (again.email, again.name, again.avatar_url) == ('pat.lee@example.com', 'Pat Lee', '')
    assert again.last_login_at > first.last_login_at
    stored = await get_user(store.db, first.id)
    assert stored is not None and (stored.email, stored.name) == ('pat.lee@example.com', 'Pat Lee')


async def test_the_email_does_not_identify_a_person(store: ConversationStore) -> None:
    """The same subject at another provider, or the same email under another subject, is someone else."""
    pat = await store.upsert_user('https://id.example.com', 'sub-42', email='pat@example.com')
    elsewhere = await store.upsert_user('github', 'sub-42', email='pat@example.com')
    recycled = await store.upsert_user('https://id.example.com', 'sub-43', email='pat@example.com')
    assert len({pat.id, elsewhere.id, recycled.id}) == 3
    secret = await make_conversation(store.db, pat.id, 'only for Pat')
    assert await store.list_messages(recycled.id, secret.id) is None  # no such conversation for them
    assert await store.list_conversations(elsewhere.id) == []


async def test_local_mode_data_stays_readable_after_a_restart(tmp_path: Path) -> None:
    settings = prepare_data_dir(load_settings({'CHATAPP_DATA_DIR': str(tmp_path / 'data')}))
    first = Services.create(settings)
    await first.start()
    assert first.local_user is not None
    conversation = await make_conversation(first.store.db, first.local_user.id, 'kept in local mode')
    await first.stop()

    second = Services.create(settings)
    await second.start()
    try:
        assert second.local_user is not None and second.local_user.id == first.local_user.id
        assert [c.id for c in await second.store.list_conversations(second.local_user.id)] == [conversation.id]
    finally:
        await second.stop()
