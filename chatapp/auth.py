"""Who is acting. Until login exists (single-user local mode), everyone is the local user."""

from __future__ import annotations

from chatapp.services import services


def acting_user_id() -> str:
    user = services().local_user
    if user is None:
        raise RuntimeError('the local user is created at start-up')
    return user.id
