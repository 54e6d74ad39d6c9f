"""The references the benchmark compares chatapp with: the naive way to stream into NiceGUI, and a throttled one.

One `ui.markdown` whose `set_content` gets the whole reply on every token, fed by `ChatOpenAI.astream`
from OPENAI_BASE_URL. With --throttle-ms N, a `ui.timer` shows the text as it is at most every N ms instead (and
the whole reply when the stream ends). Same test ids as chatapp where the harness needs them.

    OPENAI_BASE_URL=http://127.0.0.1:8765/v1 OPENAI_API_KEY=bench python bench/naive_app.py --port 8081 \
        [--throttle-ms 50]
"""

from __future__ import annotations

import argparse
import os

from fastapi.responses import JSONResponse
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from nicegui import app, ui

SEND_ON_ENTER = '''(e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); emit(); }
}'''
THROTTLE = {'seconds': 0.0}  # set by --throttle-ms; 0: every token


def chat_model() -> ChatOpenAI:
    return ChatOpenAI(model='gpt-4o-mini', api_key=os.environ.get('OPENAI_API_KEY', 'bench'),
                      base_url=os.environ['OPENAI_BASE_URL'], streaming=True, stream_usage=True)


@app.get('/healthz', include_in_schema=False)
async def healthz() -> JSONResponse:
    return JSONResponse({'status': 'ok'})


@ui.page('/')
def index() -> None:
    model = chat_model()
    with ui.column().classes('w-full max-w-3xl mx-auto'):
        messages = ui.column().classes('w-full')
        composer = ui.textarea(placeholder='Message').props('data-testid=composer').classes('w-full')

    async def send() -> None:
        prompt = (composer.value or '').strip()
        if not prompt:
            return
        composer.value = ''
        with messages:
            ui.label(prompt).props('data-testid=message-user')
            with ui.column().classes('w-full streaming').props('data-testid=message-assistant') as row:
                reply = ui.markdown().classes('reply-md')
        text = shown = ''

        def show() -> None:
            nonlocal shown
            if text != shown:
                reply.set_content(text)
                shown = text

        throttle = THROTTLE['seconds']
        if throttle:
            with row:
                timer = ui.timer(throttle, show)
        try:
            async for chunk in model.astream([HumanMessage(prompt)]):
                if isinstance(chunk.content, str) and chunk.content:
                    text += chunk.content
                    if not throttle:
                        reply.set_content(text)
        finally:
            if throttle:
                timer.cancel()
                show()  # the end of the reply, whenever the timer last ran
            row.classes(remove='streaming')

    composer.on('keydown', send, js_handler=SEND_ON_ENTER)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8081)
    parser.add_argument('--throttle-ms', type=float, default=0.0,
                        help='show the text at most every N ms (default 0: set_content on every token)')
    args = parser.parse_args()
    THROTTLE['seconds'] = args.throttle_ms / 1000
    ui.run(host=args.host, port=args.port, reload=False, show=False, show_welcome_message=False,
           reconnect_timeout=30.0, title='throttled' if args.throttle_ms else 'naive')


if __name__ in {'__main__', '__mp_main__'}:
    main()
