"""A reply's code block in a real browser: its header names the language, and Copy puts exactly its code on the
clipboard (not the reply around it, not the header)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.chat import open_chat, replies, send_new, wait_finished
from tests.support.servers import LLMock

pytestmark = pytest.mark.browser
CODE = 'def greet(name: str) -> str:\n    return f"<b>{name}</b> & co"\n\n\nprint(greet("ada"))'


def test_copy_puts_exactly_the_code_on_the_clipboard(page: Page, context: BrowserContext, llm: LLMock) -> None:
    context.grant_permissions(['clipboard-read', 'clipboard-write'])
    open_chat(page)
    llm.reply(f'Here it is:\n\n```python\n{CODE}\n```\n\nAnd in the shell:\n\n```\nls -la\n```\n')
    send_new(page, 'Show me code')
    reply = replies(page).last
    wait_finished(reply)
    blocks = reply.locator('.code-block')
    expect(blocks).to_have_count(2)
    expect(blocks.first.locator('.code-head')).to_have_attribute('data-lang', 'python')  # shown by CSS
    blocks.first.get_by_role('button', name='Copy code').click()
    expect(blocks.first.locator('.code-copy')).to_have_class(re.compile(r'\bcopied\b'))  # "Copied", for a moment
    assert page.evaluate('navigator.clipboard.readText()') == CODE
    expect(blocks.first.locator('.code-copy')).not_to_have_class(re.compile(r'\bcopied\b'), timeout=5_000)
    blocks.last.get_by_role('button', name='Copy code').click()
    assert page.evaluate('navigator.clipboard.readText()') == 'ls -la'
