"""The floor: a bare `ChatOpenAI.astream` loop that renders nothing. Prints one JSON line.

CPU is time.process_time() around the measured streams only (after imports and one warm-up stream).

    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python bench/floor.py --streams 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI


async def consume(model: ChatOpenAI, prompt: str) -> tuple[int, int]:
    chunks = chars = 0
    async for chunk in model.astream([HumanMessage(prompt)]):
        if isinstance(chunk.content, str) and chunk.content:
            chunks += 1
            chars += len(chunk.content)
    return chunks, chars


async def run(streams: int, warmup: bool) -> dict:
    model = ChatOpenAI(model='gpt-4o-mini', api_key=os.environ.get('OPENAI_API_KEY', 'bench'),
                       base_url=os.environ['OPENAI_BASE_URL'], streaming=True, stream_usage=True)
    if warmup:
        await consume(model, 'warmup')
    cpu0, wall0 = time.process_time(), time.time()
    results = await asyncio.gather(*(consume(model, f'floor stream {i}') for i in range(streams)))
    cpu1, wall1 = time.process_time(), time.time()
    return {'cpu': cpu1 - cpu0, 'wall': wall1 - wall0, 'start': wall0, 'end': wall1,
            'chunks': sum(r[0] for r in results), 'chars': sum(r[1] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--streams', type=int, default=1)
    parser.add_argument('--no-warmup', action='store_true')
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.streams, not args.no_warmup))), flush=True)


if __name__ == '__main__':
    main()
