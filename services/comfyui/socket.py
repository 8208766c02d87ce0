"""WebSocket side of the ComfyUI protocol (comfyui-protocol.md §11): typed messages, reconnecting forever.

One socket per device worker sees every prompt it submitted; messages carry the prompt id so the worker
can route them. A dropped socket is reported (`Disconnected`), retried with exponential backoff, and the
reconnection announced (`Connected(reconnected=True)`) so the worker can resynchronise from `/queue` and
`/history` — events sent while we were away are lost for good.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from services.comfyui.outcome import ExecutionFailure, failure_from_event

log = logging.getLogger(__name__)

_PREVIEW_IMAGE = 1
_PREVIEW_WITH_METADATA = 4
_IMAGE_FORMATS = {1: "image/jpeg", 2: "image/png"}


@dataclass(frozen=True)
class Connected:
    reconnected: bool


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class PromptStarted:
    prompt_id: str


@dataclass(frozen=True)
class NodeStarted:
    prompt_id: str | None  # None when the server replays the running node after a reconnect
    node: str


@dataclass(frozen=True)
class Progress:
    prompt_id: str | None
    node: str | None
    value: int
    maximum: int


@dataclass(frozen=True)
class Preview:
    prompt_id: str | None
    image: bytes
    media_type: str


@dataclass(frozen=True)
class PromptFailed:
    prompt_id: str
    failure: ExecutionFailure


@dataclass(frozen=True)
class PromptInterrupted:
    prompt_id: str


@dataclass(frozen=True)
class PromptFinished:
    """`executing` with `node: null`: the prompt is over (success, error or interrupt) and in /history."""

    prompt_id: str


SocketMessage = (
    Connected
    | Disconnected
    | PromptStarted
    | NodeStarted
    | Progress
    | Preview
    | PromptFailed
    | PromptInterrupted
    | PromptFinished
)


class ComfySocket:
    def __init__(self, base_url: str, client_id: str, *, min_backoff: float = 0.1, max_backoff: float = 5.0) -> None:
        scheme = "wss" if base_url.startswith("https://") else "ws"
        self.url = f"{scheme}://{base_url.split('://', 1)[1].rstrip('/')}/ws?clientId={client_id}"
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # Type-1 previews carry no prompt id: they belong to the prompt of the latest progress/executing.
        self._current_prompt: str | None = None

    async def messages(self) -> AsyncIterator[SocketMessage]:
        """Yield messages forever, reconnecting after every drop; cancel the consumer to stop."""
        backoff = self._min_backoff
        connected_before = False
        while True:
            try:
                async with connect(
                    # A short close timeout: stopping the studio must not wait on a busy server's handshake.
                    self.url,
                    max_size=None,
                    open_timeout=10,
                    close_timeout=2,
                    user_agent_header="anime-studio",
                ) as ws:
                    await ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
                    backoff = self._min_backoff
                    yield Connected(reconnected=connected_before)
                    connected_before = True
                    async for frame in ws:
                        message = self._parse(frame)
                        if message is not None:
                            yield message
                reason = "the server closed the connection"
            except (OSError, WebSocketException, TimeoutError) as exc:
                reason = f"{exc.__class__.__name__}: {exc}"
            if connected_before:
                yield Disconnected(reason=reason)
            log.debug("ComfyUI socket %s: %s; retrying in %.1fs", self.url, reason, backoff)
            await asyncio.sleep(backoff)
            backoff = min(self._max_backoff, backoff * 2)

    def _parse(self, frame: str | bytes) -> SocketMessage | None:
        if isinstance(frame, bytes):
            return self._parse_binary(frame)
        try:
            envelope = json.loads(frame)
        except json.JSONDecodeError:
            return None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
            return None
        kind, data = envelope.get("type"), envelope["data"]
        prompt_id = data.get("prompt_id")
        prompt_id = str(prompt_id) if prompt_id is not None else None
        if prompt_id is not None and kind in ("executing", "progress", "execution_start"):
            self._current_prompt = prompt_id
        return _message(kind, data, prompt_id)

    def _parse_binary(self, frame: bytes) -> Preview | None:
        if len(frame) < 8:
            return None
        (event,) = struct.unpack(">I", frame[:4])
        if event == _PREVIEW_IMAGE:
            (image_format,) = struct.unpack(">I", frame[4:8])
            return Preview(self._current_prompt, frame[8:], _IMAGE_FORMATS.get(image_format, "image/jpeg"))
        if event == _PREVIEW_WITH_METADATA:
            (length,) = struct.unpack(">I", frame[4:8])
            try:
                metadata = json.loads(frame[8 : 8 + length])
            except (json.JSONDecodeError, UnicodeDecodeError):
                return None
            prompt_id = metadata.get("prompt_id") if isinstance(metadata, dict) else None
            media_type = metadata.get("image_type", "image/jpeg") if isinstance(metadata, dict) else "image/jpeg"
            return Preview(str(prompt_id) if prompt_id else self._current_prompt, frame[8 + length :], media_type)
        return None


def _message(kind: Any, data: dict[str, Any], prompt_id: str | None) -> SocketMessage | None:
    if kind == "executing":
        node = data.get("node")
        if node is None:
            return PromptFinished(prompt_id) if prompt_id else None
        return NodeStarted(prompt_id, str(node))
    if kind == "progress":
        try:
            return Progress(prompt_id, _str(data.get("node")), int(data.get("value", 0)), int(data.get("max", 0)))
        except (TypeError, ValueError):
            return None
    if prompt_id is None:
        return None
    if kind == "execution_start":
        return PromptStarted(prompt_id)
    if kind == "execution_error":
        return PromptFailed(prompt_id, failure_from_event(data))
    if kind == "execution_interrupted":
        return PromptInterrupted(prompt_id)
    return None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
