"""The assistant panel through NiceGUI's simulated user, with a fake LLM (streaming) or a fake Echo Brain: ask and
watch the answer stream with its sources, Stop, apply an enhanced motion prompt (nothing changes before Apply),
failures as messages in the thread, the thread kept across pages, and the how-to when no assistant is set up."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from services.scenes import SceneDraft
from services.scenes.schemas import ShotDraft
from tests.fakes.echo_brain import FakeEchoBrain
from tests.fakes.ollama import FakeOllama
from tests.ui.test_characters_page import KOOPA, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually


@pytest.fixture
def ollama(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    """A fake Ollama as device rx9070's LLM. Request it before `user`: main.py reads settings at start."""
    with FakeOllama() as fake:
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "rx9070", "llm_url": fake.url}]))
        yield fake


@pytest.fixture
def echo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain() as fake:
        monkeypatch.setenv("STUDIO_ECHO_BRAIN_URL", fake.url)
        yield fake


def cite(title: str) -> Any:
    """A reply that cites the note titled `title` by its number, as a grounded model would."""

    def reply(body: dict[str, Any]) -> str:
        notes = body["messages"][0]["content"]
        number = re.search(rf"\[(\d+)\] {re.escape(title)}\n", notes)
        assert number, notes
        return f"The shell is **green** with spikes [{number.group(1)}]. <script>alert(1)</script>"

    return reply


async def open_panel(user: User, path: str) -> None:
    await user.open(path)
    user.find(marker="assistant-button").click()
    await user.should_see(marker="assistant-thread", retries=WAIT)


async def ask(user: User, question: str) -> None:
    user.find(marker="assistant-input").type(question)
    user.find(marker="assistant-send").click()


async def test_ask_streams_an_answer_with_its_sources_and_it_stays_across_pages(ollama: FakeOllama, user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    ollama.reply_for = cite("Koopa King (character)")
    ollama.stream_pause = 0.05
    await open_panel(user, f"/characters?project={project_id}")
    assert element(user, "assistant-identity").text == "gemma3:12b on Ollama"
    assert element(user, "assistant-scope").text == "Mario Galaxy"

    await ask(user, "What colour is Koopa's shell?")
    await user.should_see("What colour is Koopa")  # (chat_message escapes the apostrophe)
    await user.should_see(marker="assistant-streaming", retries=WAIT)  # the answer arrives piece by piece
    await user.should_see(marker="assistant-answer", retries=WAIT)
    [answer] = visible(user, "assistant-answer")
    assert "<strong>green</strong>" in answer.props["innerHTML"]
    assert "script" not in answer.props["innerHTML"]  # sanitised on the server
    [source] = visible(user, "assistant-source")
    assert source.text == "Koopa King (character)"
    assert source.props["href"] == f"/characters?project={project_id}&character={koopa.id}"
    assert not visible(user, "assistant-streaming") and not visible(user, "assistant-stage")

    await user.open(f"/scenes?project={project_id}")  # the panel stays open and shows the same thread
    await user.should_see(marker="assistant-answer", retries=WAIT)
    await user.should_see("What colour is Koopa")  # (chat_message escapes the apostrophe)


async def test_stop_keeps_the_words_so_far(ollama: FakeOllama, user: User) -> None:
    ollama.stream_pause = 0.1
    ollama.replies.append(" ".join(f"word{n}" for n in range(100)))
    await open_panel(user, "/")
    assert element(user, "assistant-scope").text == "Studio (no project)"
    await ask(user, "Tell me a long story")
    await user.should_see(marker="assistant-stop", retries=WAIT)
    studio = running_studio()

    def written() -> str:
        turn = studio.assistant.running(None)
        return turn.text if turn is not None else ""

    await eventually(lambda: "word3 " in written(), 10)
    user.find(marker="assistant-stop").click()
    await user.should_see(marker="assistant-stopped", retries=WAIT)
    [answer] = visible(user, "assistant-answer")
    assert answer.content.startswith("word0 word1 word2 word3") and "word99" not in answer.content


async def test_an_enhanced_motion_prompt_is_applied_only_on_apply(ollama: FakeOllama, user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="The Bridge"), "tester")
    shot = await studio.scenes.add_shot(
        scene.id, ShotDraft(motion_prompt="koopa walks slowly", characters_present=[koopa.id]), "tester"
    )
    ollama.replies.append("koopa stomps slowly across the bridge, camera dollies back")
    await open_panel(user, f"/scenes?project={project_id}&scene={scene.id}")

    user.find(marker="assistant-enhance").click()
    await user.should_see(marker="assistant-choice", retries=WAIT)
    with user.client:  # type: ignore[union-attr]
        element(user, "assistant-choice").value = f"shot:{shot.id}"
    user.find(marker="assistant-choice-go").click()
    await user.should_see(marker="suggestion-diff", retries=WAIT)
    [diff] = visible(user, "suggestion-diff")
    assert (
        diff.content
        == "koopa <del>walks</del> <ins>stomps</ins> slowly <ins>across the bridge, camera dollies back</ins>"
    )
    assert (await studio.scenes.shot(shot.id)).motion_prompt == "koopa walks slowly"  # not before Apply

    user.find(marker="suggestion-apply").click()
    await user.should_see("Applied", retries=WAIT)
    after = "koopa stomps slowly across the bridge, camera dollies back"
    assert (await studio.scenes.shot(shot.id)).motion_prompt == after
    user.find(marker="undo").click()
    await user.should_see("Reverted", retries=WAIT)
    assert (await studio.scenes.shot(shot.id)).motion_prompt == "koopa walks slowly"


async def test_a_failing_assistant_is_a_message_in_the_thread(echo: FakeEchoBrain, user: User) -> None:
    echo.fail_with = 500
    await open_panel(user, "/")
    assert element(user, "assistant-identity").text == "Echo Brain"
    await ask(user, "Are you there?")
    await user.should_see(marker="assistant-failure", retries=WAIT)
    await user.should_see("answered /api/echo/ask with HTTP 500")
    echo.fail_with = None
    await ask(user, "And now?")
    await user.should_see(marker="assistant-answer", retries=WAIT)
    assert len(visible(user, "assistant-failure")) == 1  # the earlier failure stays in the thread


async def test_without_an_assistant_the_panel_says_how_to_set_one_up(user: User) -> None:
    await open_panel(user, "/")
    await user.should_see(marker="assistant-not-configured")
    await user.should_see("STUDIO_ECHO_BRAIN_URL")
    assert not visible(user, "assistant-input")
    assert isinstance(element(user, "assistant-identity"), ui.chip)


@pytest.fixture
def short_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers of at most 16 tokens. Request it before `user`: main.py reads settings at start."""
    monkeypatch.setenv("STUDIO_ASSISTANT_MAX_TOKENS", "16")


async def test_a_cut_answer_says_so_and_a_cleared_thread_comes_back_with_undo(
    ollama: FakeOllama, short_answers: None, user: User
) -> None:
    ollama.replies.append(" ".join(f"word{n}" for n in range(100)))
    await open_panel(user, "/")
    await ask(user, "Tell me everything")
    await user.should_see(marker="assistant-cut", retries=WAIT)
    [cut] = visible(user, "assistant-cut")
    assert cut.text == "Cut at the 16-token limit — raise STUDIO_ASSISTANT_MAX_TOKENS for longer answers"
    [answer] = visible(user, "assistant-answer")
    assert answer.content.startswith("word0 word1") and "word16" not in answer.content

    user.find(marker="assistant-clear").click()
    await user.should_see("Cleared the thread (2 messages)", retries=WAIT)
    assert not visible(user, "assistant-answer") and not visible(user, "assistant-cut")
    assert await running_studio().assistant.history(None) == []
    user.find(marker="undo").click()
    await user.should_see(marker="assistant-cut", retries=WAIT)
    await user.should_see("Tell me everything")
