"""What an endpoint's failure means: whether retrying can help, and the cause in plain words."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

import httpx
import openai


def _transport_errors() -> tuple[type[BaseException], ...]:
    """A connection that breaks mid-stream raises the HTTP library's own error, unwrapped by `openai`."""
    errors: list[type[BaseException]] = [openai.APIConnectionError, httpx.TransportError]
    with contextlib.suppress(ImportError):
        import httpx2  # under openai 3.6x and later
        errors.append(httpx2.TransportError)
    return tuple(errors)


TRANSPORT_ERRORS = _transport_errors()
RETRY_BACKOFF_SECONDS = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_RETRY_WAIT_SECONDS = 60.0


def retry_delay(error: BaseException, attempt: int) -> float | None:
    """Seconds to wait before trying a failed request again, or None when retrying cannot help.

    Only failures before the first token come here: a rate limit (honouring Retry-After), a server
    error, or a connection that could not be made. A bad key, a missing model or a bad request fail at once.
    """
    backoff = RETRY_BACKOFF_SECONDS[min(attempt, len(RETRY_BACKOFF_SECONDS) - 1)]
    if isinstance(error, openai.RateLimitError):
        asked = _retry_after(error.response.headers) if error.response is not None else None
        wait = backoff if asked is None else asked
        return wait if wait <= MAX_RETRY_WAIT_SECONDS else None
    if isinstance(error, openai.APIStatusError):
        return backoff if error.status_code >= 500 else None
    if isinstance(error, TRANSPORT_ERRORS):
        return backoff
    return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (('retry-after-ms', 0.001), ('retry-after', 1.0)):
        try:
            return max(0.0, float(headers[name]) * scale)
        except (KeyError, ValueError):
            continue
    return None


def describe_wait(error: BaseException, seconds: float) -> str:
    cause = ('The model endpoint is rate limiting requests' if isinstance(error, openai.RateLimitError)
             else 'The model endpoint did not answer properly')
    return f'{cause}; trying again in {seconds:.0f} s…'


class StreamTruncated(Exception):
    """The endpoint ended the stream without saying the reply was finished."""


def describe_failure(error: BaseException, *, model: str, base_url: str, timeout: float) -> str:
    """One short sentence naming the cause, for the person reading the chat (never a stack trace)."""
    endpoint = base_url or 'the OpenAI API'
    if isinstance(error, TimeoutError | openai.APITimeoutError):
        return f'The model sent nothing for {timeout:g} seconds, so the reply was stopped.'
    if isinstance(error, StreamTruncated):
        return 'The model\'s stream ended before the reply was finished.'
    if isinstance(error, openai.AuthenticationError):
        return 'The model endpoint rejected the API key (HTTP 401).'
    if isinstance(error, openai.PermissionDeniedError):
        return 'The API key is not allowed to use this model (HTTP 403).'
    if isinstance(error, openai.NotFoundError):
        return f'The model "{model}" was not found at {endpoint} (HTTP 404).'
    if isinstance(error, openai.RateLimitError):
        return 'The model endpoint is rate limiting requests (HTTP 429). Try again in a moment.'
    if isinstance(error, openai.APIStatusError):
        return f'The model endpoint failed (HTTP {error.status_code}).'
    if isinstance(error, TRANSPORT_ERRORS):
        return f'The connection to the model endpoint ({endpoint}) failed or broke off.'
    if isinstance(error, json.JSONDecodeError | ValueError):
        return 'The model endpoint sent a malformed chunk, so the reply was cut short.'
    return f'The reply failed unexpectedly ({type(error).__name__}).'
