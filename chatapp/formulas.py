"""Formulas in replies: `$…$`, `$$…$$`, `\\(…\\)` and `\\[…\\]` drawn as MathML on the server.

MathML needs no script and no fonts shipped: every current browser draws it, and it goes through the same
sanitizer as the rest of a reply. `$` follows Pandoc's rule (no space inside the dollars, no digit right after
the closing one), so "costs $5 and $10" stays text. A formula that does not parse shows its source.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from html.parser import HTMLParser
from typing import Any

from latex2mathml.converter import convert
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin

MAX_FORMULA_CHARS = 4000  # a longer one shows its source: converting it is not worth what it costs
MAX_BRACES = 200          # nor one nested deeper (the converter recurses)
MATHML_ELEMENTS = frozenset({
    'math', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext', 'mspace', 'msub', 'msup', 'msubsup', 'mfrac', 'msqrt', 'mroot',
    'mover', 'munder', 'munderover', 'mtable', 'mtr', 'mtd', 'mstyle', 'mpadded', 'mphantom', 'menclose', 'merror',
    'mmultiscripts', 'mprescripts', 'none', 'semantics', 'annotation'})
MATHML_ATTRIBUTES = frozenset({
    'xmlns', 'display', 'displaystyle', 'scriptlevel', 'mathvariant', 'mathsize', 'stretchy', 'fence', 'separator',
    'form', 'lspace', 'rspace', 'minsize', 'maxsize', 'symmetric', 'largeop', 'movablelimits', 'accent',
    'accentunder', 'linethickness', 'width', 'height', 'depth', 'voffset', 'notation', 'columnalign', 'rowalign',
    'columnspacing', 'rowspacing', 'columnlines', 'rowlines', 'frame', 'framespacing', 'equalrows', 'equalcolumns',
    'align', 'rowspan', 'columnspan', 'encoding'})
# the bracket delimiters: (opening, closing, shown as a display formula)
_BRACKETS = (('\\(', '\\)', False), ('\\[', '\\]', True))


def formula_html(tex: str, display: bool) -> str:
    """A formula's MathML, or its source in a code span where it does not parse."""
    mathml = _mathml(tex.strip(), display)
    if mathml is None:
        return f'<code class="formula-source" title="Not a formula this app can draw">{escape(tex)}</code>'
    return mathml


def _mathml(tex: str, display: bool) -> str | None:
    if not tex or len(tex) > MAX_FORMULA_CHARS or not _balanced(tex):
        return None
    try:
        mathml = convert(tex, display='block' if display else 'inline')
    except Exception:  # its errors are many kinds, and a recursion too deep is one of them
        return None
    if '<mi>\\' in mathml:  # a command it does not know, shown as its name
        return None
    return mathml if _only_mathml(mathml) else None


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.safe = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in MATHML_ELEMENTS or any(name not in MATHML_ATTRIBUTES for name, _ in attrs):
            self.safe = False


def _only_mathml(mathml: str) -> bool:
    """Whether the converter's output holds nothing but presentation MathML: it passes \\text{…} through as it
    is, markup included, and turns \\href{…} into a link."""
    elements = _Elements()
    elements.feed(mathml)
    elements.close()
    return elements.safe


def _balanced(tex: str) -> bool:
    depth = 0
    escaped = False
    for char in tex:
        if escaped:
            escaped = False
        elif char == '\\':
            escaped = True
        elif char == '{':
            depth += 1
            if depth > MAX_BRACES:
                return False
        elif char == '}':
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def formulas_plugin(md: MarkdownIt) -> None:
    """Formulas in all four notations, rendered by `formula_html`."""
    dollarmath_plugin(md, allow_labels=False, allow_space=False, allow_digits=False, allow_blank_lines=False,
                      double_inline=True, renderer=_render)
    md.add_render_rule('math_inline_double', _render_display_inline)  # within a paragraph: no <div> in a <p>
    md.inline.ruler.before('escape', 'math_brackets', _inline_brackets)
    md.block.ruler.before('fence', 'math_brackets_block', _block_brackets)


def _render(content: str, options: dict[str, Any]) -> str:
    return formula_html(content, bool(options.get('display_mode')))


def _render_display_inline(_renderer: Any, tokens: Sequence[Token], idx: int, _options: Any, _env: Any) -> str:
    return f'<span class="math display">{formula_html(tokens[idx].content, True)}</span>'


def _inline_brackets(state: StateInline, silent: bool) -> bool:
    """`\\(…\\)` inline, `\\[…\\]` shown on its own line, within a paragraph."""
    for opening, closing, display in _BRACKETS:
        if state.src.startswith(opening, state.pos):
            end = state.src.find(closing, state.pos + 2)
            if end <= state.pos + 2:
                return False
            if not silent:
                token = state.push('math_inline_double' if display else 'math_inline', 'math', 0)
                token.content, token.markup = state.src[state.pos + 2:end], opening
            state.pos = end + 2
            return True
    return False


def _block_brackets(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """`\\[` at the start of a block, up to the line that ends with `\\]` (no blank line between)."""
    if state.is_code_block(start):
        return False
    begin = state.bMarks[start] + state.tShift[start]
    if not state.src.startswith('\\[', begin):
        return False
    lines = [state.src[begin + 2:state.eMarks[start]]]
    line = start
    while not lines[-1].rstrip().endswith('\\]'):
        line += 1
        if line >= end or state.isEmpty(line):
            return False
        lines.append(state.src[state.bMarks[line] + state.tShift[line]:state.eMarks[line]])
    if silent:
        return True
    state.line = line + 1
    token = state.push('math_block', 'math', 0)
    token.block, token.map, token.markup = True, [start, state.line], '\\['
    token.content = '\n'.join(lines).rstrip()[:-2]
    return True
