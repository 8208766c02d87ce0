"""LlmClient.stream against the fake Ollama over loopback, on both chat protocols; a raw loopback server sends
the streams no real server would (or that only a crashing one does)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable

import pytest

from services.llm import ChatMessage, LlmClient, LlmError
from tests.fakes import FakeOllama
from tests.fakes.ollama import TEST_API_KEY, LlmServer

MODEL = "gemma3:12b"
HELLO = [ChatMessage("user", "Tell me a story.")]
# 20 words: at 0.2 s a piece, a stream that is not stopped takes ~4 s.
STORY = "Once upon a time a robot  walked to\nthe sea and decided to learn how to swim in the waves.\n"
PATH = {"ollama": "/api/chat", "openai": "/v1/chat/completions"}


def client_with_timeout(server: LlmServer, timeout: float) -> LlmClient:
    """Another client for the fixture's fake (the key is only sent to the OpenAI-compatible one)."""
    key = TEST_API_KEY if server.api == "openai" else None
    return LlmClient(server.fake.url, server.api, api_key=key, timeout=timeout)  # type: ignore[arg-type]


async def collect(pieces: AsyncIterator[str]) -> list[str]:
    return [piece async for piece in pieces]


async def eventually(check: Callable[[], object], within: float = 5.0) -> None:
    """Wait for something the fake does on its own thread (generous: only a hang should fail this)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the fake never got there"
        await asyncio.sleep(0.01)


# --- a healthy stream ------------------------------------------------------------------------------


async def test_the_reply_arrives_in_pieces_that_join_to_it(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [STORY]
    pieces = await collect(llm_server.client.stream(MODEL, HELLO))
    assert len(pieces) == 20 and "".join(pieces) == STORY
    assert pieces[:2] == ["Once ", "upon "]
    assert "robot  " in pieces and "to\n" in pieces  # the whitespace travels with the word before it
    [chat] = llm_server.fake.chats
    assert chat["stream"] is True and chat["model"] == MODEL
    assert chat["messages"] == [{"role": "user", "content": "Tell me a story."}]
    assert "format" not in chat and "response_format" not in chat
    assert llm_server.fake.streamed == [20]


async def test_a_reply_without_text_yields_nothing(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [""]
    assert await collect(llm_server.client.stream(MODEL, HELLO)) == []


async def test_temperature_and_max_tokens_travel_like_in_chat(llm_server: LlmServer) -> None:
    await collect(llm_server.client.stream(MODEL, HELLO, temperature=0.9, max_tokens=64))
    [chat] = llm_server.fake.chats
    if llm_server.api == "ollama":
        assert chat["options"] == {"temperature": 0.9, "num_predict": 64}
    else:
        assert chat["temperature"] == 0.9 and chat["max_tokens"] == 64


# --- stopping early --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["break", "aclose", "cancel"])
async def test_stopping_early_closes_the_connection_and_the_server_stops(llm_server: LlmServer, how: str) -> None:
    llm_server.fake.replies = [STORY]
    llm_server.fake.stream_pause = 0.2
    received: list[str] = []
    if how == "break":
        async for piece in llm_server.client.stream(MODEL, HELLO):
            received.append(piece)
            break
    elif how == "aclose":
        async with contextlib.aclosing(llm_server.client.stream(MODEL, HELLO)) as pieces:
            async for piece in pieces:
                received.append(piece)
                break
    else:
        first = asyncio.Event()

        async def consume() -> None:
            async for piece in llm_server.client.stream(MODEL, HELLO):
                received.append(piece)
                first.set()

        task = asyncio.create_task(consume())
        await first.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert received == ["Once "]
    # The fake's stream ends when it notices the closed connection, long before its 20th piece.
    await eventually(lambda: llm_server.fake.streamed)
    assert llm_server.fake.streamed[0] <= 2


# --- failures ----------------------------------------------------------------------------------------


async def test_a_missing_model_says_to_pull_it(llm_server: LlmServer) -> None:
    with pytest.raises(LlmError, match=r"model 'gemma3:27b' is not .* pull it: ollama pull gemma3:27b"):
        await collect(llm_server.client.stream("gemma3:27b", HELLO))


async def test_a_refused_api_key_says_to_check_it(shared_openai: FakeOllama) -> None:
    shared_openai.reset()
    client = LlmClient(shared_openai.url, "openai", api_key="sk-wrong")
    try:
        with pytest.raises(
            LlmError, match=rf"HTTP 401 from {shared_openai.url}/v1/chat/completions: the API key was refused"
        ):
            await collect(client.stream(MODEL, HELLO))
    finally:
        await client.aclose()
    assert shared_openai.chats == []


async def test_a_server_that_is_down_says_to_start_it() -> None:
    fake = FakeOllama()
    url = fake.start()
    fake.stop()
    for api, name, hint in (("ollama", "Ollama", " (ollama serve)"), ("openai", "the OpenAI-compatible server", "")):
        client = LlmClient(url, api, timeout=5)  # type: ignore[arg-type]
        try:
            with pytest.raises(LlmError) as caught:
                await collect(client.stream(MODEL, HELLO))
        finally:
            await client.aclose()
        assert str(caught.value) == (
            f"connection refused by the LLM server at {url} — is {name} running? start it{hint} or fix the "
            "device's llm_url"
        )


async def test_a_server_error_names_the_status_and_the_servers_words(llm_server: LlmServer) -> None:
    llm_server.fake.fail_with = 500
    with pytest.raises(LlmError) as caught:
        await collect(llm_server.client.stream(MODEL, HELLO))
    assert str(caught.value).startswith(
        f"HTTP 500 from {llm_server.fake.url}{PATH[llm_server.api]}: fake failure 500 — see the log of"
    )


@pytest.mark.parametrize("api", ["ollama", "openai"])
async def test_a_server_slower_than_the_timeout_says_so(api: str) -> None:
    # A fake of its own: the late request must not land in a shared fake's record during the next test.
    with FakeOllama(latency=1.0) as fake:
        client = LlmClient(fake.url, api, timeout=0.3)  # type: ignore[arg-type]
        try:
            with pytest.raises(LlmError, match=r"did not answer within 0.3 s — the model may still be loading"):
                await collect(client.stream(MODEL, HELLO))
        finally:
            await client.aclose()


async def test_a_stall_between_pieces_longer_than_the_timeout_says_so(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["Slow and steady."]
    llm_server.fake.stream_pause = 1.0
    client = client_with_timeout(llm_server, 0.3)
    received: list[str] = []
    try:
        with pytest.raises(LlmError, match=r"did not answer within 0.3 s — the model may still be loading"):
            async for piece in client.stream(MODEL, HELLO):
                received.append(piece)
    finally:
        await client.aclose()
    assert received == ["Slow "]
    await eventually(lambda: llm_server.fake.streamed)


async def test_a_stream_that_ends_before_its_done_marker_was_cut_off(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [STORY]
    llm_server.fake.stream_cut = True
    received: list[str] = []
    with pytest.raises(LlmError) as caught:
        async for piece in llm_server.client.stream(MODEL, HELLO):
            received.append(piece)
    assert "".join(received) == STORY  # every piece came; only the end was missing
    name = "Ollama" if llm_server.api == "ollama" else "the OpenAI-compatible server"
    assert str(caught.value) == (
        f"the reply was cut off: {llm_server.fake.url}{PATH[llm_server.api]} closed the stream before the end — "
        f"{name} may have crashed or restarted, see its log at {llm_server.fake.url}"
    )


async def test_an_error_in_the_stream_is_named(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [STORY]
    llm_server.fake.stream_error = "model runner has unexpectedly stopped"
    received: list[str] = []
    with pytest.raises(LlmError) as caught:
        async for piece in llm_server.client.stream(MODEL, HELLO):
            received.append(piece)
    assert received == ["Once "]
    assert str(caught.value).startswith(
        f"{llm_server.fake.url}{PATH[llm_server.api]} broke off the reply with an error: model runner has "
        "unexpectedly stopped — see the log of"
    )


# --- streams only a raw server sends -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_server(response: bytes, *, close_early: bool = False) -> AsyncIterator[str]:
    """A loopback HTTP server that answers every request with `response`, byte for byte, then closes the
    connection (with `close_early`, in the middle of a chunked body, as a crashing server would)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)  # unread request bytes would make the close a reset
        writer.write(response)
        await writer.drain()
        if not close_early:
            writer.write_eof()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


def http_response(content_type: str, body: bytes) -> bytes:
    """A response whose body ends when the connection closes (no length, no chunks)."""
    return f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n".encode() + body


async def test_openai_streams_may_carry_comments_other_fields_and_chunks_without_text() -> None:
    def data(delta: dict[str, str | None] | None) -> str:
        choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": None}]
        return f"data: {json.dumps({'object': 'chat.completion.chunk', 'choices': choices})}\n\n"

    body = (
        ": keep-alive\n\n"
        + data({"role": "assistant", "content": ""})
        + "event: message\nid: 1\n"
        + data({"content": "Hello"})
        + data({"content": None})
        + data({"content": " world"})
        + data(None)  # a usage chunk
        + "data: [DONE]\n\n"
    )
    async with raw_server(http_response("text/event-stream", body.encode())) as url:
        client = LlmClient(url, "openai")
        try:
            assert await collect(client.stream(MODEL, HELLO)) == ["Hello", " world"]
        finally:
            await client.aclose()


@pytest.mark.parametrize(
    ("api", "body", "what"),
    [
        ("ollama", b"<html><body>Open WebUI</body></html>\n", "'<html><body>Open WebUI</body></html>'"),
        ("ollama", b'{"status": "ok"}\n', '\'{"status": "ok"}\''),
        ("openai", b"data: {not json}\n\n", "'{not json}'"),
        ("openai", b"<html><body>Open WebUI</body></html>\n", "no chat events"),
    ],
)
async def test_something_that_is_no_chat_stream_asks_whether_the_server_is_right(
    api: str, body: bytes, what: str
) -> None:
    async with raw_server(http_response("text/html", body)) as url:
        client = LlmClient(url, api)  # type: ignore[arg-type]
        try:
            with pytest.raises(LlmError) as caught:
                await collect(client.stream(MODEL, HELLO))
        finally:
            await client.aclose()
    name = "Ollama" if api == "ollama" else "the OpenAI-compatible server"
    assert str(caught.value) == (
        f"{url}{PATH[api]} sent something that is not a chat stream ({what}) — is {name} really at {url}?"
    )


async def test_a_connection_that_breaks_mid_reply_was_cut_off() -> None:
    line = json.dumps({"model": MODEL, "message": {"role": "assistant", "content": "Once "}, "done": False}) + "\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = f"{len(line):x}\r\n{line}\r\n".encode()
    async with raw_server(head + chunk, close_early=True) as url:
        client = LlmClient(url, "ollama")
        received: list[str] = []
        try:
            with pytest.raises(LlmError, match=r"^the reply was cut off: .* Ollama may have crashed or restarted"):
                async for piece in client.stream(MODEL, HELLO):
                    received.append(piece)
        finally:
            await client.aclose()
    assert received == ["Once "]
