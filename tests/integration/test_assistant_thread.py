"""The assistant's bounds and its thread's upkeep, against the fake LLM (both protocols) and the fake Echo Brain:
an answer cut by the token or time limit is kept and marked as cut (never as done) naming the setting; Echo
Brain's answer is bounded in time too; a question goes with only the newest whole turns that fit, enhancing
and narrating with none; the sources are the notes an answer cites and what Echo Brain names; a thread is
cleared (recorded, restorable) and the assistant starts afresh."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.errors import Conflict, NotFound
from studio.models import AssistantMessage
from studio.root import Studio
from tests.fakes.echo_brain import FakeEchoBrain
from tests.fakes.ollama import FakeOllama
from tests.integration.test_assistant import _studio, echo, ollama, production, with_echo, with_llm
from tests.integration.test_assistant_api import _client
from tests.integration.test_episodes_api import _refused
from tests.integration.test_scenes_api import _ok
from tests.ui.test_shell import eventually

__all__ = ["echo", "ollama", "with_echo", "with_llm"]  # fixtures shared with the service tests

WORDS = " ".join(f"word{n}" for n in range(100))
MAX_TOKENS = 16
HISTORY_CHARS = 1000


@pytest.fixture(params=["ollama", "openai"])
async def bounded(request: pytest.FixtureRequest, tmp_path: Path, ollama: FakeOllama) -> AsyncIterator[Studio]:
    """The LLM assistant with small bounds: 16 tokens, 1 s per answer, 1000 characters of earlier turns."""
    devices = [{"name": "rx9070", "llm_url": ollama.url, "llm_api": request.param}]
    async for studio in _studio(
        tmp_path,
        devices=devices,
        assistant_timeout_seconds=2,
        assistant_max_tokens=MAX_TOKENS,
        assistant_max_seconds=1.0,
        assistant_history_chars=HISTORY_CHARS,
    ):
        yield studio


async def asked(studio: Studio, question: str, project_id: int | None = None) -> AssistantMessage:
    return await (await studio.assistant.ask(project_id, question, "tester")).wait()


def token_limit(chat: dict[str, object]) -> object:
    options = chat.get("options")
    return options.get("num_predict") if isinstance(options, dict) else chat.get("max_tokens")


async def test_an_answer_cut_at_the_token_limit_is_kept_marked_cut_and_names_the_setting(
    bounded: Studio, ollama: FakeOllama
) -> None:
    ollama.replies.append(WORDS)
    answer = await asked(bounded, "Tell me everything")
    assert token_limit(ollama.chats[-1]) == MAX_TOKENS
    assert answer.state == "cut"
    assert answer.text == " ".join(f"word{n}" for n in range(MAX_TOKENS))  # what was written is kept
    assert answer.cut_reason == "cut at the 16-token limit — raise STUDIO_ASSISTANT_MAX_TOKENS for longer answers"

    made = await production(bounded)
    ollama.replies.append(WORDS)
    enhanced = await (await bounded.assistant.enhance("shot", str(made["shot"].id), "tester")).wait()
    assert enhanced.state == "cut" and enhanced.action is None  # half a prompt is no suggestion to apply


async def test_an_answer_still_streaming_at_the_time_limit_is_cut_there(bounded: Studio, ollama: FakeOllama) -> None:
    ollama.stream_pause = 0.2  # 16 words would take 3 s; the bound is 1 s
    ollama.replies.append(WORDS)
    answer = await asked(bounded, "Tell me slowly")
    assert answer.state == "cut"
    assert answer.text.startswith("word0 word1") and "word15" not in answer.text
    assert answer.cut_reason == "cut after 1 s — raise STUDIO_ASSISTANT_MAX_SECONDS to give answers more time"


async def test_a_cut_answer_is_shown_as_cut_by_the_api(bounded: Studio, ollama: FakeOllama) -> None:
    ollama.replies.append(WORDS)
    async for api in _client(bounded):
        turn = await _ok(await api.post("/api/assistant/ask", json={"question": "Everything?"}))
        assert (turn["answer"]["state"], turn["answer"]["cut_reason"]) == (
            "cut",
            "cut at the 16-token limit — raise STUDIO_ASSISTANT_MAX_TOKENS for longer answers",
        )


async def test_echo_brain_answers_are_bounded_in_time_too(tmp_path: Path, echo: FakeEchoBrain) -> None:
    async for studio in _studio(
        tmp_path, echo_brain_url=echo.url, assistant_timeout_seconds=5, assistant_max_seconds=0.5
    ):
        echo.latency = 2.0  # each wait is within the 5 s timeout; the whole answer is not within 0.5 s
        answer = await asked(studio, "Are you there?")
        assert answer.state == "failed"
        assert answer.text == (
            f"Echo Brain at {echo.url} did not finish its answer within 0.5 s (STUDIO_ASSISTANT_MAX_SECONDS)"
        )


async def test_only_the_newest_whole_turns_that_fit_go_with_a_question(bounded: Studio, ollama: FakeOllama) -> None:
    # One long answer (one "token" of 1500 characters) in the middle of a thread.
    for question, reply in (("Zero?", "Zero."), ("Long?", "x" * 1500), ("One?", "One."), ("Two?", "Two.")):
        ollama.replies.append(reply)
        assert (await asked(bounded, question)).state == "done"
    ollama.down = True
    assert (await asked(bounded, "Lost?")).state == "failed"
    ollama.down = False

    ollama.replies.append("Three.")
    await asked(bounded, "Three?")
    sent = [(m["role"], m["content"]) for m in ollama.chats[-1]["messages"][1:]]
    # The long turn does not fit in 1000 characters: it and all before it stay behind (no gap, no half turn),
    # and the failed turn goes with neither its question nor its failure.
    assert sent == [
        ("user", "One?"),
        ("assistant", "One."),
        ("user", "Two?"),
        ("assistant", "Two."),
        ("user", "Three?"),
    ]


async def test_enhancing_a_prompt_goes_without_the_chat(with_llm: Studio, ollama: FakeOllama) -> None:
    made = await production(with_llm)
    project_id = made["project"].id
    ollama.replies += ["Koopa wears a golden crown.", "Koopa King stomps forward; the camera tilts up"]
    await asked(with_llm, "What does Koopa wear?", project_id)
    answer = await (await with_llm.assistant.enhance("shot", str(made["shot"].id), "tester")).wait()
    assert answer.action is not None
    messages = ollama.chats[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert not any("crown" in m["content"] for m in messages)


async def test_echo_brain_narrates_outside_the_conversation(with_echo: Studio, echo: FakeEchoBrain) -> None:
    made = await production(with_echo)
    project_id = made["project"].id
    await asked(with_echo, "Hello?", project_id)
    assert echo.questions[-1]["session_id"] == f"anime-studio-{project_id}"
    echo.answer = "At dusk, Koopa King storms the bridge."
    await (await with_echo.assistant.narrate(str(made["scene"].id), "tester")).wait()
    narrating = echo.questions[-1]
    assert "session_id" not in narrating  # not in the chat's session, whose memory holds the chat
    assert "Conversation so far" not in narrating["question"] and "Hello?" not in narrating["question"]


async def test_sources_are_only_what_the_answer_drew_on(
    with_llm: Studio, ollama: FakeOllama, tmp_path: Path, echo: FakeEchoBrain
) -> None:
    made = await production(with_llm)
    ollama.replies.append("The notes do not say what Koopa likes to eat.")
    answer = await asked(with_llm, "What is Koopa's favourite food?", made["project"].id)
    assert answer.state == "done" and answer.sources == []  # six notes were searched, none was cited

    async for studio in _studio(tmp_path / "echo", echo_brain_url=echo.url):
        echo.answer, echo.cites = "The harbour is filmed at dusk.", ["mem-2", "wiki:Harbour"]
        answer = await asked(studio, "When is the harbour filmed?")
        assert answer.sources == [
            {"title": "The harbour scenes are set at dusk.", "link": "", "kind": "memory"},
            {"title": "wiki:Harbour", "link": "", "kind": "echo_brain"},
        ]  # mem-1 was found by the memory search, but Echo Brain did not draw on it


async def test_a_cleared_thread_starts_afresh_and_can_be_restored(with_echo: Studio, echo: FakeEchoBrain) -> None:
    made = await production(with_echo)
    project_id = made["project"].id
    first = await asked(with_echo, "Koopa's shell?", project_id)
    cleared, at = await with_echo.assistant.clear(project_id, "tester")
    assert cleared == 2 and at is not None
    assert await with_echo.assistant.history(project_id) == []
    assert await with_echo.assistant.clear(project_id, "tester") == (0, None)  # nothing left to clear

    await asked(with_echo, "Again?", project_id)
    again = echo.questions[-1]
    assert "Conversation so far" not in again["question"]
    assert again["session_id"] not in (None, f"anime-studio-{project_id}")  # Echo Brain's memory of it starts afresh

    assert await with_echo.assistant.restore(project_id, at, "tester") == 2
    thread = await with_echo.assistant.history(project_id)
    assert [m.text for m in thread] == ["Koopa's shell?", first.text, "Again?", echo.answer]
    summaries = [r.summary for r in reversed(await with_echo.audit.recent(event_prefix="assistant."))]
    assert summaries == [
        "tester cleared the assistant's thread of 'Mario Galaxy' (2 messages)",
        "tester restored the assistant's thread of 'Mario Galaxy' (2 messages)",
    ]
    with pytest.raises(NotFound):
        await with_echo.assistant.clear(424242, "tester")


async def test_clearing_through_the_api_and_not_while_answering(
    tmp_path: Path, database_url: str, ollama: FakeOllama
) -> None:
    devices = [{"name": "rx9070", "llm_url": ollama.url}]
    async for studio in _studio(tmp_path, devices=devices, database_url=database_url, assistant_timeout_seconds=2):
        await cleared_through_the_api(studio, ollama)


async def cleared_through_the_api(studio: Studio, ollama: FakeOllama) -> None:
    """Clear and restore a project's thread over REST; refused for a missing project and while answering."""
    made = await production(studio)
    project_id = made["project"].id
    await asked(studio, "Koopa's shell?", project_id)
    async for api in _client(studio):
        cleared = await _ok(await api.delete("/api/assistant/messages", params={"project_id": project_id}))
        assert cleared["cleared"] == 2
        assert await _ok(await api.get("/api/assistant/messages", params={"project_id": project_id})) == []
        body = {"project_id": project_id, "cleared_at": cleared["cleared_at"]}
        assert await _ok(await api.post("/api/assistant/messages/restore", json=body)) == {"restored": 2}
        assert len(await _ok(await api.get("/api/assistant/messages", params={"project_id": project_id}))) == 2
        assert "there is no project 99" in _refused(
            await api.delete("/api/assistant/messages", params={"project_id": 99}), 404
        )

        ollama.stream_pause = 0.1
        ollama.replies.append(WORDS)
        turn = await studio.assistant.ask(project_id, "A long story?", "tester")
        await eventually(lambda turn=turn: bool(turn.text), 10)
        assert "still answering" in _refused(
            await api.delete("/api/assistant/messages", params={"project_id": project_id}), 409
        )
        with pytest.raises(Conflict):
            await studio.assistant.clear(project_id, "tester")
        turn.stop()
        await turn.wait()
