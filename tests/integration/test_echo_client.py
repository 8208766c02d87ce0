"""The Echo Brain client against a fake Echo Brain over loopback: every memory-search reply shape the
real service sends, questions that never allow actions, and each way it can fail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from services.echo import EchoBrainClient, EchoBrainError, EchoBrainTimeout, EchoBrainUnreachable, memories_of
from tests.fakes import FakeEchoBrain


@pytest.fixture
def echo() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain(token="eb-token") as fake:
        yield fake


@pytest.fixture
async def client(echo: FakeEchoBrain) -> AsyncIterator[EchoBrainClient]:
    client = EchoBrainClient(echo.url, "eb-token", seconds=2.0)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.parametrize("shape", ["list", "results", "mcp"])
async def test_memory_search_reads_every_reply_shape(echo: FakeEchoBrain, client: EchoBrainClient, shape: str) -> None:
    echo.memory_shape = shape  # type: ignore[assignment]
    memories = await client.search_memory("What colour is Koopa's shell?", limit=5)
    assert [m.text for m in memories] == [
        "Koopa's shell is moss green with amber ridges.",
        "The harbour scenes are set at dusk.",
    ]
    assert memories[0].score == pytest.approx(0.91) and memories[0].source == "mem-1"
    call = echo.requests_to("/mcp")[-1]
    assert call.headers["authorization"] == "Bearer eb-token"


def test_plain_text_mcp_content_is_a_memory_and_unknown_shapes_are_none() -> None:
    reply = {"result": {"content": [{"type": "text", "text": "Koopa hates rain."}, {"type": "image"}]}}
    assert [m.text for m in memories_of(reply)] == ["Koopa hates rain."]
    assert memories_of({"status": "ok"}) == [] and memories_of(None) == []


async def test_a_question_never_allows_actions_and_keeps_its_session(
    echo: FakeEchoBrain, client: EchoBrainClient
) -> None:
    answer = await client.ask("What colour is Koopa's shell?", session_id="project-3")
    assert answer.answer.startswith("Koopa's shell is moss green")
    assert (answer.model, answer.sources, answer.confidence) == ("qwen2.5:14b", ("mem-1", "mem-2"), 0.82)
    assert echo.questions[-1] == {
        "question": "What colour is Koopa's shell?",
        "allow_actions": False,
        "session_id": "project-3",
    }
    assert (await client.health())["status"] == "healthy"


@pytest.mark.parametrize(("answer", "message"), [("", "empty answer"), (None, "empty answer")])
async def test_an_empty_or_missing_answer_is_an_error(
    echo: FakeEchoBrain, client: EchoBrainClient, answer: str | None, message: str
) -> None:
    echo.answer = answer
    with pytest.raises(EchoBrainError, match=message):
        await client.ask("Anything?")


async def test_failures_say_what_to_check(echo: FakeEchoBrain, client: EchoBrainClient) -> None:
    echo.fail_with = 500
    with pytest.raises(EchoBrainError, match="HTTP 500"):
        await client.ask("Anything?")
    echo.fail_with = None
    echo.latency = 5.0
    with pytest.raises(EchoBrainTimeout, match="within 2 s"):
        await client.ask("Anything?")
    echo.latency = 0.0
    wrong = EchoBrainClient(echo.url, "not-the-token", seconds=2.0)
    try:
        with pytest.raises(EchoBrainError, match="echo_brain_token"):
            await wrong.search_memory("shell")
    finally:
        await wrong.aclose()
    echo.down = True
    with pytest.raises(EchoBrainUnreachable, match="STUDIO_ECHO_BRAIN_URL"):
        await client.health()
