"""The models people may pick: those configured, and those each endpoint lists at GET /models, read at start and
then every CHATAPP_MODELS_REFRESH seconds. An endpoint that does not answer is marked unavailable with the reason;
its models stay in the list, greyed out, and every other endpoint works on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass

import openai
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_openai import ChatOpenAI

from chatapp.llm.config import DEMO_ENDPOINT, EndpointConfig, ModelConfig, ModelsConfig
from chatapp.llm.demo import DemoChatModel
from chatapp.llm.failures import TRANSPORT_ERRORS
from chatapp.settings import ConfigError, Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
LIST_TIMEOUT_SECONDS = 5.0
# what an endpoint's model list holds besides chat models (OpenAI's lists embeddings, speech, images…)
NOT_CHAT = re.compile(r'embed|whisper|tts|dall-e|image|moderation|transcribe|audio|realtime|search|davinci|babbage',
                      re.IGNORECASE)


@dataclass(frozen=True)
class ModelInfo:
    """A model as people see it; what the browser may learn of it (no key, no endpoint URL)."""
    key: str  # <endpoint>/<name>
    name: str
    endpoint: str
    label: str
    context_window: int | None = None
    images: bool = False
    price_input: float | None = None  # per million tokens
    price_output: float | None = None
    available: bool = True
    reason: str = ''  # why it is not

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        """What a reply cost, when both prices are configured."""
        if self.price_input is None or self.price_output is None:
            return None
        return ((prompt_tokens or 0) * self.price_input + (completion_tokens or 0) * self.price_output) / 1e6


@dataclass
class EndpointState:
    reachable: bool | None = None  # None: not asked yet
    reason: str = ''
    discovered: tuple[str, ...] = ()


def client_timeout(settings: Settings) -> tuple[float, float, float, float]:
    """(connect, read, write, pool) in plain seconds: the one form that every HTTP library `openai` has been
    built on accepts (httpx, and httpx2 since openai 3.6x, which refuses the other library's Timeout object)."""
    read = settings.llm_timeout
    return CONNECT_TIMEOUT_SECONDS, read, read, read


class ModelCatalog:
    """Knows every model and builds its client; one HTTP connection pool per endpoint."""

    def __init__(self, config: ModelsConfig, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self._states = {name: EndpointState() for name in config.endpoints}
        # one connection pool per endpoint, shared by its models and its model list
        self._pools = {name: openai.DefaultAsyncHttpxClient(timeout=client_timeout(settings))
                       for name in config.endpoints}
        self._clients = {name: self._client(name, endpoint) for name, endpoint in config.endpoints.items()}
        self._models: dict[str, BaseChatModel] = {}
        self._refresher: asyncio.Task | None = None
        self.chat_model(self.default_key)  # a client that cannot be built stops the app before it serves
        if settings.title_model not in ('', 'off') and not config.knows(settings.title_model):
            raise ConfigError(f'CHATAPP_TITLE_MODEL={settings.title_model!r} is not a model key (<endpoint>/<name>) '
                              'of a configured model or of an endpoint that lists its models')

    @property
    def default_key(self) -> str:
        return self.config.default_model

    @property
    def demo(self) -> bool:
        return self.config.demo

    def models(self) -> list[ModelInfo]:
        """Configured models first, in their order, then each endpoint's discovered ones by name."""
        configured = {model.key for model in self.config.models}
        found = [self._info(model) for model in self.config.models]
        for name, state in self._states.items():
            found += [self._info(ModelConfig(name=model, endpoint=name)) for model in state.discovered
                      if f'{name}/{model}' not in configured]
        return found

    def get(self, key: str) -> ModelInfo | None:
        """The model of this key, also one an endpoint does not list (any longer): it may still answer. Of an
        endpoint with discover = false, only the models configured."""
        for model in self.config.models:
            if model.key == key:
                return self._info(model)
        endpoint, _, name = key.partition('/')
        if self.config.knows(key) and len(name) <= 200:
            return self._info(ModelConfig(name=name, endpoint=endpoint))
        return None

    def chat_model(self, key: str) -> BaseChatModel:
        """The LangChain chat model of a key `get` knows; built once."""
        if key not in self._models:
            endpoint, _, name = key.partition('/')
            self._models[key] = DemoChatModel() if endpoint == DEMO_ENDPOINT else self._chat_model(endpoint, name)
        return self._models[key]

    def base_url(self, key: str) -> str:
        endpoint = self.config.endpoints.get(key.partition('/')[0])
        return endpoint.base_url if endpoint is not None else ''

    def status(self) -> dict[str, str]:
        """Each endpoint: 'ok', 'unreachable' or 'unknown' (not asked yet)."""
        return {name: 'unknown' if state.reachable is None else 'ok' if state.reachable else 'unreachable'
                for name, state in self._states.items()}

    # --- keeping the lists ------------------------------------------------------------------------------

    def start(self) -> None:
        """Read every endpoint's list now and then on a timer, without holding up the start: until an endpoint
        has answered, its configured models are offered."""
        if self._states:
            self._refresher = asyncio.create_task(self._refresh_forever(), name='model-lists')

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for pool in self._pools.values():
            await pool.aclose()

    async def refresh(self) -> None:
        """Ask every endpoint for its models at once; one that does not answer is marked, not fatal."""
        await asyncio.gather(*(self._ask(name) for name in self._states))

    async def _refresh_forever(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:
                log.exception('refreshing the model lists failed')
            await asyncio.sleep(self.settings.models_refresh)

    async def _ask(self, name: str) -> None:
        state = self._states[name]
        try:
            async with asyncio.timeout(LIST_TIMEOUT_SECONDS):
                listed = [model.id async for model in self._clients[name].models.list()]
        except openai.AuthenticationError:
            state.reachable, state.reason = False, 'the endpoint rejected the API key'
        except openai.APIStatusError:  # some servers list nothing: the endpoint answers, its models still work
            state.reachable, state.reason = True, ''
        except (TimeoutError, *TRANSPORT_ERRORS) as error:
            reason = 'it did not answer in time' if isinstance(error, TimeoutError | openai.APITimeoutError) \
                else 'cannot connect to it'
            if state.reachable is not False:
                log.warning('model endpoint %s is unavailable: %s', name, reason)
            state.reachable, state.reason = False, reason
        except Exception as error:
            state.reachable, state.reason = False, f'its model list could not be read ({type(error).__name__})'
        else:
            state.reachable, state.reason = True, ''
            if self.config.endpoints[name].discover:
                state.discovered = tuple(sorted(m for m in listed if isinstance(m, str) and m and len(m) <= 200
                                                and not NOT_CHAT.search(m)))

    # --- building ----------------------------------------------------------------------------------------

    def _info(self, model: ModelConfig) -> ModelInfo:
        state = self._states.get(model.endpoint)
        available = state is None or state.reachable is not False
        return ModelInfo(model.key, model.name, model.endpoint, model.label or model.name, model.context_window,
                         model.images, model.price_input, model.price_output, available,
                         '' if available or state is None else f'{model.endpoint}: {state.reason}')

    def _client(self, name: str, endpoint: EndpointConfig) -> openai.AsyncOpenAI:
        try:
            return openai.AsyncOpenAI(api_key=endpoint.key() or 'not-needed', base_url=endpoint.base_url or None,
                                      max_retries=0, http_client=self._pools[name])
        except Exception as error:
            reason = ' '.join(str(error).split()) or type(error).__name__
            raise ConfigError(f'{self.config.origin}: endpoint {name}: cannot build its client ({reason})') from None

    def _chat_model(self, endpoint: str, name: str) -> ChatOpenAI:
        config = self.config.endpoints[endpoint]
        try:
            return ChatOpenAI(
                model=name,
                api_key=config.key() or 'not-needed',  # local servers (Ollama, llama.cpp) take any key
                base_url=config.base_url or None,
                streaming=True,
                stream_usage=True,  # asks for stream_options.include_usage: the tokens of each reply
                max_retries=0,  # the streaming engine retries itself, so that the person sees it waiting
                stream_chunk_timeout=None,  # the engine has its own stall timer; this one costs a task per chunk
                timeout=client_timeout(self.settings),
                # the endpoint's own pool: LangChain shares one per process between models with a hashable
                # timeout, and a pool opened on one event loop fails on the next ('Event loop is closed')
                http_async_client=self._pools[endpoint],
            )
        except Exception as error:
            reason = ' '.join(str(error).split()) or type(error).__name__
            raise ConfigError(f'{self.config.origin}: endpoint {endpoint}: cannot build the client of model {name} '
                              f'({reason})') from None
