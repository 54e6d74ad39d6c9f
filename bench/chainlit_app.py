"""A peer the benchmark compares chatapp with: Chainlit, streaming as its documentation shows.

`ChatOpenAI.astream` from OPENAI_BASE_URL into a `cl.Message`, one `stream_token` per chunk, then `send()` to end
the stream. Runs in its own venv (bench/README.md), never in chatapp's:

    python3 -m venv .venv-chainlit && .venv-chainlit/bin/pip install chainlit==2.12.0 langchain-openai==1.8.1
    cd "$(mktemp -d)" && OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=bench \
        /path/to/.venv-chainlit/bin/chainlit run /path/to/bench/chainlit_app.py --headless --port 8082

Chainlit writes its .chainlit/ config, .files/ and chainlit.md into the working directory: start it elsewhere.
"""

from __future__ import annotations

import os

import chainlit as cl
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

model = ChatOpenAI(model='gpt-4o-mini', api_key=os.environ.get('OPENAI_API_KEY', 'bench'),
                   base_url=os.environ['OPENAI_BASE_URL'], streaming=True, stream_usage=True)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    reply = cl.Message(content='')
    async for chunk in model.astream([HumanMessage(message.content)]):
        if isinstance(chunk.content, str) and chunk.content:
            await reply.stream_token(chunk.content)
    await reply.send()  # ends the stream: the whole message once more, no longer marked streaming
