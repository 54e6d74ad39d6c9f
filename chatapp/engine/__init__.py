"""The streaming engine (replies.py) and what pages see of it (views.py)."""

from chatapp.engine.replies import Refused, ReplyEngine, Sent
from chatapp.engine.views import (
    AccessChanged,
    Change,
    ConversationView,
    Earlier,
    Ended,
    Grew,
    Shown,
    ShownMessage,
    Trimmed,
    Waiting,
)

__all__ = ['AccessChanged', 'Change', 'ConversationView', 'Earlier', 'Ended', 'Grew', 'Refused', 'ReplyEngine', 'Sent',
           'Shown', 'ShownMessage', 'Trimmed', 'Waiting']
