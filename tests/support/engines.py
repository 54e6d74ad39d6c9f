"""The reply engine as the app builds it, over a test's own store and bus: its models come from the settings,
as in the app (the offline demo model, the one endpoint of OPENAI_BASE_URL, or a models file)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chatapp.engine import ReplyEngine
from chatapp.events import EventBus
from chatapp.llm.catalog import ModelCatalog
from chatapp.llm.config import load_models_config
from chatapp.settings import Settings
from chatapp.store import ConversationStore


def model_catalog(settings: Settings) -> ModelCatalog:
    return ModelCatalog(load_models_config(settings), settings)


def reply_engine(store: ConversationStore, bus: EventBus, settings: Settings, *, titles: bool = False,
                 **options: Any) -> ReplyEngine:
    """Without `titles`, no model titles the conversations: a title request would take a reply a test scripted."""
    if not titles:
        settings = replace(settings, title_model='off')
    return ReplyEngine(store, bus, settings, model_catalog(settings), **options)
