"""A reply's code block in a real browser: its header names the language, and Copy puts exactly its code on the
clipboard (not the reply around it, not the header)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.chat import open_chat, replies, reply_text, send_new, wait_finished
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


DIAGRAM = 'graph TD\n  A[Start] --> B{Ready?}\n  B -->|yes| C[Ship]\n  B -->|no| A\n'
HOSTILE_DIAGRAM = ('graph TD\n  A["<img src=x onerror=window.__pwned=1>"] --> B["<script>window.__pwned=2</script>"]\n'
                   '  click A "javascript:window.__pwned=3"\n  B --> C[<a href="javascript:window.__pwned=4">go</a>]\n')


def test_a_mermaid_block_is_drawn_with_its_source_a_click_away(page: Page, llm: LLMock) -> None:
    open_chat(page)
    llm.reply(f'The flow:\n\n```mermaid\n{DIAGRAM}```\n\nAnd a broken one:\n\n```mermaid\nnot a diagram {{{{\n```\n')
    send_new(page, 'Draw it')
    reply = replies(page).last
    wait_finished(reply)
    drawn, broken = reply.locator('.code-block').first, reply.locator('.code-block').last
    expect(drawn.locator('.diagram svg')).to_be_visible()
    expect(drawn.locator('.diagram svg')).to_contain_text('Ship')
    expect(drawn.locator('pre')).to_be_hidden()
    drawn.get_by_role('button', name="Show the diagram's source").click()
    expect(drawn.locator('pre')).to_have_text(DIAGRAM)
    expect(drawn.locator('.diagram')).to_be_hidden()
    drawn.get_by_role('button', name='Show the diagram').click()
    expect(drawn.locator('.diagram svg')).to_be_visible()
    expect(broken).to_have_class(re.compile(r'\bnot-drawn\b'))  # its source, as written
    expect(broken.locator('pre')).to_have_text('not a diagram {{\n')
    assert 'Copy' not in reply_text(reply) and 'Source' not in reply_text(reply)  # the chrome is not the reply's text

    light = drawn.locator('.diagram svg style').text_content()
    page.get_by_label('Toggle dark mode').click()  # drawn again in the dark theme's colours, once
    expect(drawn.locator('.diagram svg style')).not_to_have_text(light)
    expect(drawn.locator('.diagram')).to_have_count(1)
    expect(drawn.locator('.diagram svg')).to_contain_text('Ship')


def test_a_hostile_diagram_runs_nothing(page: Page, llm: LLMock) -> None:
    open_chat(page)
    llm.reply(f'```mermaid\n{HOSTILE_DIAGRAM}```\n')
    send_new(page, 'Draw this')
    reply = replies(page).last
    wait_finished(reply)
    block = reply.locator('.code-block')
    expect(block).to_have_class(re.compile(r'\b(drawn|not-drawn)\b'))
    page.wait_for_timeout(500)
    assert page.evaluate('window.__pwned') is None
    assert reply.locator('.diagram img, .diagram script, .diagram foreignObject').count() == 0
    assert reply.locator('[onerror], [onclick], [onload], [href^="javascript:"], [*|href^="javascript:"]').count() == 0


def test_formulas_are_drawn_and_a_hostile_one_runs_nothing(page: Page, llm: LLMock) -> None:
    open_chat(page)
    text = ('Inline $E=mc^2$ and \\(a^2+b^2=c^2\\); it costs $5 and $10.\n\n$$\n\\frac{1}{\\sqrt{2}}\n$$\n\n'
            '\\[\n\\sum_{i=1}^{n} i\n\\]\n\nHostile: $\\text{<img src=x onerror="window.__pwned=1">}$ and '
            '$\\href{javascript:window.__pwned=2}{x}$\n\n- [x] done\n- [ ] to do\n')
    llm.reply(text)
    send_new(page, 'Some maths')
    reply = replies(page).last
    wait_finished(reply)
    formulas = reply.locator('math')
    expect(formulas).to_have_count(4)
    for index in range(4):  # drawn: MathML laid out with a size
        assert formulas.nth(index).evaluate('(m) => m.getBoundingClientRect().width') > 10
    expect(reply).to_contain_text('it costs $5 and $10.')
    expect(reply.locator('.formula-source')).to_have_count(2)  # the hostile ones, as their source
    page.wait_for_timeout(300)
    assert page.evaluate('window.__pwned') is None and reply.locator('img, [href^="javascript:"]').count() == 0
    expect(reply.locator('input[type=checkbox][disabled]')).to_have_count(2)
