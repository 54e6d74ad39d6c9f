"""A conversation's title: the first line of its first message, shortened at a word."""

from __future__ import annotations

from chatapp.store import title_from


def test_title_from_first_line() -> None:
    assert title_from('  \n# Plan the offsite\nwith details') == 'Plan the offsite'
    long = 'word ' * 40
    assert title_from(long).endswith('…') and len(title_from(long)) <= 61
    assert title_from('   ') == 'New chat'
