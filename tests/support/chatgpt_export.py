"""ChatGPT's data export made by hand, in the shape its `conversations.json` has (a list of conversations, each a
`mapping` of nodes with parent and children links, a `current_node`, times in seconds since 1970): for the
import's tests and the transfer benchmark.

`kyoto()` has what a real one has: a root node with no message, a hidden system message, hidden custom
instructions, an edited question (two first questions, siblings), a regenerated answer (two answers, siblings), a
question with an image, a tool call with its output, citation marks, and Japanese text. Its shown branch (after
the import) is KYOTO_SHOWN.
"""

from __future__ import annotations

import json
import random
from typing import Any

T0 = 1_709_654_400.0  # 2024-03-05 16:00 UTC
KYOTO_ID = '67e1c0de-0000-4000-8000-00000000c0de'
KYOTO_TITLE = 'Kyoto in two days 京都'
KYOTO_SHOWN = ['What should I see in Kyoto in two days? 京都で二日間', 'Start at Kiyomizu-dera 清水寺 at dawn',
               'Is this the Golden Pavilion?', 'Yes: that is Kinkaku-ji 金閣寺']
KYOTO_OTHER_BRANCHES = ['What should I see in Kyoto?', 'Fushimi Inari first', 'Day one: Arashiyama bamboo grove']


def node(node_id: str, parent: str | None, children: list[str], message: dict | None) -> dict:
    return {'id': node_id, 'message': message, 'parent': parent, 'children': children}


def message(node_id: str, role: str, parts: list[Any], at: float, *, model: str | None = None,
            content_type: str = 'text', hidden: bool = False, recipient: str = 'all') -> dict:
    metadata: dict[str, Any] = {'is_visually_hidden_from_conversation': True} if hidden else {}
    if model:
        metadata['model_slug'] = model
    content: dict[str, Any] = {'content_type': content_type, 'parts': parts}
    if content_type in ('code', 'execution_output'):
        content = {'content_type': content_type, 'text': parts[0]}
    return {'id': node_id, 'author': {'role': role, 'name': None, 'metadata': {}}, 'create_time': at,
            'update_time': None, 'content': content, 'status': 'finished_successfully', 'end_turn': True,
            'weight': 1.0, 'metadata': metadata, 'recipient': recipient, 'channel': None}


def conversation(conversation_id: str, title: str, nodes: list[dict], current: str, at: float) -> dict:
    return {'title': title, 'create_time': at, 'update_time': at + 3600, 'mapping': {n['id']: n for n in nodes},
            'moderation_results': [], 'current_node': current, 'plugin_ids': None, 'conversation_id': conversation_id,
            'conversation_template_id': None, 'gizmo_id': None, 'is_archived': False, 'safe_urls': [],
            'default_model_slug': 'gpt-4o', 'id': conversation_id}


def kyoto() -> dict:
    image = {'content_type': 'image_asset_pointer', 'asset_pointer': 'file-service://file-K1nk4ku', 'size_bytes': 81234,
             'width': 1024, 'height': 768, 'metadata': {'dalle': None}}
    nodes = [
        node('root', None, ['sys'], None),
        node('sys', 'root', ['ctx'], message('sys', 'system', [''], T0, hidden=True)),
        node('ctx', 'sys', ['u1', 'u1b'],
             message('ctx', 'user', [], T0, content_type='user_editable_context', hidden=True)),
        node('u1', 'ctx', ['a1'], message('u1', 'user', ['What should I see in Kyoto?'], T0 + 10)),
        node('a1', 'u1', [], message('a1', 'assistant', ['Fushimi Inari first'], T0 + 20, model='gpt-4')),
        node('u1b', 'ctx', ['a2', 'a2b'],
             message('u1b', 'user', ['What should I see in Kyoto in two days? 京都で二日間'], T0 + 30)),
        node('a2', 'u1b', [],
             message('a2', 'assistant', ['Day one: Arashiyama bamboo grove'], T0 + 40, model='gpt-4o')),
        node('a2b', 'u1b', ['u2'],
             message('a2b', 'assistant', ['Start at Kiyomizu-dera 清水寺 at dawn'], T0 + 50, model='gpt-4o')),
        node('u2', 'a2b', ['a3'], message('u2', 'user', [image, 'Is this the Golden Pavilion?'], T0 + 60,
                                          content_type='multimodal_text')),
        node('a3', 'u2', ['t3'], message('a3', 'assistant', ['print(detect("kinkaku"))'], T0 + 70,
                                         content_type='code', recipient='python', model='gpt-4o')),
        node('t3', 'a3', ['a4'], message('t3', 'tool', ['kinkaku-ji: 0.97'], T0 + 80, content_type='execution_output')),
        node('a4', 't3', [], message('a4', 'assistant', [
            'Yes: that is Kinkaku-ji 金閣寺\ue200cite\ue202turn0search1\ue201, the Golden Pavilion.'], T0 + 90,
            model='gpt-4o')),
    ]
    return conversation(KYOTO_ID, KYOTO_TITLE, nodes, 'a4', T0)


def simple(conversation_id: str, title: str, question: str, answer: str, at: float = T0 + 86_400) -> dict:
    nodes = [node('r', None, ['q'], None),
             node('q', 'r', ['a'], message('q', 'user', [question], at)),
             node('a', 'q', [], message('a', 'assistant', [answer], at + 5, model='gpt-4o-mini'))]
    return conversation(conversation_id, title, nodes, 'a', at)


def broken() -> dict:
    """Looks like a conversation, but a message's parts are not a list: refused, with a reason."""
    bad = simple('bad00000-0000-4000-8000-000000000bad', 'Broken one', 'Hello?', 'Hi')
    bad['mapping']['q']['message']['content']['parts'] = 'not a list'
    return bad


def sample() -> list[dict]:
    """Kyoto, a plain one, and a broken one."""
    return [kyoto(), simple('50d0ugh0-0000-4000-8000-000000000001', 'Sourdough starter',
                            'How do I keep a sourdough starter?', 'Feed it flour and water daily.'), broken()]


def file_bytes(conversations: list[dict]) -> bytes:
    return json.dumps(conversations, ensure_ascii=False).encode()


def generated(count: int, *, turns: int = 6, seed: int = 7) -> list[dict]:
    """`count` conversations of `turns` questions and answers each (a regenerated answer in one of ten), with text
    of a realistic length: the benchmark's export of a heavy ChatGPT user."""
    rng = random.Random(seed)
    words = [''.join(rng.choices('abcdefghijklmnopqrstuvwxyz', k=rng.randint(3, 9))) for _ in range(3000)]
    result = []
    for number in range(count):
        at = T0 + number * 3600
        nodes = [node('root', None, [], None)]  # children linked at the end
        parent = 'root'
        for turn in range(turns):
            question, answer = f'q{turn}', f'a{turn}'
            nodes.append(node(question, parent, [answer], message(question, 'user', [' '.join(
                rng.choices(words, k=rng.randint(8, 40)))], at + turn * 60)))
            nodes.append(node(answer, question, [], message(answer, 'assistant', [' '.join(
                rng.choices(words, k=rng.randint(60, 250)))], at + turn * 60 + 20, model='gpt-4o')))
            parent = answer
        if number % 10 == 0:  # a regenerated last answer
            again = f'a{turns - 1}b'
            nodes.append(node(again, f'q{turns - 1}', [], message(again, 'assistant', ['Another take.'], at + 9999)))
        _link_children(nodes)
        result.append(conversation(f'gen-{number:06d}', f'Generated {number}', nodes, parent, at))
    return result


def _link_children(nodes: list[dict]) -> None:
    by_id = {n['id']: n for n in nodes}
    for n in nodes:
        n['children'] = []
    for n in nodes:
        if n['parent'] is not None:
            by_id[n['parent']]['children'].append(n['id'])
