"""The model client exactly as the app builds it, against a real OpenAI-protocol server (llmock)."""

from __future__ import annotations

from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from chatapp.llm import CONNECT_TIMEOUT_SECONDS, create_chat_model, endpoint_reachable
from chatapp.settings import Settings, load_settings
from tests.support.net import free_port
from tests.support.servers import LLMock


def endpoint_settings(base_url: str, **env: str) -> Settings:
    return load_settings({'OPENAI_BASE_URL': base_url, 'OPENAI_API_KEY': 'test', **env})


async def test_the_client_the_app_builds_streams_from_a_real_endpoint(llmock: LLMock) -> None:
    """Whatever HTTP library `openai` is built on, it takes the timeout and streams (openai 3.63 refused
    an httpx.Timeout and the app could not start)."""
    model = create_chat_model(endpoint_settings(f'{llmock.base_url}/v1', CHATAPP_LLM_TIMEOUT='7'))
    assert isinstance(model, ChatOpenAI)
    timeout = model.root_async_client.timeout
    as_tuple = timeout if isinstance(timeout, tuple) else (timeout.connect, timeout.read, timeout.write, timeout.pool)
    assert as_tuple == (CONNECT_TIMEOUT_SECONDS, 7.0, 7.0, 7.0)
    llmock.reply('streamed through the real client')
    chunks = [chunk.content async for chunk in model.astream([HumanMessage('hello')])]
    assert ''.join(str(chunk) for chunk in chunks) == 'streamed through the real client'
    assert len(chunks) > 1


async def test_the_endpoint_probe_tells_reachable_from_unreachable(llmock: LLMock) -> None:
    assert await endpoint_reachable(create_chat_model(endpoint_settings(f'{llmock.base_url}/v1'))) is True
    closed = f'http://127.0.0.1:{free_port()}/v1'
    assert await endpoint_reachable(create_chat_model(endpoint_settings(closed))) is False
    assert await endpoint_reachable(create_chat_model(load_settings({}))) is None  # the demo model
