"""The app's static files (chatapp/static/): stylesheets, the pages' script helpers, HTML snippets."""

from __future__ import annotations

from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / 'static'


@cache
def text(name: str) -> str:
    return (STATIC / name).read_text()
