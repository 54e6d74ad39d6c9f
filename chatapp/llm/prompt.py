"""The prompt of a reply: built on the server from stored history, never from what a browser sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from chatapp.attachments.content import IMAGE, IMAGE_CHARS, PromptFile
from chatapp.models import Message, Role, Status

SPEAKERS_NOTE = ('Several people write in this conversation: each of their messages begins with the name of '
                 'the person who wrote it and a colon.')


def build_prompt(system_prompt: str, history: Sequence[Message], max_tokens: int = 0,
                 speakers: Mapping[str, str] | None = None, files: Mapping[int, Sequence[PromptFile]] | None = None,
                 *, images: bool = True) -> list[BaseMessage]:
    """The prompt is the system prompt plus the stored conversation; a browser never supplies history.

    With `speakers` (author id -> name, '' for a question without one) each question starts with its writer's
    name, so that the model can tell people apart. A question's `files` (by message id) follow its text, and
    its images go as image parts where the model takes `images` (else a line says one was left out). A
    conversation longer than `max_tokens` (estimated) loses its oldest turns; the system prompt and the newest
    question always stay.
    """
    if speakers:
        system_prompt = f'{system_prompt}\n\n{SPEAKERS_NOTE}' if system_prompt.strip() else SPEAKERS_NOTE
    turns: list[BaseMessage] = []
    for message in history:
        if message.role == Role.USER:
            name = speakers.get(message.author_id or '', speakers.get('', '')) if speakers else ''
            text = f'{name}: {message.content}' if name else message.content
            attached = files.get(message.id or 0, ()) if files else ()
            turns.append(_question(text, attached, images) if attached else HumanMessage(text))
        elif message.content and message.status in (Status.COMPLETE, Status.STOPPED, Status.INTERRUPTED):
            turns.append(AIMessage(message.content))
    system = [SystemMessage(system_prompt)] if system_prompt.strip() else []
    if max_tokens > 0:
        budget = max_tokens - sum(estimate_tokens(m) for m in system)
        kept: list[BaseMessage] = []
        for turn in reversed(turns):
            cost = estimate_tokens(turn)
            if kept and cost > budget:
                break
            kept.append(turn)
            budget -= cost
        turns = kept[::-1]
        while len(turns) > 1 and not isinstance(turns[0], HumanMessage):
            turns = turns[1:]  # start with a question, as chat models expect
    return system + turns


def _question(text: str, files: Sequence[PromptFile], images: bool) -> HumanMessage:
    """A question with its files: their text after its own, each image a part of its own (OpenAI's image_url with
    the bytes inline: the endpoint fetches nothing)."""
    text = (text + ''.join(file.framed() for file in files if file.kind != IMAGE)).lstrip('\n')  # files alone
    pictures = [file for file in files if file.kind == IMAGE]
    if not images:
        text += ''.join(f'\n\n[An image, {file.name}, is left out: this model does not take images.]'
                        for file in pictures)
        pictures = []
    if not pictures:
        return HumanMessage(text)
    return HumanMessage([{'type': 'text', 'text': text},
                         *({'type': 'image_url', 'image_url': {'url': file.image_url()}} for file in pictures)])


def estimate_tokens(message: BaseMessage) -> int:
    """About four characters a token (an image as IMAGE_CHARS), plus the per-message framing: close enough to stay
    under a limit."""
    if isinstance(message.content, str):
        return estimate_text_tokens(message.content) + 4
    parts = [part for part in message.content if isinstance(part, dict)]
    chars = sum(len(part.get('text', '')) if part.get('type') == 'text' else IMAGE_CHARS for part in parts)
    return (chars + 3) // 4 + 4


def prompt_budget(max_context_tokens: int, context_window: int | None) -> int:
    """Estimated tokens a prompt may take: the app's limit, and three quarters of the model's window (the rest
    is for the reply); 0: no limit."""
    limits = [max_context_tokens, context_window * 3 // 4 if context_window else 0]
    return min(filter(None, limits), default=0)


def estimate_text_tokens(text: str) -> int:
    return (len(text) + 3) // 4
