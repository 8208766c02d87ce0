"""Fake Ollama: its native API (/api/version, /api/tags, /api/ps, /api/chat) and the OpenAI-compatible
/v1/models and /v1/chat/completions, which demand `Authorization: Bearer <api_key>` when the fake is
built with `api_key` (as llama.cpp's `--api-key` or a proxy in front of Ollama would).

Chat knobs: `replies` is a FIFO script of reply texts; when it is empty, `reply_for(body)` computes one;
without either, a request asking for JSON gets a review that approves (high scores, solo) and any other
request gets "Yes." (the answer to a species question). Every chat body is recorded in `chats`.
Like the real servers, unknown models are a 404 and images that are not base64 (Ollama) or base64
data URLs (OpenAI) are a 400.

A chat body with `"stream": true` gets the reply word by word (each piece keeps its whitespace) in the
real streaming format: NDJSON for /api/chat, server-sent events ending with `data: [DONE]` for
/v1/chat/completions. Stream knobs: `stream_pause` seconds between pieces (to watch a reply arrive, or
stop it), `stream_cut` ends the stream before its done marker, `stream_error` sends that error after
the first piece instead of the rest. `streamed` records how many pieces each stream sent before it
ended or the client went away.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from services.llm import LlmClient
from tests.fakes.base import FakeServer

# Sizes as Ollama reports them for a Q4_K_M gemma3:12b (bytes).
_KNOWN: dict[str, dict[str, Any]] = {
    "gemma3:12b": {
        "size": 8149190253,
        "loaded_size": 11462254592,
        "digest": "f4031aab637d1ffa37b42570452ae0e4fad0314754d17ded67322e4b95836f8a",
        "family": "gemma3",
        "parameter_size": "12.2B",
    },
}
_DEFAULT_SIZE = 4_000_000_000
# The key the key-protected fake of the shared test fixtures demands.
TEST_API_KEY = "sk-good"

DEFAULT_REVIEW: dict[str, Any] = {
    "character_match": 9,
    "is_human": True,
    "gender_match": True,
    "solo": True,
    "clarity": 9,
    "completeness": "full",
    "training_value": 9,
    "has_anatomical_defects": False,
    "common_error_hits": [],
    "caption": "a character standing in a sunny meadow, full body, smiling",
    "issues": [],
}


class FakeOllama(FakeServer):
    def __init__(
        self,
        *,
        version: str = "0.12.3",
        models: list[str] | None = None,
        loaded: list[str] | None = None,
        size_vram: dict[str, int] | None = None,
        api_key: str | None = None,
        replies: list[str] | None = None,
        reply_for: Callable[[dict[str, Any]], str] | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
        stream_pause: float = 0.0,
        stream_cut: bool = False,
        stream_error: str | None = None,
    ) -> None:
        self.version = version
        self.models: list[str] = ["gemma3:12b", "llava:7b"] if models is None else models
        self.loaded: list[str] = ["gemma3:12b"] if loaded is None else loaded
        # VRAM use per loaded model; unset models are fully in VRAM. Smaller than the size = CPU offload.
        self.size_vram: dict[str, int] = dict(size_vram or {})
        self.api_key = api_key
        self.replies: list[str] = list(replies or [])
        self.reply_for = reply_for
        self.chats: list[dict[str, Any]] = []
        self.stream_pause = stream_pause
        self.stream_cut = stream_cut
        self.stream_error = stream_error
        self.streamed: list[int] = []
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/api/version")(self.api_version)
        app.get("/api/tags")(self.api_tags)
        app.get("/api/ps")(self.api_ps)
        app.post("/api/chat")(self.api_chat)
        app.get("/v1/models")(self.v1_models)
        app.post("/v1/chat/completions")(self.v1_chat)

    def reset(self) -> None:
        """Also forget the chat script, the recorded chats and streams, and stream normally again."""
        self.replies.clear()
        self.reply_for = None
        self.chats.clear()
        self.stream_pause = 0.0
        self.stream_cut = False
        self.stream_error = None
        self.streamed.clear()
        super().reset()

    async def api_version(self) -> dict[str, Any]:
        return {"version": self.version}

    async def api_tags(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-09-30T11:02:17.123456789+02:00",
                    "size": _info(name)["size"],
                    "digest": _info(name)["digest"],
                    "details": _details(name),
                }
                for name in self.models
            ]
        }

    async def api_ps(self) -> dict[str, Any]:
        models = []
        for name in self.loaded:
            size = _info(name)["loaded_size"]
            models.append(
                {
                    "name": name,
                    "model": name,
                    "size": size,
                    "digest": _info(name)["digest"],
                    "details": _details(name),
                    "expires_at": "2025-10-01T12:05:00.000000000+02:00",
                    "size_vram": self.size_vram.get(name, size),
                    "context_length": 4096,
                }
            )
        return {"models": models}

    async def api_chat(self, request: Request) -> Any:
        body = await _json_body(request)
        if not isinstance(body, dict):
            return JSONResponse({"error": "invalid request body"}, status_code=400)
        self.chats.append(body)
        model = body.get("model")
        if not model:
            return JSONResponse({"error": "model is required"}, status_code=400)
        if model not in self.models:
            return JSONResponse({"error": f'model "{model}" not found, try pulling it first'}, status_code=404)
        for message in body.get("messages") or []:
            images = message.get("images") if isinstance(message, dict) else None
            for image in images or []:
                if not _is_base64(image):
                    return JSONResponse({"error": "illegal base64 data at input byte 0"}, status_code=400)
        content = self._reply(body, wants_json=body.get("format") is not None)
        created = "2025-10-01T12:00:00.000000000Z"
        stats = {
            "done_reason": "stop",
            "done": True,
            "total_duration": 1_200_000_000,
            "prompt_eval_count": 300,
            "eval_count": 80,
        }
        if body.get("stream") is not True:
            return {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": content},
                **stats,
            }

        def line(text: str, **rest: Any) -> str:
            message = {"role": "assistant", "content": text}
            return json.dumps({"model": model, "created_at": created, "message": message, "done": False, **rest}) + "\n"

        events = self._stream_events(
            content,
            piece=line,
            error=lambda error: json.dumps({"error": error}) + "\n",
            last=[line("", **stats)],  # the done line carries no more text: the pieces were the reply
        )
        return StreamingResponse(events, media_type="application/x-ndjson")

    async def v1_models(self, request: Request) -> Any:
        if (refused := self._refuse_key(request)) is not None:
            return refused
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1759226537, "owned_by": "library"} for name in self.models
            ],
        }

    async def v1_chat(self, request: Request) -> Any:
        if (refused := self._refuse_key(request)) is not None:
            return refused
        body = await _json_body(request)
        if not isinstance(body, dict):
            return _openai_error(400, "invalid request body", "invalid_request_error")
        self.chats.append(body)
        model = body.get("model")
        if not model:
            return _openai_error(400, "model is required", "invalid_request_error")
        if model not in self.models:
            return _openai_error(404, f'model "{model}" not found, try pulling it first', "not_found_error")
        for message in body.get("messages") or []:
            parts = message.get("content") if isinstance(message, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict) and part.get("type") == "image_url" and not _is_data_url(part):
                    return _openai_error(400, "invalid image input", "invalid_request_error")
        content = self._reply(body, wants_json=body.get("response_format") is not None)
        head = {"id": f"chatcmpl-{len(self.chats)}", "created": int(time.time()), "model": model}
        if body.get("stream") is not True:
            return {
                **head,
                "object": "chat.completion",
                "system_fingerprint": "fp_ollama",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 300, "completion_tokens": 80, "total_tokens": 380},
            }

        def data(payload: dict[str, Any]) -> str:
            return f"data: {json.dumps(payload)}\n\n"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return data(
                {**head, "object": "chat.completion.chunk", "system_fingerprint": "fp_ollama", "choices": [choice]}
            )

        events = self._stream_events(
            content,
            first=[chunk({"role": "assistant"})],  # as OpenAI does: the role first, without text
            piece=lambda text: chunk({"content": text}),
            error=lambda error: data(
                {"error": {"message": error, "type": "server_error", "param": None, "code": None}}
            ),
            last=[chunk({}, "stop"), "data: [DONE]\n\n"],
        )
        return StreamingResponse(events, media_type="text/event-stream")

    async def _stream_events(
        self,
        content: str,
        *,
        first: Sequence[str] = (),
        piece: Callable[[str], str],
        error: Callable[[str], str],
        last: Sequence[str],
    ) -> AsyncIterator[str]:
        """The reply streamed word by word as the stream knobs say; `streamed` gets the pieces sent, however it ends
        (when the client goes away, Starlette cancels the stream as soon as it notices)."""
        pieces = re.findall(r"\S+\s*|\s+", content)
        if self.stream_error is not None:
            pieces = pieces[:1]
        sent = 0
        try:
            for event in first:
                yield event
            for text in pieces:
                if sent:
                    await self._pause()
                yield piece(text)
                sent += 1
            if self.stream_error is not None:
                yield error(self.stream_error)
            elif not self.stream_cut:
                for event in last:
                    yield event
        finally:
            self.streamed.append(sent)

    async def _pause(self) -> None:
        # Like the base's `latency`: stopping the server cuts a pause short instead of waiting for it.
        if self.stream_pause <= 0 or self._stopping is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.stream_pause)

    def _reply(self, body: dict[str, Any], *, wants_json: bool) -> str:
        if self.replies:
            return self.replies.pop(0)
        if self.reply_for is not None:
            return self.reply_for(body)
        return json.dumps(DEFAULT_REVIEW) if wants_json else "Yes."

    def _refuse_key(self, request: Request) -> JSONResponse | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return JSONResponse(
            {
                "error": {
                    "message": "Invalid API Key",
                    "type": "authentication_error",
                    "param": None,
                    "code": "invalid_api_key",
                }
            },
            status_code=401,
        )


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def _openai_error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": None}}, status_code=status)


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_data_url(part: dict[str, Any]) -> bool:
    image_url = part.get("image_url")
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str) or not url.startswith("data:image/"):
        return False
    header, _, data = url.partition(",")
    return header.endswith(";base64") and _is_base64(data)


def _info(name: str) -> dict[str, Any]:
    known = _KNOWN.get(name)
    if known:
        return known
    return {
        "size": _DEFAULT_SIZE,
        "loaded_size": int(_DEFAULT_SIZE * 1.3),
        "digest": f"{abs(hash(name)):064x}"[:64],
        "family": name.split(":")[0],
        "parameter_size": "7B",
    }


def _details(name: str) -> dict[str, Any]:
    info = _info(name)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": info["family"],
        "families": [info["family"]],
        "parameter_size": info["parameter_size"],
        "quantization_level": "Q4_K_M",
    }


@dataclass
class LlmServer:
    """A fake and a production client pointed at it, for tests run once per protocol."""

    fake: FakeOllama
    client: LlmClient
    api: str
