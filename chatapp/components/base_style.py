"""The stylesheet every page starts from: the few utility classes the pages use, as plain CSS.

The app runs without NiceGUI's Tailwind (`ui.run(tailwind=False)`). That Tailwind is compiled in the
browser: it watches every change to the page and, whenever a class appears that it has not seen yet,
rebuilds its stylesheet, after which the browser re-styles and re-lays out the whole page. Every send
brings new elements, so a page paid that several times a send, and with many pages streaming the token
lag grew with it. A static sheet costs nothing after the page has loaded.
"""

from __future__ import annotations

from nicegui import ui

from chatapp import assets


def add_base_style() -> None:
    ui.add_css(assets.text('utilities.css'))
