"""Who answers: Echo Brain when it is set up, else the configured LLM with streamed tokens, else nobody.

A responder lives for one turn (its HTTP client is closed after it), and says plainly who it is, so the
panel can show which assistant is answering. Every answer is bounded: in time (`assistant_max_seconds`)
for both, and in length (`assistant_max_tokens`) for the LLM, which raises AnswerCut after the last piece
when a bound ended the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from services.echo import EchoBrainClient, EchoBrainError, EchoBrainTimeout, Memory
from services.llm import LLM_DEVICE_EXAMPLE, ChatMessage, configured_llm
from studio.config import CONNECTIONS_PAGE, Settings
from studio.secrets import SecretStore

log = logging.getLogger(__name__)

AssistantKind = Literal["echo_brain", "llm", "none"]
HOW_TO_CONFIGURE = (
    "No assistant is set up. Point the studio at your Echo Brain with STUDIO_ECHO_BRAIN_URL (for example "
    "http://127.0.0.1:8309), or give a device an LLM server (Ollama or OpenAI-compatible), for example "
    f"{LLM_DEVICE_EXAMPLE}, and restart the studio; the assistant then chats with STUDIO_STORY_MODEL. Or connect "
    f"either on {CONNECTIONS_PAGE}: in use at once, no restart."
)
# Memories of Echo Brain searched for the question: those its answer names as sources are shown by their text
# (Echo Brain names them by id).
ECHO_MEMORIES = 10
_MEMORY_TITLE = 80


@dataclass(frozen=True)
class AssistantIdentity:
    """Which assistant answers, named for people: 'Echo Brain at …' or 'gemma3:12b on Ollama at …'."""

    kind: AssistantKind
    name: str
    url: str | None = None


def identity(settings: Settings) -> AssistantIdentity:
    """Who would answer, from the settings alone (no network)."""
    if settings.echo_brain_url:
        return AssistantIdentity("echo_brain", "Echo Brain", settings.echo_brain_url)
    device = settings.vision_llm
    if device is not None and device.llm_url:
        server = "Ollama" if device.llm_api == "ollama" else "an OpenAI-compatible server"
        return AssistantIdentity("llm", f"{settings.story_model} on {server}", device.llm_url)
    return AssistantIdentity("none", "no assistant")


@dataclass
class Conversation:
    """What one turn sends: the system prompt with the notes, earlier turns, and the new question."""

    system: str
    history: Sequence[ChatMessage]
    question: str
    session_id: str | None  # Echo Brain's session of the thread; None: a request outside the conversation
    temperature: float = 0.4
    # Sources the responder found itself (what Echo Brain says it drew on), shown after the production's notes.
    found_sources: list[dict[str, Any]] = field(default_factory=list)


async def reply(settings: Settings, secrets: SecretStore, conversation: Conversation) -> AsyncIterator[str]:
    """The answer in pieces from whoever answers. Raises EchoBrainError or LlmError; ValueError when nobody
    is set up (the caller checks `identity` first)."""
    who = identity(settings)
    if who.kind == "echo_brain":
        async for piece in _echo_brain(settings, secrets, conversation):
            yield piece
    elif who.kind == "llm":
        async for piece in _llm(settings, secrets, conversation):
            yield piece
    else:
        raise ValueError(HOW_TO_CONFIGURE)


async def _echo_brain(settings: Settings, secrets: SecretStore, conversation: Conversation) -> AsyncIterator[str]:
    """Echo Brain answers whole (its API does not stream). It takes one question, so the notes and the
    earlier turns go in front of it; its session keeps its own memory of the thread."""
    assert settings.echo_brain_url is not None
    client = EchoBrainClient(
        settings.echo_brain_url, secrets.get("echo_brain_token"), seconds=settings.assistant_timeout_seconds
    )
    earlier = "\n".join(f"{m.role}: {m.content}" for m in conversation.history)
    question = "\n\n".join(
        part
        for part in (
            conversation.system,
            f"Conversation so far:\n{earlier}" if earlier else "",
            f"Question: {conversation.question}",
        )
        if part
    )
    try:
        # Its timeout bounds each wait for a reply; this bounds the whole answer, however it trickles in.
        async with asyncio.timeout(settings.assistant_max_seconds):
            answer, memories = await asyncio.gather(
                client.ask(question, conversation.session_id), _memories(client, conversation.question)
            )
    except TimeoutError as exc:
        raise EchoBrainTimeout(
            f"Echo Brain at {client.url} did not finish its answer within {settings.assistant_max_seconds:g} s "
            "(STUDIO_ASSISTANT_MAX_SECONDS)"
        ) from exc
    finally:
        await client.aclose()
    conversation.found_sources += _named_sources(answer.sources, memories)
    yield answer.answer


async def _memories(client: EchoBrainClient, query: str) -> list[Memory]:
    """Echo Brain's memories about the question; a failed memory search costs the sources' titles, not the answer."""
    try:
        return await client.search_memory(query, ECHO_MEMORIES)
    except EchoBrainError as exc:
        log.warning("Echo Brain's memory search failed: %s", exc)
        return []


def _named_sources(names: Sequence[str], memories: Sequence[Memory]) -> list[dict[str, Any]]:
    """The sources Echo Brain says its answer drew on (and only those): a memory by its text when the memory
    search found it, else by the name Echo Brain gave."""
    found = {memory.source: memory for memory in memories if memory.source}
    return [
        {"title": _short(found[name].text), "link": "", "kind": "memory"}
        if name in found
        else {"title": name, "link": "", "kind": "echo_brain"}
        for name in names
    ]


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MEMORY_TITLE else flat[: _MEMORY_TITLE - 1] + "…"


async def _llm(settings: Settings, secrets: SecretStore, conversation: Conversation) -> AsyncIterator[str]:
    client = configured_llm(settings, secrets, timeout=settings.assistant_timeout_seconds)
    assert client is not None
    messages = [
        ChatMessage("system", conversation.system),
        *conversation.history,
        ChatMessage("user", conversation.question),
    ]
    try:
        async for piece in client.stream(
            settings.story_model,
            messages,
            temperature=conversation.temperature,
            max_tokens=settings.assistant_max_tokens,
            total_seconds=settings.assistant_max_seconds,
        ):
            yield piece
    finally:
        await client.aclose()
