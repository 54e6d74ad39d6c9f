"""The reply element's flow control: the page is asked, a few times a second, to report when it has drawn an
update, and new text waits until it has."""

from __future__ import annotations

import pytest
from nicegui import context, events
from nicegui.testing import User

from chatapp.components import reply_view
from chatapp.components.markdown_stream import TailKind
from chatapp.components.reply_view import ReplyView


@pytest.fixture
async def view(user: User, monkeypatch: pytest.MonkeyPatch) -> tuple[ReplyView, list[list]]:
    """A streaming reply on an open page, and the updates the page was sent, as [step, tail, blocks, kind, ask]."""
    await user.open('/')
    sent: list[list] = []
    named: list[bool] = []  # which updates named their step
    with user, context.client.layout:
        element = ReplyView(streaming=True)
    monkeypatch.setattr(element, '_is_safe_to_interact', lambda: True)
    enqueue = element.client.outbox.enqueue_message

    def capture(message_type: str, data: dict, target_id: str) -> None:
        if message_type == reply_view.UPDATE_MESSAGE:
            assert data['i'] == element.id and target_id == element.client.id
            step = data.get('s', sent[-1][0] + 1 if sent else None)  # as the page counts
            assert step == element._step
            named.append('s' in data)
            sent.append([step, data['t'], data.get('b', ''), data.get('k', 0), data.get('a', 0)])
        else:
            enqueue(message_type, data, target_id)
    monkeypatch.setattr(element.client.outbox, 'enqueue_message', capture)
    element.named = named
    return element, sent


def shown(element: ReplyView, step: int) -> None:
    """What the page reports after drawing the update with this step."""
    element._on_shown(events.GenericEventArguments(sender=element, client=element.client, args=step))


def tails(sent: list[list]) -> list[str]:
    return [update[1] for update in sent]


async def test_text_waits_while_the_page_draws_and_goes_out_as_one_update(view) -> None:
    element, sent = view
    element.append('one')
    element.append(' two')
    element.append(' three')
    assert tails(sent) == ['one']  # the rest waits for the page
    shown(element, sent[-1][0])
    assert tails(sent) == ['one', ' two three']
    shown(element, sent[-1][0])
    element.append(' four')
    assert tails(sent) == ['one', ' two three', ' four']
    assert element.text == 'one two three four'


def asks(sent: list[list]) -> list[bool]:
    """Which updates asked the page to report when it has drawn them."""
    return [update[4] == 1 for update in sent]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(reply_view.time, 'monotonic', lambda: now[0])
    return now


async def test_the_page_is_asked_to_report_at_most_every_ask_seconds(view, clock) -> None:
    """Each report is a message the server handles: a page that keeps up is asked about a few updates a
    second, and the text goes out in between without waiting."""
    element, sent = view
    element.append('a')
    shown(element, sent[-1][0])
    for word in 'bcd':
        clock[0] += 0.03
        element.append(word)
    clock[0] += 0.03
    element.append('e')  # 0.12 s after the last ask
    element.append('f')  # waits for the report on 'e'
    assert tails(sent) == ['a', 'b', 'c', 'd', 'e']
    assert asks(sent) == [True, False, False, False, True]
    shown(element, sent[-1][0])
    assert tails(sent)[-1] == 'f'


async def test_a_report_for_an_older_update_does_not_release_the_next(view, clock) -> None:
    element, sent = view
    element.append('a')
    shown(element, sent[-1][0])
    clock[0] += reply_view.ASK_SECONDS
    element.append('b')
    element.append('c')
    shown(element, sent[0][0])  # late report of the first update: the second is still being drawn
    assert tails(sent) == ['a', 'b']


async def test_finish_sends_the_whole_reply_with_the_element(view) -> None:
    """The end goes out in the element update that also carries the row's finished state (NiceGUI sends
    element updates before other messages): never an append that arrives after it."""
    element, sent = view
    element.append('First paragraph.\n\n')
    element.append('Second')
    element.append(' paragraph.')  # waits: the page has not drawn 'First paragraph.' yet
    element.finish()
    assert tails(sent) == ['First paragraph.\n\n']
    assert element in element.client.outbox.updates.values()
    props = element._to_dict()['props']
    assert 'First paragraph.' in props['html'] and 'Second paragraph.' in props['html']
    assert props['tail'] == '' and props['step'] > sent[-1][0]  # appends still on their way are skipped
    assert props['since'] == 0  # never restarted: a page showing any earlier step only adds the end
    assert not element.streaming


async def test_after_a_restart_a_snapshot_replaces_what_the_page_shows(view) -> None:
    element, sent = view
    element.append('old text')
    element.restart()  # Retry: the page must not keep the old text and append the new to it
    element.append('new')
    props = element._to_dict()['props']
    assert props['since'] > sent[0][0]


async def test_an_update_never_confirmed_is_taken_as_lost(view, clock) -> None:
    element, sent = view
    now = clock
    element.append('a')
    element.append('b')
    assert tails(sent) == ['a']
    now[0] += reply_view.LOST_UPDATE_SECONDS + 0.1  # e.g. the report was lost with a dropped connection
    element.append('c')
    assert tails(sent) == ['a', 'bc']


async def test_a_snapshot_includes_the_waiting_text(view) -> None:
    element, sent = view
    element.append('a')
    element.append('b')
    props = element._to_dict()['props']
    assert props['tail'] == 'ab' and props['step'] > sent[-1][0]
    element.append('c')  # after a snapshot the page is up to date: no need to wait
    assert tails(sent) == ['a', 'c']


async def test_the_tail_goes_out_in_the_shape_the_page_shows_it(view, clock) -> None:
    """An update that changes how the tail is shown replaces it (it names the tail's kind); a page that opens
    the reply meanwhile gets the tail in the same shape."""
    element, sent = view
    element.append('Look at **this**')
    assert sent[-1][1:4] == ['Look at <strong>this</strong>', '', TailKind.HTML]
    shown(element, sent[-1][0])
    element.append(' now:\n```py\nx = 1\n')
    assert sent[-1][1:4] == ['x = 1\n', '<p>Look at <strong>this</strong> now:</p>\n', TailKind.CODE]
    shown(element, sent[-1][0])
    element.append('y = 2')
    assert sent[-1][1:] == ['y = 2', '', 0, 0]  # appended to the code (and no report asked for)
    props = element._to_dict()['props']
    assert (props['tail'], props['tailKind']) == ('x = 1\ny = 2', TailKind.CODE)


async def test_an_update_names_its_step_only_when_it_does_not_follow_the_one_before(view) -> None:
    """Each token's message is a few bytes: the page counts on from the update before, and an update after
    a snapshot (which can hold steps of its own) names its step."""
    element, sent = view
    element.append('a')
    shown(element, sent[-1][0])
    element.append('b')
    element.append('c')
    element._to_dict()  # sent whole, e.g. to a page that reconnected
    element.append('d')
    element.append('e')
    assert element.named == [True, False, False, True, False]
    assert [update[0] for update in sent] == [1, 2, 3, 4, 5]
