"""The model client's rules without a model server: a client that cannot be built, and the demo model's answer.

(integration/test_llm_client.py and test_generation.py: against a real OpenAI-protocol server.)
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from chatapp.llm.demo import demo_answer
from chatapp.llm.prompt import prompt_budget
from chatapp.settings import ConfigError, load_settings
from tests.support.engines import model_catalog


def test_a_client_that_cannot_be_built_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match='OPENAI_BASE_URL'):
        model_catalog(load_settings({'OPENAI_BASE_URL': 'http://[::1/v1', 'OPENAI_API_KEY': 'test'}))


def test_demo_answer_names_the_settings() -> None:
    answer = demo_answer([HumanMessage('hi')])
    assert 'OPENAI_API_KEY' in answer and 'OPENAI_BASE_URL' in answer


def test_the_demo_model_quotes_a_questions_text_and_counts_its_images() -> None:
    image = {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,' + 'A' * 10_000}}
    answer = demo_answer([HumanMessage([{'type': 'text', 'text': 'What is this?'}, image, image])])
    assert 'message 1 of this conversation with 2 images' in answer and '> What is this?' in answer
    assert 'AAAA' not in answer  # the bytes are not quoted


def test_a_prompt_leaves_a_quarter_of_the_models_window_for_the_reply() -> None:
    assert prompt_budget(16_000, 8_000) == 6_000
    assert prompt_budget(16_000, 128_000) == 16_000  # the app's limit is the lower
    assert prompt_budget(16_000, None) == 16_000  # a window nobody configured
    assert prompt_budget(0, 128_000) == 96_000
    assert prompt_budget(0, None) == 0  # no limit
