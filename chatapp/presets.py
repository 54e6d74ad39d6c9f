"""Presets: a name, a model, a system prompt and a few conversation starters. The team's come from the models
file and cannot be changed in the app; each person keeps their own, which only they see."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import col, select

from chatapp.db import Database
from chatapp.llm.config import PresetConfig
from chatapp.models import Preset
from chatapp.text import clean

TEAM_PREFIX = 'team-'
MAX_NAME = 100
MAX_STARTERS = 8
MAX_STARTER_CHARS = 500
MAX_PROMPT_CHARS = 20_000


@dataclass(frozen=True)
class PresetInfo:
    id: str
    name: str
    model: str  # a model key; empty: the default
    system_prompt: str | None  # None: the app's
    starters: tuple[str, ...]
    team: bool = False


class PresetError(ValueError):
    """A preset that cannot be saved as it is; the message says why, for the person."""


class Presets:
    def __init__(self, database: Database, team: Sequence[PresetConfig]) -> None:
        self.db = database
        self.team = [PresetInfo(f'{TEAM_PREFIX}{index}', p.name, p.model, p.system_prompt, tuple(p.starters), True)
                     for index, p in enumerate(team)]

    async def for_user(self, user_id: str) -> list[PresetInfo]:
        """The team's presets, then the person's own, oldest first."""
        query = select(Preset).where(Preset.user_id == user_id).order_by(col(Preset.created_at), col(Preset.id))
        async with self.db.session() as session:
            own = (await session.exec(query)).all()
        return self.team + [_info(preset) for preset in own]

    async def save(self, user_id: str, preset_id: str | None, *, name: str, model: str, system_prompt: str | None,
                   starters: Sequence[str]) -> PresetInfo:
        """Create (no id) or change one of the person's presets; raises PresetError saying what is wrong."""
        name = ' '.join(clean(name).split())
        if not name:
            raise PresetError('Give the preset a name.')
        if len(name) > MAX_NAME:
            raise PresetError(f'The name has {len(name)} characters; the limit is {MAX_NAME}.')
        kept = [' '.join(clean(text).split()) for text in starters]
        kept = [text for text in kept if text]
        if len(kept) > MAX_STARTERS:
            raise PresetError(f'A preset has at most {MAX_STARTERS} starters.')
        if any(len(text) > MAX_STARTER_CHARS for text in kept):
            raise PresetError(f'A starter has at most {MAX_STARTER_CHARS} characters.')
        prompt = None if system_prompt is None else clean(system_prompt)
        if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
            raise PresetError(f'The system prompt has {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}.')
        async with self.db.writing() as session:
            preset = await session.get(Preset, preset_id) if preset_id else Preset(user_id=user_id, name=name)
            if preset is None or preset.user_id != user_id:
                raise PresetError('This preset does not exist (any more).')
            preset.name, preset.model, preset.system_prompt = name, model, prompt
            preset.starters = json.dumps(kept)
            session.add(preset)
            await session.commit()
            return _info(preset)

    async def delete(self, user_id: str, preset_id: str) -> bool:
        async with self.db.writing() as session:
            preset = await session.get(Preset, preset_id)
            if preset is None or preset.user_id != user_id:
                return False
            await session.delete(preset)
            await session.commit()
        return True


def _info(preset: Preset) -> PresetInfo:
    try:
        starters = tuple(text for text in json.loads(preset.starters) if isinstance(text, str))
    except (ValueError, TypeError):
        starters = ()
    return PresetInfo(preset.id, preset.name, preset.model, preset.system_prompt, starters)
