"""Formulas in replies: all four notations drawn as MathML, dollar amounts left as text, a formula that does not
parse shown as its source, nothing hostile getting through, and a streamed reply drawn as the whole text is."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser

import pytest

from chatapp.components.markdown_stream import MarkdownStream, TailKind
from chatapp.formulas import MATHML_ELEMENTS
from chatapp.rendering import render_markdown

MATH = re.compile(r'<math\b')


@pytest.mark.parametrize(('text', 'display'), [
    ('Energy is $E=mc^2$, famously.', False),
    ('Pythagoras: \\(a^2+b^2=c^2\\) holds.', False),
    ('$$\n\\int_0^1 x\\,dx = \\frac{1}{2}\n$$', True),
    ('\\[\n\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}\n\\]', True),
    ('In a line: $$\\sqrt{2}$$ and \\[\\pi\\] both shown apart.', True),
])
def test_each_notation_is_drawn_as_mathml(text: str, display: bool) -> None:
    html = render_markdown(text)
    assert MATH.search(html), html
    assert ('display="block"' in html) == display
    assert '<div class="math inline">' not in html  # nothing that would break a paragraph


@pytest.mark.parametrize('text', [
    'It costs $5 and $10 at most.',
    'From $3.50 to $4.20, or $ 7 $ in cash.',
    'Prices: $5, $10, $20.',
    'A shell variable: echo $HOME and $PATH',
])
def test_dollar_amounts_stay_text(text: str) -> None:
    html = render_markdown(text)
    assert not MATH.search(html) and '$' in html


@pytest.mark.parametrize('formula', ['\\frac{a', 'x^', '\\begin{matrix} a & b', '\\notacommand{x}', 'a}b{',
                                     '{' * 300 + 'x' + '}' * 300])
def test_a_formula_that_does_not_parse_shows_its_source(formula: str) -> None:
    html = render_markdown(f'Look: ${formula}$ here.')
    assert not MATH.search(html)
    assert 'class="formula-source"' in html and formula.replace('&', '&amp;')[:20] in html


@pytest.mark.parametrize('text', [
    '$<img src=x onerror=alert(1)>$',
    '\\(<script>alert(1)</script>\\)',
    '$$\n\\href{javascript:alert(1)}{x}\n$$',
    '$\\text{<a href="javascript:alert(1)">x</a>}$',
])
def test_nothing_hostile_gets_through_a_formula(text: str) -> None:
    tags = Tags()
    tags.feed(render_markdown(text))
    assert tags.found <= MATHML_ELEMENTS | {'p', 'span', 'div', 'code'}, tags.found
    assert not tags.attributes & {'href', 'src', 'onerror', 'onclick'}, tags.attributes


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()
        self.attributes: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.add(tag)
        self.attributes |= {name for name, _ in attrs}


def test_task_lists_are_disabled_checkboxes() -> None:
    html = render_markdown('- [x] done\n- [ ] to do\n- plain')
    assert html.count('type="checkbox"') == 2 and html.count('disabled="disabled"') == 2
    assert html.count('checked="checked"') == 1


MATH_REPLY = ('The mass-energy relation $E=mc^2$ links the two. With \\(v \\ll c\\) it reduces to\n\n'
              '$$\nE \\approx mc^2 + \\frac{1}{2}mv^2\n$$\n\nwhere the second term is the kinetic energy. '
              'It costs $5 to print this, or $10 bound.\n\n\\[\n\\gamma = \\frac{1}{\\sqrt{1 - v^2/c^2}}\n\\]\n\n'
              '- [x] derived\n- [ ] checked\n\nDone: $\\int_0^\\infty e^{-x}\\,dx = 1$.\n')


@pytest.mark.parametrize('step', [1, 3, 7])
def test_a_streamed_reply_draws_its_formulas_as_the_whole_text_does(step: int) -> None:
    stream, html, shown, kind = MarkdownStream(), '', '', TailKind.TEXT
    drawn: list[tuple[bool, bool]] = []  # (a block was finished, the tail as the page shows it holds a formula)
    for index in range(0, len(MATH_REPLY), step):
        update = stream.feed(MATH_REPLY[index:index + step])
        html += update.blocks_html
        if update.reset:  # as reply_view.js applies it: replaced, or appended to
            shown, kind = update.tail, update.reset
        else:
            shown += update.tail
        drawn.append((bool(update.blocks_html), kind == TailKind.HTML and bool(MATH.search(shown))))
    html += stream.finish().blocks_html
    assert html == render_markdown(MATH_REPLY)
    assert len(MATH.findall(html)) == 5
    assert any(formula for _, formula in drawn)  # drawn as the tail grows, not only once finished
    # a formula once drawn stays drawn while its block grows (no flicker back to its source)
    for (_, before), (finished, after) in itertools.pairwise(drawn):
        assert finished or not before or after
