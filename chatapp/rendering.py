"""Markdown to safe HTML: the one renderer of replies.

markdown-it-py (CommonMark, linear in its input, nesting capped) with tables and strikethrough. Raw HTML
is escaped, links open in a new tab without a referrer, and an image loads only from this page (`data:`)
or from a host the configuration allows: any other URL is shown as text, never fetched, so a reply cannot
send what it read to another site or call an app route. The browser sanitizes again with DOMPurify.

Linear is not free: dense markup costs far more per character than prose. `render_cost` estimates a
render; text over RENDER_ON_LOOP_COST is rendered by the worker process (chatapp/render_worker.py), never
on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from chatapp.formulas import formulas_plugin

CODE_THEMES = {'.codehilite': 'default', '.body--dark .codehilite': 'github-dark'}  # light, dark
# characters that open inline constructs: where a parser spends its time on hostile input
_MARKUP = '[]!*_`<&\\~'
MARKUP_WEIGHT = 25    # what one such character costs, in characters of prose
CODE_WEIGHT = 5       # what a character of a text with a code fence adds: highlighting costs more than parsing
FORMULA_WEIGHT = 10   # and of a text that may hold a formula: converting it to MathML costs more still
_FORMULA = ('$', '\\(', '\\[')
RENDER_ON_LOOP_COST = 20_000  # above it, a render goes to the worker process
PLAIN_NOTE = 'Shown as plain text: formatting it took too long.'


def render_cost(text: str) -> int:
    """An upper estimate of what rendering `text` costs, in characters of prose (bench/README.md: how the
    weights were measured)."""
    markup = sum(text.count(char) for char in _MARKUP)
    code = CODE_WEIGHT * len(text) if '```' in text or '~~~' in text else 0
    formulas = FORMULA_WEIGHT * len(text) if any(opening in text for opening in _FORMULA) else 0
    return len(text) + MARKUP_WEIGHT * markup + code + formulas


def code_style_css() -> str:
    return ''.join(HtmlFormatter(nobackground=True, style=style).get_style_defs(selector)
                   for selector, style in CODE_THEMES.items())


def _unstyled_span() -> re.Pattern[str]:
    """Pygments' spans that change nothing on screen: classes styled like plain text in every theme, and
    whitespace (its colour has no glyph). Names and punctuation are half of a code block's markup."""
    formatters = [HtmlFormatter(style=style) for style in CODE_THEMES.values()]
    candidates = set().union(*(f.class2style for f in formatters)) - {''}
    plain = sorted(c for c in candidates if c == 'w' or all(
        f.class2style.get(c, ('',))[0] in ('', f.class2style.get('', ('',))[0]) for f in formatters))
    return re.compile(rf'<span class="(?:{"|".join(plain)})">([^<]*)</span>|<span></span>')


_UNSTYLED_SPAN = _unstyled_span()
_CODE_FORMATTER = HtmlFormatter(cssclass='codehilite', wrapcode=True)
_image_hosts: frozenset[str] = frozenset()


def allow_image_hosts(hosts: Iterable[str]) -> None:
    """Hosts whose images replies may show (CHATAPP_IMAGE_HOSTS); set once at start."""
    global _image_hosts
    _image_hosts = frozenset(host.lower() for host in hosts)


def image_hosts() -> frozenset[str]:
    return _image_hosts


def image_allowed(src: str) -> bool:
    if src.startswith('data:image/'):  # markdown-it lets only gif, png, jpeg and webp through
        return True
    parts = urlsplit(src)
    return parts.scheme == 'https' and '@' not in parts.netloc and parts.netloc.lower() in _image_hosts


class _ReplyRenderer(RendererHTML):
    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        """A code block under a header with its language and a Copy button (reply_view.js copies the code). The
        header's words are drawn by CSS: the reply's text stays what the model wrote."""
        token = tokens[idx]
        language = token.info.split(maxsplit=1)[0] if token.info.strip() else ''
        try:
            lexer = get_lexer_by_name(language, stripnl=False) if language else TextLexer(stripnl=False)
        except ClassNotFound:
            lexer = TextLexer(stripnl=False)  # as written: the text copied is the code itself
        html = _UNSTYLED_SPAN.sub(r'\1', highlight(token.content, lexer, _CODE_FORMATTER))
        return (f'<div class="code-block"><div class="code-head" data-lang="{escape(language)}">'
                f'<button type="button" class="code-copy" aria-label="Copy code"></button></div>{html}</div>\n')

    def link_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        tokens[idx].attrSet('target', '_blank')
        tokens[idx].attrSet('rel', 'noopener noreferrer')
        return self.renderToken(tokens, idx, options, env)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        token = tokens[idx]
        src = str(token.attrGet('src') or '')
        alt = escape(self.renderInlineAsText(token.children or [], options, env))
        if image_allowed(src):
            return f'<img src="{escape(src)}" alt="{alt}" loading="lazy" referrerpolicy="no-referrer">'
        shown = f'<span class="blocked-image-url">{escape(src)}</span>'
        if urlsplit(src).scheme in ('http', 'https'):  # opening it is the reader's choice, in a new tab
            return (f'<a class="blocked-image" href="{escape(src)}" target="_blank" rel="noopener noreferrer" '
                    f'title="Image not loaded">{alt or "image"} {shown}</a>')
        return f'<span class="blocked-image" title="Image not loaded">{alt or "image"} {shown}</span>'


def _parser() -> MarkdownIt:
    options: dict[str, Any] = {'html': False, 'breaks': True, 'xhtmlOut': False}
    return MarkdownIt('commonmark', options, renderer_cls=_ReplyRenderer).enable(['table', 'strikethrough']) \
        .use(formulas_plugin).use(tasklists_plugin)  # task list boxes are drawn disabled


_MARKDOWN = _parser()


def render_markdown(text: str) -> str:
    """The HTML of a Markdown text. Callers on the event loop keep to RENDER_ON_LOOP_COST."""
    return _MARKDOWN.render(text)


def plain_html(text: str, note: str = '') -> str:
    """Text shown as it is, for what is not rendered as Markdown."""
    note_html = f'<p class="render-note">{escape(note)}</p>' if note else ''
    return f'{note_html}<div class="plain-text">{escape(text)}</div>\n'
