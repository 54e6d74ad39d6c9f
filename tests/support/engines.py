"""The reply engine as the app builds it, over a test's own store and bus: its models come from the settings,
as in the app (the offline demo model, the one endpoint of OPENAI_BASE_URL, or a models file)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
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


def image_models_file(path: Path, base_url: str) -> Path:
    """A models file with two models on the OpenAI-protocol server at `base_url`: `mock/vision` ("Vision model", the
    default) takes images; `mock/text-only` ("Text model", a 4,000-token window) does not."""
    path.write_text(f'''
default_model = "mock/vision"
[endpoints.mock]
base_url = "{base_url}/v1"
api_key = "test"
discover = false
[[models]]
name = "vision"
endpoint = "mock"
label = "Vision model"
images = true
[[models]]
name = "text-only"
endpoint = "mock"
label = "Text model"
context_window = 4000
''')
    return path
