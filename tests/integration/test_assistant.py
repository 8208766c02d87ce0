"""The assistant against a fake Echo Brain and a fake LLM (Ollama and OpenAI-compatible protocols), with the real
embedding model and vector store: answers grounded in the production's notes with their sources, streaming,
Stop, every failure kept in the thread as a visible message, enhancement applied only on Apply, narration."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.assistant import HOW_TO_CONFIGURE, AssistantNotConfigured
from services.bible.schemas import AppearanceData, CharacterChanges, CharacterDraft
from services.errors import Conflict, Invalid
from services.scenes import SceneDraft
from services.scenes.schemas import ShotChanges, ShotDraft
from studio.config import Settings
from studio.models import AssistantMessage
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA, PEACH
from tests.fakes.echo_brain import FakeEchoBrain
from tests.fakes.ollama import FakeOllama
from tests.ui.test_shell import eventually

FERRO = CharacterDraft(
    name="Captain Ferro",
    design_prompt="an old ferry captain with a white beard, navy peacoat and a brass pipe",
    appearance_data=AppearanceData(species="human", gender="male", key_colors={"coat": "navy"}),
)


@pytest.fixture
def echo() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain() as fake:
        yield fake


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


async def _studio(tmp_path: Path, **settings: Any) -> AsyncIterator[Studio]:
    studio = Studio.build(Settings(data_dir=tmp_path / "data", **settings))
    studio.migrate()
    await studio.start()
    try:
        yield studio
    finally:
        await studio.stop()


@pytest.fixture
async def with_echo(tmp_path: Path, echo: FakeEchoBrain) -> AsyncIterator[Studio]:
    async for studio in _studio(tmp_path, echo_brain_url=echo.url, assistant_timeout_seconds=2):
        yield studio


@pytest.fixture(params=["ollama", "openai"])
async def with_llm(request: pytest.FixtureRequest, tmp_path: Path, ollama: FakeOllama) -> AsyncIterator[Studio]:
    devices = [{"name": "rx9070", "llm_url": ollama.url, "llm_api": request.param}]
    async for studio in _studio(tmp_path, devices=devices, assistant_timeout_seconds=2):
        yield studio


async def production(studio: Studio) -> dict[str, Any]:
    project = await studio.projects.create(GALAXY, "tester")
    assert project.id is not None
    cast = {draft.name: await studio.characters.create(project.id, draft, "tester") for draft in (KOOPA, PEACH, FERRO)}
    scene = await studio.scenes.create(
        project.id,
        SceneDraft(title="The Bridge", description="Koopa King storms the castle bridge at dusk", mood="tense"),
        "tester",
    )
    koopa = cast["Koopa King"]
    shot = await studio.scenes.add_shot(
        scene.id,
        ShotDraft(description="Koopa on the bridge", motion_prompt="koopa walks", characters_present=[koopa.id]),
        "tester",
    )
    return {"project": project, "koopa": koopa, "scene": scene, "shot": shot}


def note_number(prompt: str, title: str) -> int:
    """The number the notes in a prompt give the entry titled `title`."""
    found = re.search(rf"\[(\d+)\] {re.escape(title)}\n", prompt)
    assert found, f"{title} is not among the notes:\n{prompt}"
    return int(found.group(1))


def system_of(chat: dict[str, Any]) -> str:
    return chat["messages"][0]["content"]


async def test_echo_brain_answers_about_a_character_citing_its_bible_entry(
    with_echo: Studio, echo: FakeEchoBrain
) -> None:
    made = await production(with_echo)
    project_id = made["project"].id
    assert with_echo.assistant.identity.name == "Echo Brain"
    echo.answer = "Koopa King's shell is green with spikes [1]."

    turn = await with_echo.assistant.ask(project_id, "What colour is Koopa's shell?", "tester")
    answer = await turn.wait()

    assert answer.state == "done", answer.text
    assert answer.text == "Koopa King's shell is green with spikes [1]."
    asked = echo.questions[-1]
    assert asked["allow_actions"] is False and asked["session_id"] == f"anime-studio-{project_id}"
    assert note_number(asked["question"], "Koopa King (character)") == 1  # the right character ranks first
    assert asked["question"].rstrip().endswith("Question: What colour is Koopa's shell?")
    assert answer.sources[0] == {
        "title": "Koopa King (character)",
        "link": f"/characters?project={project_id}&character={made['koopa'].id}",
        "kind": "character",
    }
    # After the production's notes: the sources Echo Brain names, its memories by their text.
    assert answer.sources[1:] == [
        {"title": "Koopa's shell is moss green with amber ridges.", "link": "", "kind": "memory"},
        {"title": "The harbour scenes are set at dusk.", "link": "", "kind": "memory"},
    ]
    thread = await with_echo.assistant.history(project_id)
    assert [(m.role, m.author) for m in thread] == [("user", "tester"), ("assistant", "Echo Brain")]
    assert await with_echo.assistant.history(None) == []  # the thread outside projects is another thread


async def test_the_llm_answers_when_echo_brain_is_not_set_up_streaming_with_the_earlier_turns(
    with_llm: Studio, ollama: FakeOllama
) -> None:
    made = await production(with_llm)
    project_id = made["project"].id
    assert with_llm.assistant.identity.name.startswith("gemma3:12b on ")

    def cite_ferro(body: dict[str, Any]) -> str:
        return f"Captain Ferro wears a navy peacoat [{note_number(system_of(body), 'Captain Ferro (character)')}]."

    ollama.reply_for = cite_ferro
    turn = await with_llm.assistant.ask(project_id, "What does the ferry captain wear?", "tester")
    answer = await turn.wait()
    assert answer.state == "done", answer.text
    assert answer.text == turn.text.strip()
    assert answer.sources[0]["title"] == "Captain Ferro (character)"
    assert len(answer.sources) == 1  # only the cited note
    chat = ollama.chats[-1]
    assert chat["stream"] is True and chat["model"] == "gemma3:12b"

    ollama.reply_for = None
    ollama.replies.append("Princess Peach has blonde hair.")
    second = await (await with_llm.assistant.ask(project_id, "And the princess?", "tester")).wait()
    assert second.state == "done"
    roles = [(m["role"], m["content"]) for m in ollama.chats[-1]["messages"][1:]]
    assert roles == [
        ("user", "What does the ferry captain wear?"),
        ("assistant", answer.text),
        ("user", "And the princess?"),
    ]


async def test_notes_follow_changes_to_the_production(with_llm: Studio, ollama: FakeOllama) -> None:
    made = await production(with_llm)
    project_id = made["project"].id
    await (await with_llm.assistant.ask(project_id, "Koopa's shell?", "tester")).wait()
    assert "green" in system_of(ollama.chats[-1])

    await with_llm.characters.update(
        made["koopa"].id, CharacterChanges(design_prompt="a huge turtle king with a purple shell"), "tester"
    )
    await (await with_llm.assistant.ask(project_id, "Koopa's shell?", "tester")).wait()
    notes = system_of(ollama.chats[-1])
    assert "purple shell" in notes and "spiked shell, in a neon-noir alley" not in notes


async def test_nobody_set_up_says_how_to_configure_without_a_canned_reply(tmp_path: Path) -> None:
    async for studio in _studio(tmp_path):
        assert studio.assistant.identity.kind == "none"
        with pytest.raises(AssistantNotConfigured) as refused:
            await studio.assistant.ask(None, "Hello?", "tester")
        assert str(refused.value) == HOW_TO_CONFIGURE and "STUDIO_ECHO_BRAIN_URL" in HOW_TO_CONFIGURE
        assert (await studio.assistant.status()).state == "not_configured"
        assert await studio.assistant.history(None) == []


async def test_bad_questions_are_refused_and_one_answer_at_a_time(with_llm: Studio, ollama: FakeOllama) -> None:
    with pytest.raises(Invalid):
        await with_llm.assistant.ask(None, "   ", "tester")
    with pytest.raises(Invalid):
        await with_llm.assistant.ask(None, "x" * 4001, "tester")
    ollama.stream_pause = 0.1
    ollama.replies.append("one two three four five six")
    turn = await with_llm.assistant.ask(None, "Count", "tester")
    with pytest.raises(Conflict):
        await with_llm.assistant.ask(None, "Again", "tester")
    assert (await turn.wait()).state == "done"


async def failed_answer(studio: Studio, question: str = "Are you there?") -> AssistantMessage:
    answer = await (await studio.assistant.ask(None, question, "tester")).wait()
    assert answer.state == "failed"
    return answer


async def test_echo_brain_failures_are_messages_in_the_thread_and_lose_nothing(
    with_echo: Studio, echo: FakeEchoBrain
) -> None:
    good = await (await with_echo.assistant.ask(None, "Hello", "tester")).wait()
    assert good.state == "done"

    echo.answer = ""
    assert "empty answer" in (await failed_answer(with_echo)).text
    echo.answer = "Fine."
    echo.fail_with = 500
    assert "HTTP 500" in (await failed_answer(with_echo)).text
    echo.fail_with = None
    echo.latency = 3.0  # beyond assistant_timeout_seconds=2
    assert "did not answer within 2 s" in (await failed_answer(with_echo)).text
    echo.latency = 0.0

    thread = await with_echo.assistant.history(None)
    assert [m.state for m in thread if m.role == "assistant"] == ["done", "failed", "failed", "failed"]
    assert thread[1].text == good.text


async def test_an_unreachable_assistant_and_a_broken_stream_fail_visibly(with_llm: Studio, ollama: FakeOllama) -> None:
    ollama.stream_cut = True
    assert "cut off" in (await failed_answer(with_llm)).text
    ollama.stream_cut = False
    ollama.replies.append("")
    assert "empty answer" in (await failed_answer(with_llm)).text
    ollama.down = True
    assert "LLM server" in (await failed_answer(with_llm)).text


async def test_stop_keeps_what_was_written(with_llm: Studio, ollama: FakeOllama) -> None:
    ollama.stream_pause = 0.05
    ollama.replies.append(" ".join(f"word{n}" for n in range(200)))
    turn = await with_llm.assistant.ask(None, "Tell me a long story", "tester")
    await eventually(lambda: "word2 " in turn.text, 10)
    turn.stop()
    answer = await turn.wait()
    assert answer.state == "stopped"
    assert answer.text.startswith("word0 word1 word2") and "word199" not in answer.text
    assert with_llm.assistant.running(None) is None


async def test_an_enhanced_motion_prompt_changes_the_shot_only_on_apply(with_llm: Studio, ollama: FakeOllama) -> None:
    made = await production(with_llm)
    shot = made["shot"]
    better = "Koopa King stomps across the bridge, shell spikes glinting; the camera dollies back slowly"
    ollama.replies.append(f'Here is the improved prompt:\n"{better}"\n\nNote: I kept the character.')

    turn = await with_llm.assistant.enhance("shot", str(shot.id), "tester")
    answer = await turn.wait()
    assert turn.question.text == "Enhance the motion prompt of scene 1, shot 1"
    assert answer.state == "done" and answer.text == better
    assert answer.action == {
        "target": "shot",
        "id": str(shot.id),
        "field": "motion_prompt",
        "label": "the motion prompt of scene 1, shot 1",
        "before": "koopa walks",
        "after": better,
        "status": "pending",
    }
    prompt = ollama.chats[-1]["messages"][-1]["content"]
    assert "koopa walks" in prompt and "Koopa King (character)" in system_of(ollama.chats[-1])
    assert (await with_llm.scenes.shot(shot.id)).motion_prompt == "koopa walks"  # nothing changes before Apply

    applied = await with_llm.assistant.apply(answer.id, "tester")  # type: ignore[arg-type]
    assert applied.action and applied.action["status"] == "applied"
    assert (await with_llm.scenes.shot(shot.id)).motion_prompt == better
    with pytest.raises(Conflict):
        await with_llm.assistant.apply(answer.id, "tester")  # type: ignore[arg-type]

    await with_llm.assistant.revert(answer.id, "tester")  # type: ignore[arg-type]
    assert (await with_llm.scenes.shot(shot.id)).motion_prompt == "koopa walks"


async def test_a_suggestion_for_a_prompt_edited_since_is_refused(with_llm: Studio, ollama: FakeOllama) -> None:
    made = await production(with_llm)
    koopa = made["koopa"]
    ollama.replies += ["turtle king, green spiked shell, red hair, horns", "same"]
    answer = await (await with_llm.assistant.enhance("character", str(koopa.id), "tester")).wait()
    assert answer.action and answer.action["field"] == "design_prompt"
    await with_llm.scenes.update_shot(made["shot"].id, ShotChanges(motion_prompt="koopa runs"), "tester")
    await with_llm.characters.update(koopa.id, CharacterChanges(design_prompt="edited by hand"), "tester")
    with pytest.raises(Conflict, match="changed in the meantime"):
        await with_llm.assistant.apply(answer.id, "tester")  # type: ignore[arg-type]
    assert (await with_llm.characters.get(koopa.id)).design_prompt == "edited by hand"
    discarded = await with_llm.assistant.discard(answer.id, "tester")  # type: ignore[arg-type]
    assert discarded.action and discarded.action["status"] == "discarded"


async def test_narrating_a_scene_gives_text_from_its_notes(with_echo: Studio, echo: FakeEchoBrain) -> None:
    made = await production(with_echo)
    echo.answer = "Sure! Here is the narration:\nAt dusk, Koopa King storms the bridge."
    answer = await (await with_echo.assistant.narrate(str(made["scene"].id), "tester")).wait()
    assert answer.state == "done" and answer.kind == "narrate"
    assert answer.text == "At dusk, Koopa King storms the bridge."  # the chatter in front is cleaned off
    question = echo.questions[-1]["question"]
    assert "The Bridge" in question and "koopa walks" in question and "Koopa King (character)" in question
