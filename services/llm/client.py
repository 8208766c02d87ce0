"""One async chat client for both LLM protocols the studio supports.

* Ollama's native ``POST /api/chat``: images are bare base64 strings, a JSON schema goes in ``format``.
* The OpenAI-compatible ``POST /v1/chat/completions`` (llama.cpp server, vLLM, LM Studio, Ollama's /v1):
  images are ``data:`` URLs inside content parts, a schema goes in ``response_format``.

`stream` reads the reply as it is generated: NDJSON lines from Ollama, server-sent events (``data:`` lines
ending with ``data: [DONE]``) from OpenAI-compatible servers.

Every answer is bounded: a token limit always travels (`DEFAULT_MAX_TOKENS` when the caller names none;
servers default to "until the context is full"), and `total_seconds` bounds the whole answer in time (the
client's `timeout` only bounds each wait for the next piece). An answer that hit either limit raises
AnswerCut, so nothing cut short passes as complete.

Every failure becomes an LlmError whose message names the server and what to do about it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx

from services.errors import StudioError
from services.llm.server_facts import (
    JSON_MODE_OF,
    JSON_MODES,
    SIGHTS,
    JsonMode,
    Sight,
    sight_from_props,
    sight_from_show,
    unverified,
)
from services.unreachable import why_unreachable

log = logging.getLogger(__name__)

LlmApi = Literal["ollama", "openai"]
Step = TypeVar("Step")
_APIS: tuple[LlmApi, ...] = ("ollama", "openai")
_CHAT_PATH: dict[LlmApi, str] = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}
_EXCERPT = 200
# The token limit sent when the caller names none: long enough for a story plan or a detailed answer, short
# enough that a model that never stops (a real failure: 27k characters in 683 s) is cut within minutes.
DEFAULT_MAX_TOKENS = 2048


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation; `images` are raw PNG/JPEG/WebP/GIF bytes sent with this turn."""

    role: Literal["system", "user", "assistant"]
    content: str
    images: tuple[bytes, ...] = ()


class LlmError(StudioError):
    """The LLM server could not answer; the message names the server and the fix."""


class AnswerCut(LlmError):
    """The answer stopped at a limit: `reason` "tokens" (the server hit the token limit) or "time" (the answer
    took longer than `total_seconds`); `limit` is that limit, `partial` the text received before the cut."""

    def __init__(
        self, reason: Literal["tokens", "time"], limit: float, *, partial: str = "", structured: bool = False
    ) -> None:
        cut = f"stopped at the {limit:g}-token limit" if reason == "tokens" else f"stopped after {limit:g} s"
        unusable = ", so its JSON is incomplete and cannot be used" if structured else ""
        super().__init__(f"the answer {cut}{unusable}")
        self.reason = reason
        self.limit = limit
        self.partial = partial


class _FormatRefused(LlmError):
    """The server refused the request's way of asking for JSON (see `JsonMode`); try the next one."""


@dataclass(frozen=True)
class _Event:
    """One event of a chat stream: its text, whether the answer is complete, whether it hit the token limit."""

    text: str
    done: bool = False
    cut: bool = False


def image_media_type(data: bytes) -> str:
    """The media type of an image from its magic bytes; LlmError when it is no format LLM servers read."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    raise LlmError(
        f"an image to send ({len(data)} bytes, starting {data[:8]!r}) is not PNG, JPEG, WebP or GIF — "
        "convert it to PNG first"
    )


class LlmClient:
    """Chat with one LLM server. `chat` and `stream` raise LlmError when the server cannot be used."""

    def __init__(
        self, base_url: str, api: Literal["ollama", "openai"], *, api_key: str | None = None, timeout: float = 90.0
    ) -> None:
        if api not in _APIS:
            raise ValueError(f"LLM api must be one of {_APIS}, not {api!r}")
        base = base_url.rstrip("/")
        # People often paste the OpenAI base URL itself (".../v1"); accept both forms.
        if api == "openai" and base.endswith("/v1"):
            base = base[: -len("/v1")]
        self.base_url = base
        self.api: LlmApi = api
        self.timeout = timeout
        headers = {"User-Agent": "anime-studio"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._has_key = bool(api_key)
        # trust_env=False: LLM servers live on the LAN; a desktop's HTTP(S)_PROXY would misroute them.
        self._http = httpx.AsyncClient(base_url=base, timeout=timeout, trust_env=False, headers=headers)

    @property
    def server_name(self) -> str:
        """How messages name the server kind."""
        return "Ollama" if self.api == "ollama" else "the OpenAI-compatible server"

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def chat(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.3,
        max_tokens: int | None = None,
        total_seconds: float | None = None,
    ) -> str:
        """The model's reply text (not parsed: with `schema` it should be JSON, but check). LlmError on failure,
        AnswerCut when the answer hit `max_tokens` (default `DEFAULT_MAX_TOKENS`) or took over `total_seconds`.

        With a schema, an OpenAI-compatible server that refuses `json_schema` is asked again with the next JSON
        mode it may accept (see `JsonMode`); what worked is remembered per server.
        """
        limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        try:
            async with asyncio.timeout(total_seconds):
                text, cut = await self._chat_once(model, messages, schema, temperature, limit)
        except TimeoutError:
            raise AnswerCut("time", total_seconds or 0, structured=schema is not None) from None
        if cut:
            raise AnswerCut("tokens", limit, partial=text, structured=schema is not None)
        return text

    async def _chat_once(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any] | None,
        temperature: float,
        limit: int,
    ) -> tuple[str, bool]:
        """(text, cut by the token limit) of one answer, trying JSON modes down from the remembered one."""
        if schema is None or self.api == "ollama":  # Ollama's `format` has taken a schema since 0.5
            return await self._post_chat(self._body(model, messages, schema, temperature, limit), model)
        known = JSON_MODE_OF.get(self.base_url)
        modes = JSON_MODES[JSON_MODES.index(known) :] if known else JSON_MODES
        *refusable, last = modes  # the last mode sends no response_format: nothing left to refuse
        for mode in refusable:
            try:
                answer = await self._post_chat(
                    _openai_body(model, messages, schema, temperature, limit, json_mode=mode), model
                )
            except _FormatRefused as exc:
                log.info("%s refused JSON mode %s, trying the next: %s", self.base_url, mode, exc)
                continue
            JSON_MODE_OF.put(self.base_url, mode)
            return answer
        answer = await self._post_chat(_openai_body(model, messages, schema, temperature, limit, json_mode=last), model)
        JSON_MODE_OF.put(self.base_url, last)
        return answer

    async def _post_chat(self, body: dict[str, Any], model: str) -> tuple[str, bool]:
        path = _CHAT_PATH[self.api]
        with self._transport_errors(path):
            response = await self._http.post(path, json=body)
        if not response.is_success:
            message = self._status_message(response, path, model)
            if "response_format" in body and _refuses_json_mode(response):
                raise _FormatRefused(message)
            raise LlmError(message)
        try:
            answer = response.json()
        except ValueError as exc:
            raise LlmError(
                f"{self.base_url}{path} answered HTTP {response.status_code} but not with JSON — is "
                f"{self.server_name} really at {self.base_url}?"
            ) from exc
        return self._reply_text(answer, path), _hit_token_limit(answer, self.api)

    async def stream(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        *,
        temperature: float = 0.3,
        max_tokens: int | None = None,
        total_seconds: float | None = None,
    ) -> AsyncIterator[str]:
        """The model's reply as it is generated: text pieces in order (no empty pieces). LlmError on failure.

        Every piece received is yielded; then AnswerCut is raised when the server stopped at the token limit
        (`max_tokens`, default `DEFAULT_MAX_TOKENS`), or as soon as `total_seconds` have passed since the request
        (reading stops and the response closes, so the server stops generating).

        A reply without text yields nothing: what an empty answer means is the caller's decision. To stop early,
        iterate inside ``contextlib.aclosing(...)`` or cancel the task: the HTTP response closes at once, and the
        server stops generating when it notices (after a bare ``break``, closing waits for garbage collection).
        """
        limit = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        deadline = None if total_seconds is None else asyncio.get_running_loop().time() + total_seconds
        body = {**self._body(model, messages, None, temperature, limit), "stream": True}
        path = _CHAT_PATH[self.api]
        read_event = self._ollama_event if self.api == "ollama" else self._openai_event
        received: list[str] = []

        async def within_time(step: Awaitable[Step]) -> Step:
            # One step at a time (the answer's start, then each line), never across a yield: a deadline spanning
            # a yield would cancel whatever the consumer awaits meanwhile.
            try:
                async with asyncio.timeout_at(deadline):
                    return await step
            except TimeoutError:
                # Leaving the stream's context closes the response: the server notices and stops generating.
                raise AnswerCut("time", total_seconds or 0, partial="".join(received)) from None

        with self._transport_errors(path):
            async with contextlib.AsyncExitStack() as stack:
                # A long prompt can keep the first byte waiting for minutes: that counts too.
                response = await within_time(stack.enter_async_context(self._http.stream("POST", path, json=body)))
                if not response.is_success:
                    await response.aread()  # _status_message reads the server's error from the body
                    raise LlmError(self._status_message(response, path, model))
                started = done = cut = False
                lines = response.aiter_lines()
                try:
                    while True:
                        try:
                            line = await within_time(anext(lines))
                        except StopAsyncIteration:
                            break
                        event = read_event(line, path)
                        if event is None:
                            continue
                        started, done, cut = True, done or event.done, cut or event.cut
                        if event.text:
                            received.append(event.text)
                            yield event.text
                except (httpx.ReadError, httpx.RemoteProtocolError) as exc:
                    # Once the server has streamed chat events, a broken connection is a crash (or a proxy
                    # giving up) mid-reply, not the wrong server at the URL.
                    if not started:
                        raise
                    raise LlmError(self._cut_off_message(path)) from exc
                if not done:
                    if not started:
                        raise LlmError(self._not_a_stream_message(path, "no chat events"))
                    raise LlmError(self._cut_off_message(path))
                if cut:
                    raise AnswerCut("tokens", limit, partial="".join(received))

    async def sees_images(self, model: str) -> Sight:
        """Whether `model` accepts images, as the server reports it (remembered per server and model for a while).

        llama.cpp's ``/props`` is asked first: its Ollama-style ``/api/show`` always says "completion" only.
        A server that reports neither way gives `sees` None. LlmError when the server cannot be reached.
        """
        key = (self.base_url, model)
        known = SIGHTS.get(key)
        if known is not None:
            return known
        sight, answered = None, True
        props, ok = await self._probe("GET", "/props", None, model)
        answered &= ok
        if props is not None:
            sight = sight_from_props(props, model, self.base_url)
        if sight is None:
            show, ok = await self._probe("POST", "/api/show", {"model": model}, model)
            answered &= ok
            if show is not None:
                sight = sight_from_show(show, model, self.base_url)
        sight = sight or unverified(self.base_url, model)
        if answered:  # a server error says nothing about the model: ask again next time
            SIGHTS.put(key, sight)
        return sight

    async def _probe(self, method: str, path: str, body: dict[str, Any] | None, model: str) -> tuple[Any, bool]:
        """(JSON answer or None, whether the server answered cleanly) of a capability request. A 404 or 405 is
        a clean "not this kind of server"; a 404 naming a missing model raises the chat's LlmError for it."""
        with self._transport_errors(path):
            response = await self._http.request(method, path, json=body)
        if response.status_code in (404, 405):
            if _MODEL_MISSING.search(_error_detail(response)):
                raise LlmError(self._status_message(response, path, model))
            return None, True
        if not response.is_success:
            log.info("%s%s answered HTTP %d: %s", self.base_url, path, response.status_code, _error_detail(response))
            return None, False
        try:
            return response.json(), True
        except ValueError:
            return None, True

    def _body(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        schema: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
    ) -> dict[str, Any]:
        build = _ollama_body if self.api == "ollama" else _openai_body
        return build(model, messages, schema, temperature, max_tokens)

    # --- streamed events -------------------------------------------------------------------------

    def _ollama_event(self, line: str, path: str) -> _Event | None:
        """One NDJSON line; None for a blank line."""
        if not line.strip():
            return None
        event = self._stream_event(line, path)
        message = event.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        done = event.get("done") is True
        if not isinstance(content, str) and not done:
            raise LlmError(self._not_a_stream_message(path, repr(_excerpt(line))))
        return _Event(content if isinstance(content, str) else "", done, _hit_token_limit(event, "ollama"))

    def _openai_event(self, line: str, path: str) -> _Event | None:
        """One server-sent-event line; None for a line that carries no data."""
        field, _, value = line.partition(":")
        if field != "data":
            return None  # blank lines between events, comments (": keep-alive"), event: and id: fields
        value = value.removeprefix(" ")
        if value == "[DONE]":
            return _Event("", done=True)
        event = self._stream_event(value, path)
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise LlmError(self._not_a_stream_message(path, repr(_excerpt(line))))
        # The first chunk may carry only the role, and a usage chunk has no choices at all.
        first = choices[0] if choices else None
        delta = first.get("delta") if isinstance(first, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        return _Event(content if isinstance(content, str) else "", cut=_hit_token_limit(event, "openai"))

    def _stream_event(self, text: str, path: str) -> dict[str, Any]:
        """One event of a chat stream as a JSON object; LlmError when it is none or reports an error."""
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise LlmError(self._not_a_stream_message(path, repr(_excerpt(text))))
        error = _server_error(event)
        if error is not None:
            raise LlmError(
                f"{self.base_url}{path} broke off the reply with an error: {_excerpt(error) or 'no details'} — "
                f"see the log of {self.server_name} at {self.base_url}"
            )
        return event

    def _not_a_stream_message(self, path: str, what: str) -> str:
        return (
            f"{self.base_url}{path} sent something that is not a chat stream ({what}) — is {self.server_name} "
            f"really at {self.base_url}?"
        )

    def _cut_off_message(self, path: str) -> str:
        return (
            f"the reply was cut off: {self.base_url}{path} closed the stream before the end — {self.server_name} "
            f"may have crashed or restarted, see its log at {self.base_url}"
        )

    # --- transport and errors --------------------------------------------------------------------

    @contextlib.contextmanager
    def _transport_errors(self, path: str) -> Iterator[None]:
        """httpx's failures to reach or talk to the server, as LlmErrors that say what to do."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise LlmError(
                f"the LLM server at {self.base_url} did not answer within {self.timeout:g} s — the model may "
                "still be loading or the GPU is busy; try again, or give the server more time"
            ) from exc
        except httpx.ConnectError as exc:
            raise LlmError(self._connect_message(exc)) from exc
        except httpx.HTTPError as exc:
            # The connection opened but broke (reset, garbled HTTP): usually another service on that port.
            raise LlmError(
                f"{type(exc).__name__} talking to {self.base_url}{path}: {exc or 'no details'} — is "
                f"{self.server_name} really at {self.base_url}?"
            ) from exc

    def _connect_message(self, exc: httpx.ConnectError) -> str:
        why = why_unreachable(exc)
        fix = "start it" + (" (ollama serve)" if self.api == "ollama" else "") + " or fix the device's llm_url"
        if why.kind == "refused":
            return f"connection refused by the LLM server at {self.base_url} — is {self.server_name} running? {fix}"
        if why.kind == "unknown_host":
            host = httpx.URL(self.base_url).host
            return f"cannot resolve the host name {host!r} of the LLM server {self.base_url} — fix the device's llm_url"
        return f"cannot connect to the LLM server at {self.base_url} ({why.reason}) — {fix}"

    def _status_message(self, response: httpx.Response, path: str, model: str) -> str:
        code, url = response.status_code, f"{self.base_url}{path}"
        detail = _error_detail(response)
        if code in (401, 403):
            if self._has_key:
                return f"HTTP {code} from {url}: the API key was refused ({detail}) — check llm_api_key"
            return f"HTTP {code} from {url}: the server wants an API key ({detail}) — set llm_api_key"
        if code == 404 and _MODEL_MISSING.search(detail):
            if self.api == "ollama":
                return f"model '{model}' is not on the Ollama server at {self.base_url} — pull it: ollama pull {model}"
            return (
                f"model '{model}' is not available on the OpenAI-compatible server at {self.base_url} — load it "
                f"there (for Ollama, pull it: ollama pull {model}) or choose another model"
            )
        if code == 404:
            return f"HTTP 404 from {url} ({detail}) — is {self.server_name} really at {self.base_url}?"
        return f"HTTP {code} from {url}: {detail} — see the log of {self.server_name} at {self.base_url}"

    def _reply_text(self, answer: Any, path: str) -> str:
        if self.api == "ollama":
            message = answer.get("message") if isinstance(answer, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            where = "message.content"
        else:
            choices = answer.get("choices") if isinstance(answer, dict) else None
            first = choices[0] if isinstance(choices, list) and choices else None
            message = first.get("message") if isinstance(first, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            where = "choices[0].message.content"
        if not isinstance(content, str):
            raise LlmError(
                f"{self.base_url}{path} answered without {where} — is {self.server_name} really at "
                f"{self.base_url}, and a version that supports chat?"
            )
        return content


# "model "x" not found, try pulling it first" (Ollama), "The model `x` does not exist" (OpenAI, vLLM).
_MODEL_MISSING = re.compile(r"model.*(not found|does not exist)|model_not_found", re.IGNORECASE)
# How servers refuse a JSON mode: llama-cpp-python answers 500 with a validation error on
# ('body', 'response_format', 'type'), older llama.cpp 500 'response_format type must be one of "text" or
# "json_object"', others 400 or 422 naming the field.
_JSON_MODE_WORDS = re.compile(r"response_format|json_schema|json_object", re.IGNORECASE)


def _refuses_json_mode(response: httpx.Response) -> bool:
    return response.status_code in (400, 422, 500, 501) and bool(_JSON_MODE_WORDS.search(_error_detail(response)))


def _hit_token_limit(answer: Any, api: LlmApi) -> bool:
    """Whether an answer (or stream event) ended at the token limit: Ollama's done_reason, OpenAI's
    finish_reason "length"."""
    if not isinstance(answer, dict):
        return False
    if api == "ollama":
        return answer.get("done_reason") == "length"
    choices = answer.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    return isinstance(first, dict) and first.get("finish_reason") == "length"


def _error_detail(response: httpx.Response) -> str:
    """The error text of a failed response: the server's error (see `_server_error`), or the raw body."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    error = _server_error(answer)
    return _excerpt(response.text if error is None else error) or "empty body"


def _server_error(answer: Any) -> str | None:
    """The error in a JSON answer or stream event: Ollama's {"error": "..."}, OpenAI's {"error": {"message"}}."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return " ".join(str(error.get(key)) for key in ("message", "code") if error.get(key))
    if isinstance(error, str):
        return error
    return None


def _excerpt(text: str) -> str:
    """`text` on one line, shortened to fit in a message."""
    text = " ".join(text.split())
    if len(text) > _EXCERPT:
        text = text[:_EXCERPT] + "…"
    return text


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ollama_body(
    model: str,
    messages: Sequence[ChatMessage],
    schema: dict[str, Any] | None,
    temperature: float,
    max_tokens: int,
) -> dict[str, Any]:
    wire: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.images:
            for image in message.images:
                image_media_type(image)  # fail here with a clear message, not with a server-side decode error
            item["images"] = [_b64(image) for image in message.images]
        wire.append(item)
    options: dict[str, Any] = {"temperature": temperature, "num_predict": max_tokens}
    body: dict[str, Any] = {"model": model, "messages": wire, "stream": False, "options": options}
    if schema is not None:
        body["format"] = schema
    return body


def _openai_body(
    model: str,
    messages: Sequence[ChatMessage],
    schema: dict[str, Any] | None,
    temperature: float,
    max_tokens: int,
    *,
    json_mode: JsonMode = "json_schema",
) -> dict[str, Any]:
    if schema is not None and json_mode == "prompt":
        messages = _with_schema_in_system(messages, schema)
    wire: list[dict[str, Any]] = []
    for message in messages:
        if not message.images:
            # Plain strings: some servers (older llama.cpp) accept content parts only on user turns.
            wire.append({"role": message.role, "content": message.content})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
        for image in message.images:
            url = f"data:{image_media_type(image)};base64,{_b64(image)}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        wire.append({"role": message.role, "content": parts})
    body: dict[str, Any] = {
        "model": model,
        "messages": wire,
        "stream": False,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    if schema is not None and json_mode == "json_schema":
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": _schema_name(schema), "schema": schema},
        }
    elif schema is not None and json_mode == "json_object":
        body["response_format"] = {"type": "json_object", "schema": schema}
    return body


def _with_schema_in_system(messages: Sequence[ChatMessage], schema: dict[str, Any]) -> list[ChatMessage]:
    """The messages with the schema described in the system message (the first one, as some chat templates
    allow no other), for servers that accept no JSON mode."""
    rule = "Answer with one JSON object only, no other text, that matches this JSON schema: " + json.dumps(
        schema, separators=(",", ":")
    )
    if messages and messages[0].role == "system":
        first = messages[0]
        return [ChatMessage("system", f"{first.content}\n\n{rule}", first.images), *messages[1:]]
    return [ChatMessage("system", rule), *messages]


def _schema_name(schema: dict[str, Any]) -> str:
    # OpenAI requires ^[a-zA-Z0-9_-]{1,64}$; the schema's own title (a pydantic model name) says what it is.
    title = re.sub(r"[^a-zA-Z0-9_-]", "_", str(schema.get("title") or ""))[:64]
    return title or "reply"
