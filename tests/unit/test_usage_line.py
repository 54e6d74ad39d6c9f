"""The line under a reply (model · tokens · speed · first token · cost) and how models are described in the
picker: in words a person reads at a glance, estimated counts marked as such."""

from __future__ import annotations

from chatapp.events import Usage
from chatapp.llm.catalog import ModelInfo
from chatapp.pages.message_rows import usage_text
from chatapp.pages.model_picker import describe, short_count


def test_the_usage_line_names_model_tokens_speed_first_token_and_cost() -> None:
    line = usage_text('GPT-4o', Usage(1204, 316, False, 420, 41.6, 0.0061))
    assert line == 'GPT-4o · 1,204 → 316 tokens · 42 tok/s · first token 420 ms · $0.0061'
    assert usage_text('GPT-4o', Usage(10, 5, False, 2500, None, 12.5)) == \
        'GPT-4o · 10 → 5 tokens · first token 2.5 s · $12.50'


def test_estimated_tokens_are_marked_and_tiny_costs_are_not_rounded_to_nothing() -> None:
    assert usage_text('Local', Usage(30, 12, True, None, None, None)) == 'Local · ~30 → ~12 tokens'
    assert usage_text('Cheap', Usage(3, 1, False, None, None, 0.00002)).endswith('<$0.0001')


def test_a_reply_without_usage_shows_its_model_only() -> None:
    assert usage_text('GPT-4o', None) == 'GPT-4o'
    assert usage_text('', None) == ''


def test_the_picker_describes_window_images_and_prices_or_why_a_model_cannot_answer() -> None:
    model = ModelInfo('a/m', 'm', 'a', 'M', 128_000, True, 2.5, 10.0)
    assert describe(model) == '128k context · images · $2.5 / $10 per 1M tokens'
    down = ModelInfo('b/m', 'm', 'b', 'M', available=False, reason='b: cannot connect to it')
    assert describe(down) == 'b: cannot connect to it'
    assert [short_count(n) for n in (950, 8192, 128_000, 1_048_576)] == ['950', '8.19k', '128k', '1.05M']
