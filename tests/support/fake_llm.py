"""A paced OpenAI chat-completions server for the load tests and the benchmarks (loopback only).

POST /v1/chat/completions with stream=true streams a reply of --tokens tokens at --rate tokens/s,
one SSE chunk per token, then a final chunk with finish_reason "stop", a usage chunk when asked
(stream_options.include_usage) and `data: [DONE]`. Every stream records the wall time (time.time())
just before each token is handed to the socket; GET /tokens returns them all.

A prompt whose last user message starts with "warmup" gets a short, fast reply (flagged warmup), so
the harness can warm up a process without waiting for a full reply.

    python tests/support/fake_llm.py --port 8765 --tokens 2000 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

WORDS = ('the', 'a', 'data', 'model', 'stream', 'token', 'page', 'fast', 'slow', 'render', 'value', 'server',
         'client', 'cost', 'time', 'query', 'index', 'cache', 'state', 'event', 'loop', 'frame', 'block', 'text',
         'line', 'we', 'it', 'is', 'can', 'will', 'each', 'one', 'two', 'more', 'less', 'when', 'then', 'so',
         'of', 'to', 'in', 'on', 'for', 'with', 'and', 'or', 'not', 'all', 'new', 'old', 'small', 'large')
CODE_NAMES = ('result', 'items', 'total', 'count', 'buffer', 'offset', 'window', 'handler', 'payload')
CODE_CALLS = ('compute', 'render', 'flush', 'parse', 'append', 'collect', 'measure')
WARMUP_TEXT = ('## Warm up\n\nA few **words** first.\n\n- one item\n- two items\n\n```py\n'
               'result = compute(items)\n```\n\nDone now.\n')  # every kind of block: first-use costs go here
WARMUP_RATE = 1000.0
_ALNUM = re.compile(r'[A-Za-z0-9]')


def make_tokens(count: int, seed: int = 7, *, technical: bool = False) -> list[str]:
    """`count` tokens of Markdown: paragraphs, now and then a heading, a bullet list or a code block; `technical`:
    more code blocks, formulas in the paragraphs and formulas on lines of their own.

    Each token is a short word plus a space (or a newline ending a line). Markup is glued to a word so
    that every token shows at least one letter, except the closing code fence. A formula's letters and digits
    are the same drawn as written (no commands), so the harness finds each token in the page either way.
    """
    rng = random.Random(seed)
    tokens: list[str] = []
    block = 0
    while len(tokens) < count:
        block += 1
        if technical and block % 4 == 2:  # a formula on a line of its own, drawn once its $$ closes
            a, b, c = rng.sample('abcxyz', 3)
            tokens += [f'$${a}^2 ', f'+{b}_{{{rng.randint(1, 9)}}} ', f'={c}^{rng.randint(2, 4)}$$\n\n']
        elif block % (3 if technical else 7) == 0:  # a code block; the first code token is long, see visible_alnum
            tokens.append('```py\n')
            for _ in range(rng.randint(3, 5)):
                name, call, arg = rng.choice(CODE_NAMES), rng.choice(CODE_CALLS), rng.choice(CODE_NAMES)
                tokens += [f'{name} ', '= ', f'{call}(', f'{arg})\n']
            tokens.append('```\n\n')
        elif block % 5 == 0:  # a bullet list
            for _ in range(rng.randint(3, 5)):
                words = [rng.choice(WORDS) for _ in range(rng.randint(3, 7))]
                tokens.append(f'- {words[0]} ')
                tokens += [f'{w} ' for w in words[1:-1]]
                tokens.append(f'{words[-1]}\n')
            tokens[-1] += '\n'
        elif block % 6 == 1:  # a heading
            words = [rng.choice(WORDS) for _ in range(rng.randint(2, 4))]
            tokens.append(f'## {words[0].capitalize()} ')
            tokens += [f'{w} ' for w in words[1:-1]]
            tokens.append(f'{words[-1]}\n\n')
        else:  # a paragraph, with some bold
            words = [rng.choice(WORDS) for _ in range(rng.randint(25, 60))]
            words[0] = words[0].capitalize()
            for i in range(len(words) - 1):
                if technical and rng.random() < 0.08:
                    tokens.append(f'${rng.choice("xyzn")}_{{{rng.choice("ijk")}}}^{rng.randint(2, 9)}$ ')
                tokens.append(f'**{words[i]}** ' if rng.random() < 0.03 else f'{words[i]} ')
            tokens.append(f'{words[-1]}.\n\n')
    tokens = tokens[:count]
    if sum(t.startswith('```') for t in tokens[:-1]) % 2:  # cut inside a code block: close it
        tokens[-1] = '```\n'
    elif tokens[-1].startswith('```'):
        tokens[-1] = 'end\n'
    tokens[-1] = tokens[-1].rstrip() + '\n'
    return tokens


def split_tokens(text: str) -> list[str]:
    """Word-sized pieces (each ending in its space or newline) that join back to exactly the text."""
    pieces, start = [], 0
    for index in range(1, len(text)):
        if text[index] not in ' \n' and text[index - 1] in ' \n':
            pieces.append(text[start:index])
            start = index
    pieces.append(text[start:])
    return pieces


def visible_alnum(token: str) -> int:
    """Letters and digits this token adds to the rendered reply (a fence's language tag is not shown)."""
    if token.startswith('```'):
        return 0
    return len(_ALNUM.findall(token))


class Streams:
    def __init__(self) -> None:
        self.streams: list[dict] = []


def build_app(tokens: int, rate: float, seed: int, technical: bool = False) -> Starlette:
    state = Streams()
    reply = make_tokens(tokens, seed, technical=technical)
    warmup_reply = split_tokens(WARMUP_TEXT)

    async def completions(request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        messages = body.get('messages') or []
        last_user = next((m for m in reversed(messages) if m.get('role') == 'user'), {})
        content = last_user.get('content') or ''
        if isinstance(content, list):
            content = ' '.join(part.get('text', '') for part in content if isinstance(part, dict))
        warmup = content.strip().lower().startswith('warmup')
        pieces, pace = (warmup_reply, WARMUP_RATE) if warmup else (reply, rate)
        model = body.get('model') or 'bench'
        include_usage = bool((body.get('stream_options') or {}).get('include_usage'))
        record = {'id': f'chatcmpl-{uuid.uuid4().hex[:12]}', 'warmup': warmup, 'prompt': content[:200],
                  'received': time.time(), 'times': [], 'done': False, 'finished': None}
        state.streams.append(record)
        if not body.get('stream'):
            record['times'] = [time.time()] * len(pieces)
            record['done'] = True
            return JSONResponse({
                'id': record['id'], 'object': 'chat.completion', 'created': int(time.time()), 'model': model,
                'choices': [{'index': 0, 'finish_reason': 'stop',
                             'message': {'role': 'assistant', 'content': ''.join(pieces)}}],
                'usage': {'prompt_tokens': 10, 'completion_tokens': len(pieces), 'total_tokens': 10 + len(pieces)},
            })

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {'id': record['id'], 'object': 'chat.completion.chunk', 'created': int(record['received']),
                    'model': model, 'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish}]}
            return b'data: ' + json.dumps(data).encode() + b'\n\n'

        async def events():
            try:
                yield chunk({'role': 'assistant', 'content': ''})
                start = time.monotonic()
                for index, piece in enumerate(pieces):
                    wait = start + index / pace - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    record['times'].append(time.time())
                    yield chunk({'content': piece})
                yield chunk({}, 'stop')
                if include_usage:
                    usage = {'id': record['id'], 'object': 'chat.completion.chunk', 'created': int(record['received']),
                             'model': model, 'choices': [],
                             'usage': {'prompt_tokens': 10, 'completion_tokens': len(pieces),
                                       'total_tokens': 10 + len(pieces)}}
                    yield b'data: ' + json.dumps(usage).encode() + b'\n\n'
                yield b'data: [DONE]\n\n'
                record['done'] = True
            finally:
                record['finished'] = time.time()

        return StreamingResponse(events(), media_type='text/event-stream',
                                 headers={'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'})

    async def tokens_route(request: Request) -> JSONResponse:
        return JSONResponse({'tokens': reply, 'visible_alnum': [visible_alnum(t) for t in reply],
                             'rate': rate, 'streams': state.streams})

    async def status(request: Request) -> JSONResponse:  # cheap to poll, whatever the reply's length
        return JSONResponse({'streams': [{'warmup': s['warmup'], 'done': s['done'], 'written': len(s['times'])}
                                         for s in state.streams]})

    async def reset(request: Request) -> JSONResponse:
        state.streams.clear()
        return JSONResponse({'ok': True})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({'ok': True})

    return Starlette(routes=[
        Route('/v1/chat/completions', completions, methods=['POST']),
        Route('/tokens', tokens_route, methods=['GET']),
        Route('/status', status, methods=['GET']),
        Route('/reset', reset, methods=['POST']),
        Route('/healthz', health, methods=['GET']),
    ])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--tokens', type=int, default=2000)
    parser.add_argument('--rate', type=float, default=100.0)
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--technical', action='store_true', help='code blocks and formulas throughout')
    args = parser.parse_args()
    uvicorn.run(build_app(args.tokens, args.rate, args.seed, args.technical), host=args.host, port=args.port,
                log_level='warning', access_log=False)


if __name__ == '__main__':
    main()
