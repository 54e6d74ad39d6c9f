"""Text as it crosses into the app: what a model streams and what a browser sends.

Python strings may hold what no database or encoder accepts: lone surrogates (UTF-8 cannot encode them)
and NUL (PostgreSQL text cannot store it). Both become U+FFFD at the boundary, so that a save never fails
on what someone wrote.
"""

from __future__ import annotations

import re

_UNSTORABLE = re.compile('[\x00\ud800-\udfff]')
REPLACEMENT = '\ufffd'


def clean(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text
