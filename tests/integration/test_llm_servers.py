"""LlmClient against a fake LLM server that behaves like the real ones: answers bounded in tokens and in time
(AnswerCut), and the JSON modes of OpenAI-compatible servers that refuse `json_schema` (llama-cpp-python)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import BaseModel

from services.datasets.vision import VisionReviewer
from services.llm import DEFAULT_MAX_TOKENS, AnswerCut, ChatMessage, LlmClient, LlmError
from tests.fakes import FakeOllama
from tests.fakes.ollama import TEST_API_KEY, LlmServer
from tests.integration.test_llm_stream import HELLO, MODEL, STORY, collect, eventually
from tests.integration.test_vision_review import IMAGE, MARIO, review_json


class Pitch(BaseModel):
    title: str
    scenes: int


SCHEMA = Pitch.model_json_schema()
PITCH = json.dumps({"title": "The Sea", "scenes": 3})
HELLO_WIRE = {"role": "user", "content": "Tell me a story."}


async def stream_until_cut(pieces: AsyncIterator[str], received: list[str]) -> AnswerCut:
    with pytest.raises(AnswerCut) as caught:
        async for piece in pieces:
            received.append(piece)
    return caught.value


# --- every answer is bounded in tokens -----------------------------------------------------------------------


async def test_every_answer_carries_a_token_limit(llm_server: LlmServer) -> None:
    await llm_server.client.chat(MODEL, HELLO)
    await collect(llm_server.client.stream(MODEL, HELLO))
    for chat in llm_server.fake.chats:
        sent = chat["options"]["num_predict"] if llm_server.api == "ollama" else chat["max_tokens"]
        assert sent == DEFAULT_MAX_TOKENS


async def test_a_stream_that_hits_the_token_limit_yields_every_piece_then_says_so(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [STORY]
    received: list[str] = []
    cut = await stream_until_cut(llm_server.client.stream(MODEL, HELLO, max_tokens=5), received)
    assert received == ["Once ", "upon ", "a ", "time ", "a "]
    assert (cut.reason, cut.limit, cut.partial) == ("tokens", 5, "Once upon a time a ")
    assert str(cut) == "the answer stopped at the 5-token limit"


async def test_a_model_that_never_stops_is_cut_at_the_default_limit(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["and then "]
    llm_server.fake.ramble = True
    received: list[str] = []
    cut = await stream_until_cut(llm_server.client.stream(MODEL, HELLO), received)
    assert len(received) == DEFAULT_MAX_TOKENS
    assert (cut.reason, cut.limit) == ("tokens", DEFAULT_MAX_TOKENS)


async def test_a_chat_answer_cut_at_the_token_limit_is_not_passed_off_as_complete(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [STORY, '{"title": "The Sea", "scenes": 3}']
    with pytest.raises(AnswerCut) as caught:
        await llm_server.client.chat(MODEL, HELLO, max_tokens=3)
    assert (caught.value.reason, caught.value.partial) == ("tokens", "Once upon a ")
    with pytest.raises(AnswerCut, match=r"^the answer stopped at the 2-token limit, so its JSON is incomplete"):
        await llm_server.client.chat(MODEL, HELLO, schema=SCHEMA, max_tokens=2)


# --- and in time ---------------------------------------------------------------------------------------------


async def test_a_stream_past_its_total_seconds_stops_and_the_server_stops_too(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["and then "]
    llm_server.fake.ramble = True
    llm_server.fake.stream_pause = 0.05
    received: list[str] = []
    started = time.monotonic()
    cut = await stream_until_cut(llm_server.client.stream(MODEL, HELLO, total_seconds=0.3), received)
    assert time.monotonic() - started < 1.0
    assert (cut.reason, cut.limit, str(cut)) == ("time", 0.3, "the answer stopped after 0.3 s")
    assert 2 <= len(received) <= 8 and cut.partial == "".join(received)
    # The response was closed: the fake stops streaming as soon as it notices, far from its 2048 pieces.
    await eventually(lambda: llm_server.fake.streamed)
    assert llm_server.fake.streamed[0] <= len(received) + 2


@pytest.mark.parametrize("api", ["ollama", "openai"])
@pytest.mark.parametrize("how", ["chat", "stream"])
async def test_an_answer_that_has_not_started_within_its_total_seconds_is_cut(api: str, how: str) -> None:
    # The server takes its time before the first byte (a long prompt being read). A fake of its own: the late
    # request must not land in a shared fake's record during the next test.
    with FakeOllama(latency=2.0) as fake:
        client = LlmClient(fake.url, api, timeout=5)  # type: ignore[arg-type]
        started = time.monotonic()
        try:
            with pytest.raises(AnswerCut, match=r"^the answer stopped after 0.2 s$") as caught:
                if how == "chat":
                    await client.chat(MODEL, HELLO, total_seconds=0.2)
                else:
                    await collect(client.stream(MODEL, HELLO, total_seconds=0.2))
        finally:
            await client.aclose()
        assert caught.value.reason == "time" and time.monotonic() - started < 1.5


# --- JSON modes ------------------------------------------------------------------------------------------------


@pytest.fixture
def llama_cpp_python() -> Iterator[FakeOllama]:
    """An OpenAI-compatible server like llama-cpp-python's: JSON mode, but no json_schema; reports nothing."""
    with FakeOllama(server="other", json_schema_support="json_object") as fake:
        yield fake


async def test_a_server_that_refuses_json_schema_is_asked_with_json_object_and_the_schema(
    llama_cpp_python: FakeOllama,
) -> None:
    llama_cpp_python.replies = [PITCH, PITCH]
    client = LlmClient(llama_cpp_python.url, "openai")
    try:
        assert await client.chat(MODEL, HELLO, schema=SCHEMA) == PITCH
        refused, accepted = llama_cpp_python.chats
        assert refused["response_format"]["type"] == "json_schema"
        assert accepted["response_format"] == {"type": "json_object", "schema": SCHEMA}
        # What worked is remembered: the next request goes straight to JSON mode, even from another client.
        again = LlmClient(llama_cpp_python.url, "openai")
        try:
            assert await again.chat(MODEL, HELLO, schema=SCHEMA) == PITCH
        finally:
            await again.aclose()
    finally:
        await client.aclose()
    assert [chat["response_format"]["type"] for chat in llama_cpp_python.chats] == [
        "json_schema",
        "json_object",
        "json_object",
    ]


async def test_a_server_without_json_mode_gets_the_schema_in_the_system_message() -> None:
    with FakeOllama(server="other", json_schema_support="none") as fake:
        fake.replies = [PITCH, PITCH]
        client = LlmClient(fake.url, "openai")
        try:
            briefed = [ChatMessage("system", "You pitch stories."), *HELLO]
            assert await client.chat(MODEL, briefed, schema=SCHEMA) == PITCH
            assert await client.chat(MODEL, HELLO, schema=SCHEMA) == PITCH
        finally:
            await client.aclose()
    schema_schema, json_object, described, remembered = fake.chats
    assert schema_schema["response_format"]["type"] == "json_schema"
    assert json_object["response_format"]["type"] == "json_object"
    rule = "Answer with one JSON object only, no other text, that matches this JSON schema: "
    compact = json.dumps(SCHEMA, separators=(",", ":"))
    assert "response_format" not in described
    # One system message, first: some chat templates allow no other.
    assert described["messages"][0] == {"role": "system", "content": f"You pitch stories.\n\n{rule}{compact}"}
    assert [m["role"] for m in described["messages"]] == ["system", "user"]
    assert "response_format" not in remembered
    assert remembered["messages"] == [{"role": "system", "content": rule + compact}, HELLO_WIRE]


async def test_the_vision_review_works_on_a_server_without_json_mode_and_validates_the_reply() -> None:
    with FakeOllama(server="other", json_schema_support="none") as fake:
        fake.replies = ["Looks great!", review_json()]
        client = LlmClient(fake.url, "openai")
        try:
            outcome = await VisionReviewer(client, MODEL).review(IMAGE, MARIO)
        finally:
            await client.aclose()
    assert outcome.status == "approved" and outcome.attempts == 2  # the prose answer was caught and asked again
    assert outcome.reasons[-1].startswith(f"not verified that {MODEL} sees images: the server at {fake.url}")


async def test_other_server_errors_are_not_taken_for_a_refused_json_mode(shared_openai: FakeOllama) -> None:
    shared_openai.reset()
    shared_openai.fail_with = 500
    client = LlmClient(shared_openai.url, "openai", api_key=TEST_API_KEY)
    try:
        with pytest.raises(LlmError, match=r"^HTTP 500 from .*: fake failure 500"):
            await client.chat(MODEL, HELLO, schema=SCHEMA)
        assert len(shared_openai.requests) == 1  # asked once, not once per JSON mode
    finally:
        await client.aclose()
        shared_openai.reset()


async def test_the_fake_refuses_json_modes_like_the_real_servers(llama_cpp_python: FakeOllama) -> None:
    def body(response_format: dict[str, object]) -> dict[str, object]:
        return {"model": MODEL, "messages": [HELLO_WIRE], "response_format": response_format}

    schema_format = {"type": "json_schema", "json_schema": {"name": "pitch", "schema": SCHEMA}}
    async with httpx.AsyncClient(base_url=llama_cpp_python.url) as http:
        refused = await http.post("/v1/chat/completions", json=body(schema_format))
        assert refused.status_code == 500
        error = refused.json()["error"]
        assert error["type"] == "internal_server_error"
        assert "('body', 'response_format', 'type')" in error["message"] and "'json_schema'" in error["message"]
        accepted = await http.post("/v1/chat/completions", json=body({"type": "json_object", "schema": SCHEMA}))
        assert accepted.status_code == 200
        llama_cpp_python.json_schema_support = "none"
        none = await http.post("/v1/chat/completions", json=body({"type": "json_object"}))
        assert none.status_code == 400 and "response_format" in none.json()["error"]["message"]
