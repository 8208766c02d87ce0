"""Echo Brain, the user's own assistant with long-term memory, spoken to over its real API.

- `GET /health`: is it there.
- `POST /api/echo/ask` `{question, session_id, allow_actions: false}` -> `{answer, model, sources, confidence, ...}`.
  The studio never lets it act (`allow_actions` is always false): changes come back as suggestions a
  person applies.
- `POST /mcp` `tools/call` `search_memory`: Echo Brain answers with a raw list of memories, with
  `{"results": [...]}`, or, as MCP servers do, with `{"result": {"content": [{"type": "text", "text": ...}]}}`
  whose text may itself be JSON. The earlier studio read only the last shape and its chat came back empty
  ("No relevant memories found") against the real server, which sends the first two; all three are read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from services.errors import StudioError
from services.unreachable import why_unreachable

# Fields of a memory that hold its text, in the order Echo Brain's versions used them.
TEXT_FIELDS = ("text", "content", "memory", "summary")


class EchoBrainError(StudioError):
    """Echo Brain could not answer; the message names what to check."""


class EchoBrainUnreachable(EchoBrainError):
    pass


class EchoBrainTimeout(EchoBrainError):
    pass


@dataclass(frozen=True)
class EchoAnswer:
    answer: str
    model: str
    sources: tuple[str, ...]
    confidence: float | None


@dataclass(frozen=True)
class Memory:
    text: str
    score: float | None = None
    source: str = ""


class EchoBrainClient:
    def __init__(self, url: str, token: str | None, *, seconds: float, connect_seconds: float = 4.0) -> None:
        self.url = url.rstrip("/")
        self._seconds = seconds
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(seconds, connect=connect_seconds)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def health(self) -> dict[str, Any]:
        """Echo Brain's health report. EchoBrainError: unreachable, refused or not JSON."""
        reply = await self._request("GET", "/health")
        return reply if isinstance(reply, dict) else {"status": str(reply)}

    async def ask(self, question: str, session_id: str | None = None) -> EchoAnswer:
        """Ask a question (never allowing actions). EchoBrainError: unreachable, too slow, or an empty or
        malformed answer."""
        body: dict[str, Any] = {"question": question, "allow_actions": False}
        if session_id:
            body["session_id"] = session_id
        reply = await self._request("POST", "/api/echo/ask", json=body)
        if not isinstance(reply, dict):
            raise EchoBrainError(f"Echo Brain at {self.url} answered with something other than an object")
        answer = reply.get("answer")
        if not isinstance(answer, str) or not answer.strip():
            raise EchoBrainError(f"Echo Brain at {self.url} gave an empty answer")
        confidence = reply.get("confidence")
        return EchoAnswer(
            answer=answer.strip(),
            model=str(reply.get("model") or reply.get("agent") or "echo-brain"),
            sources=tuple(_source_name(s) for s in reply.get("sources") or [] if _source_name(s)),
            confidence=float(confidence) if isinstance(confidence, int | float) else None,
        )

    async def search_memory(self, query: str, limit: int = 5) -> list[Memory]:
        """Memories matching `query`, whichever of its three reply shapes Echo Brain uses."""
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "search_memory", "arguments": {"query": query, "limit": limit}},
        }
        reply = await self._request("POST", "/mcp", json=body)
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            raise EchoBrainError(f"Echo Brain's memory search failed: {reply['error'].get('message', 'no reason')}")
        return memories_of(reply)[:limit]

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise EchoBrainTimeout(
                f"Echo Brain at {self.url} did not answer within {self._seconds:g} s (STUDIO_ASSISTANT_TIMEOUT_SECONDS)"
            ) from exc
        except httpx.HTTPError as exc:
            reason = why_unreachable(exc).reason
            raise EchoBrainUnreachable(
                f"Echo Brain at {self.url} cannot be reached ({reason}); check STUDIO_ECHO_BRAIN_URL"
            ) from exc
        if response.status_code in (401, 403):
            raise EchoBrainError(f"Echo Brain at {self.url} refused the studio: set echo_brain_token")
        if response.status_code >= 400:
            raise EchoBrainError(f"Echo Brain at {self.url} answered {path} with HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise EchoBrainError(f"Echo Brain at {self.url} answered {path} with something other than JSON") from exc


def memories_of(reply: Any) -> list[Memory]:
    """The memories in any of Echo Brain's reply shapes: a raw list, `{results: [...]}`, or MCP
    `{result: {content: [{type: text, text}]}}` (the text JSON or plain)."""
    if isinstance(reply, dict) and isinstance(reply.get("result"), dict):
        reply = reply["result"]
    if isinstance(reply, dict) and isinstance(reply.get("content"), list):
        found: list[Memory] = []
        for part in reply["content"]:
            if not isinstance(part, dict) or part.get("type", "text") != "text":
                continue
            text = str(part.get("text") or "")
            try:
                found += memories_of(json.loads(text))
            except ValueError:
                if text.strip():
                    found.append(Memory(text.strip()))
        return found
    if isinstance(reply, dict) and isinstance(reply.get("results"), list):
        reply = reply["results"]
    if not isinstance(reply, list):
        return []
    memories = []
    for item in reply:
        if isinstance(item, str) and item.strip():
            memories.append(Memory(item.strip()))
        elif isinstance(item, dict):
            text = next((str(item[f]) for f in TEXT_FIELDS if item.get(f)), "")
            if text.strip():
                score = item.get("score", item.get("similarity"))
                memories.append(
                    Memory(
                        text.strip(),
                        float(score) if isinstance(score, int | float) else None,
                        str(item.get("source") or item.get("id") or ""),
                    )
                )
    return memories


def _source_name(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, dict):
        return str(source.get("title") or source.get("source") or source.get("id") or "")
    return ""
