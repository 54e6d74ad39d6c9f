"""The streaming engine (replies.py) and what pages see of it (views.py)."""

from chatapp.engine.replies import Refused, ReplyEngine, Sent
from chatapp.engine.views import AccessChanged, Change, ConversationView, Ended, Grew, Shown, ShownMessage, Waiting

__all__ = ['AccessChanged', 'Change', 'ConversationView', 'Ended', 'Grew', 'Refused', 'ReplyEngine', 'Sent', 'Shown',
           'ShownMessage', 'Waiting']
