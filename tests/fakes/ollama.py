"""Fake Ollama: its native API (/api/version, /api/tags, /api/ps, /api/show, /api/chat) and the
OpenAI-compatible /v1/models and /v1/chat/completions, which demand `Authorization: Bearer <api_key>` when
the fake is built with `api_key` (as llama.cpp's `--api-key` or a proxy in front of Ollama would).

`server` says which real server it imitates where they differ (set it when building the fake):
"ollama" (the default); "llama.cpp" (llama-server: `GET /props` reports `modalities.vision` of its model,
the first of `models`, and its Ollama-style /api/show always says capabilities ["completion"]); "other"
(llama-cpp-python, vLLM, LM Studio: neither /props nor /api/show exists). Models have capabilities as Ollama
reports them (`CAPABILITIES`: gemma3:12b and llava:7b see images, qwen2.5:7b does not). Images sent to a model
that cannot see are refused with the real server's error, unless `drops_images`: then the server ignores
them silently (as servers whose chat template drops image parts do) and a text-only model invents an answer.

`json_schema_support` is what /v1/chat/completions accepts as `response_format`: "full" (vLLM, llama.cpp,
LM Studio, Ollama), "json_object" (llama-cpp-python: `json_schema` is a 500 naming the field) or "none"
(a 400 for any JSON mode, as servers without one answer).

Token limits are honoured like the real servers do, counting a word as a token: a reply longer than
`options.num_predict` (Ollama) or `max_tokens` (OpenAI) stops there with done_reason / finish_reason "length",
and without a limit at the 4096-token context. `ramble` makes the model never stop on its own: the reply
repeats until a limit ends it.

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
import itertools
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

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
# What Ollama's /api/show lists as `capabilities` (real values); other names are text-only models.
CAPABILITIES: dict[str, list[str]] = {
    "gemma3:12b": ["completion", "vision"],
    "llava:7b": ["completion", "vision"],
    "qwen2.5:7b": ["completion", "tools", "insert"],
}
_TEXT_ONLY = ["completion"]
# The context the fake's models run with (as /api/ps reports): an answer without a token limit ends there.
CONTEXT_TOKENS = 4096
ServerKind = Literal["ollama", "llama.cpp", "other"]
JsonSchemaSupport = Literal["full", "json_object", "none"]
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
        server: ServerKind = "ollama",
        json_schema_support: JsonSchemaSupport = "full",
        drops_images: bool = False,
        ramble: bool = False,
    ) -> None:
        self.version = version
        self.server: ServerKind = server
        self.json_schema_support: JsonSchemaSupport = json_schema_support
        self.drops_images = drops_images
        self.ramble = ramble
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
        app.post("/api/show")(self.api_show)
        app.get("/props")(self.props)
        app.post("/api/chat")(self.api_chat)
        app.get("/v1/models")(self.v1_models)
        app.post("/v1/chat/completions")(self.v1_chat)

    def reset(self) -> None:
        """Also forget the chat script, the recorded chats and streams, stream normally again, and take images
        and every JSON mode again (`server` stays what the fake was built as)."""
        self.json_schema_support = "full"
        self.drops_images = False
        self.ramble = False
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

    async def api_show(self, request: Request) -> Any:
        if self.server == "other":
            return _not_found(self.server)
        body = await _json_body(request)
        model = body.get("model") or body.get("name") if isinstance(body, dict) else None
        if self.server == "llama.cpp":  # its Ollama-style shim answers the same for any model
            shim = {"modelfile": "", "parameters": "", "template": "", "model_info": "", "capabilities": ["completion"]}
            return {**shim, "details": _details(self.models[0])}
        if not model:
            return JSONResponse({"error": "model is required"}, status_code=400)
        if model not in self.models:
            return JSONResponse({"error": f"model '{model}' not found"}, status_code=404)
        return {
            "modelfile": f"FROM {model}\n",
            "parameters": "temperature 1",
            "template": "{{ .Prompt }}",
            "details": _details(model),
            "model_info": {"general.architecture": _info(model)["family"], "general.parameter_count": 12_187_079_280},
            "capabilities": capabilities_of(model),
            "modified_at": "2025-09-30T11:02:17.123456789+02:00",
        }

    async def props(self) -> Any:
        if self.server != "llama.cpp":
            return _not_found(self.server)
        model = self.models[0]
        return {
            "default_generation_settings": {"n_ctx": CONTEXT_TOKENS, "params": {"temperature": 0.8, "n_predict": -1}},
            "total_slots": 1,
            "model_path": f"/models/{model.replace(':', '-')}.gguf",
            "modalities": {"vision": "vision" in capabilities_of(model), "audio": False},
            "chat_template": "{{ messages }}",
            "build_info": "b6550-f0ce7f33",
        }

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
        has_images = any(isinstance(m, dict) and m.get("images") for m in body.get("messages") or [])
        if (blind := self._refuse_images(model, has_images)) is not None:
            return JSONResponse({"error": blind}, status_code=500)
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        pieces, reason = self._answer(body, options.get("num_predict"), wants_json=body.get("format") is not None)
        created = "2025-10-01T12:00:00.000000000Z"
        stats = {
            "done_reason": reason,
            "done": True,
            "total_duration": 1_200_000_000,
            "prompt_eval_count": 300,
            "eval_count": len(pieces),
        }
        if body.get("stream") is not True:
            return {
                "model": model,
                "created_at": created,
                "message": {"role": "assistant", "content": "".join(pieces)},
                **stats,
            }

        def line(text: str, **rest: Any) -> str:
            message = {"role": "assistant", "content": text}
            return json.dumps({"model": model, "created_at": created, "message": message, "done": False, **rest}) + "\n"

        events = self._stream_events(
            pieces,
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
        has_images = any(
            isinstance(part, dict) and part.get("type") == "image_url"
            for message in body.get("messages") or []
            for part in (message.get("content") if isinstance(message, dict) else None) or []
        )
        if (blind := self._refuse_images(model, has_images)) is not None:
            return _openai_error(500, blind, "server_error")
        if (refused := self._refuse_json_mode(body.get("response_format"))) is not None:
            return refused
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        wants_json = isinstance(body.get("response_format"), dict) and body["response_format"].get("type") != "text"
        pieces, reason = self._answer(body, limit, wants_json=wants_json)
        head = {"id": f"chatcmpl-{len(self.chats)}", "created": int(time.time()), "model": model}
        if body.get("stream") is not True:
            message = {"role": "assistant", "content": "".join(pieces)}
            return {
                **head,
                "object": "chat.completion",
                "system_fingerprint": "fp_ollama",
                "choices": [{"index": 0, "message": message, "finish_reason": reason}],
                "usage": {"prompt_tokens": 300, "completion_tokens": len(pieces), "total_tokens": 300 + len(pieces)},
            }

        def data(payload: dict[str, Any]) -> str:
            return f"data: {json.dumps(payload)}\n\n"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return data(
                {**head, "object": "chat.completion.chunk", "system_fingerprint": "fp_ollama", "choices": [choice]}
            )

        events = self._stream_events(
            pieces,
            first=[chunk({"role": "assistant"})],  # as OpenAI does: the role first, without text
            piece=lambda text: chunk({"content": text}),
            error=lambda error: data(
                {"error": {"message": error, "type": "server_error", "param": None, "code": None}}
            ),
            last=[chunk({}, reason), "data: [DONE]\n\n"],
        )
        return StreamingResponse(events, media_type="text/event-stream")

    async def _stream_events(
        self,
        pieces: list[str],
        *,
        first: Sequence[str] = (),
        piece: Callable[[str], str],
        error: Callable[[str], str],
        last: Sequence[str],
    ) -> AsyncIterator[str]:
        """The reply streamed word by word as the stream knobs say; `streamed` gets the pieces sent, however it ends
        (when the client goes away, Starlette cancels the stream as soon as it notices)."""
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

    def _answer(self, body: dict[str, Any], limit: Any, *, wants_json: bool) -> tuple[list[str], str]:
        """The reply as word pieces (a word is a token here) and why it ended: "stop", or "length" when it ran
        into the token limit (`limit`: num_predict or max_tokens, None or negative for none) or the context."""
        pieces = re.findall(r"\S+\s*|\s+", self._reply(body, wants_json=wants_json))
        cap = min(limit, CONTEXT_TOKENS) if isinstance(limit, int) and limit > 0 else CONTEXT_TOKENS
        if self.ramble and pieces:
            pieces = list(itertools.islice(itertools.cycle(pieces), cap + 1))
        if len(pieces) > cap:
            return pieces[:cap], "length"
        return pieces, "stop"

    def _refuse_images(self, model: str, has_images: bool) -> str | None:
        """The real server's error for images sent to a model that cannot see; None when they are taken or
        (with `drops_images`) silently ignored."""
        if not has_images or self.drops_images or "vision" in capabilities_of(model):
            return None
        if self.server == "llama.cpp":
            return "image input is not supported - hint: if this is unexpected, you may need to provide the mmproj"
        return "this model is missing data required for image input"

    def _refuse_json_mode(self, response_format: Any) -> JSONResponse | None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind in (None, "text") or self.json_schema_support == "full":
            return None
        if self.json_schema_support == "json_object":
            if kind == "json_object":
                return None
            # llama-cpp-python: its request model allows "text" and "json_object"; its error handler turns the
            # validation error into a 500 with the error's text.
            return _openai_error(
                500,
                "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                f"'msg': \"Input should be 'text' or 'json_object'\", 'input': '{kind}', "
                "'ctx': {'expected': \"'text' or 'json_object'\"}}",
                "internal_server_error",
            )
        return _openai_error(400, f"response_format type {kind!r} is not supported", "invalid_request_error")

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


def capabilities_of(model: str) -> list[str]:
    return CAPABILITIES.get(model, _TEXT_ONLY)


def _not_found(server: ServerKind) -> Any:
    if server == "ollama":
        return PlainTextResponse("404 page not found", status_code=404)  # Go's net/http
    return JSONResponse({"detail": "Not Found"}, status_code=404)  # FastAPI (llama-cpp-python, vLLM)


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
