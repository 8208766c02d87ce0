"""Story to scenes against the fake Ollama over loopback, on both chat protocols: plans, retries, failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.scenes.story import StoryContext, StoryPlanError, plan_scenes
from tests.fakes.ollama import LlmServer

MODEL = "gemma3:12b"

CONTEXT = StoryContext(
    project_name="Mushroom Saga",
    genre="adventure",
    premise="A plumber saves a kingdom.",
    storyline_title="The Lost Star",
    summary="Mario searches for the stolen star and finds Princess Peach guarding it.",
    tone="playful",
    themes=("friendship",),
    arcs=("Departure: Mario leaves home.",),
    world={"art_style": "cel-shaded anime", "location": "primary: Mushroom Kingdom"},
    characters=(("Mario", "1man, red cap, blue overalls"), ("Princess Peach", "1girl, pink dress, crown")),
)


def shot(shot_type: str, characters: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "shot_type": shot_type,
        "camera_angle": "eye_level",
        "description": f"a {shot_type} shot",
        "motion_prompt": "slow push in",
        "duration_seconds": 3,
        "characters": characters,
        **extra,
    }


def scene(title: str, characters: list[str], shots: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"{title}.",
        "location": "Mushroom Kingdom",
        "time_of_day": "morning",
        "mood": "hopeful",
        "characters": characters,
        "shots": shots,
    }


def three_scenes(second_scene_cast: list[str] | None = None) -> str:
    """A valid plan as the model would write it (names in its own case), as JSON text."""
    cast = second_scene_cast or ["princess peach", "Mario"]
    plan = {
        "scenes": [
            scene("Departure", ["mario"], [shot("establishing", []), shot("medium", ["mario"])]),
            scene(
                "The Castle",
                cast,
                [
                    shot("wide", cast),
                    shot("close-up", [cast[0]], dialogue_text="Who goes there?", speaking_character=cast[0].upper()),
                ],
            ),
            scene("The Star", ["Mario"], [shot("action", ["Mario"]), shot("close-up", ["Mario"])]),
        ]
    }
    return json.dumps(plan)


def roles(chat: dict[str, Any]) -> list[str]:
    return [message["role"] for message in chat["messages"]]


# --- tests -----------------------------------------------------------------------------------------


async def test_a_valid_plan_on_the_first_try(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [three_scenes()]
    plan = await plan_scenes(llm_server.client, MODEL, CONTEXT)

    assert [s.title for s in plan.scenes] == ["Departure", "The Castle", "The Star"]
    first, castle, _ = plan.scenes
    assert first.shots[0].shot_type == "establishing" and first.shots[0].characters == []
    # Names come back spelled as in the cast, whatever case the model used.
    assert first.characters == ["Mario"] and first.shots[1].characters == ["Mario"]
    assert castle.characters == ["Princess Peach", "Mario"]
    assert castle.shots[1].speaking_character == "Princess Peach"
    assert castle.shots[1].dialogue_text == "Who goes there?"

    [chat] = llm_server.fake.chats
    assert chat["model"] == MODEL and roles(chat) == ["system", "user"]
    assert "scene planner" in chat["messages"][0]["content"]
    assert "- Princess Peach: 1girl, pink dress, crown" in chat["messages"][1]["content"]
    if llm_server.api == "ollama":
        assert chat["options"] == {"temperature": 0.7, "num_predict": 4096}
        assert chat["format"]["title"] == "StoryPlan"
    else:
        assert (chat["temperature"], chat["max_tokens"]) == (0.7, 4096)
        assert chat["response_format"]["json_schema"]["name"] == "StoryPlan"
        assert chat["response_format"]["json_schema"]["schema"]["required"] == ["scenes"]


async def test_invalid_json_is_asked_again_with_the_problem(llm_server: LlmServer) -> None:
    broken = '```json\n{"scenes": [{"title": "Departure", "shots": [\n```'
    llm_server.fake.replies = [broken, three_scenes()]
    plan = await plan_scenes(llm_server.client, MODEL, CONTEXT)

    assert len(plan.scenes) == 3
    first, retry = llm_server.fake.chats
    assert roles(retry) == ["system", "user", "assistant", "user"]
    assert retry["messages"][:2] == first["messages"]
    assert retry["messages"][2]["content"] == broken
    assert "- the JSON is invalid (" in retry["messages"][3]["content"]
    assert "Answer again with the whole corrected plan" in retry["messages"][3]["content"]


async def test_an_unknown_character_is_asked_again_naming_the_cast(llm_server: LlmServer) -> None:
    llm_server.fake.replies = [three_scenes(["Luigi", "Mario"]), three_scenes()]
    plan = await plan_scenes(llm_server.client, MODEL, CONTEXT)

    assert "Luigi" not in json.dumps(plan.model_dump())
    _, retry = llm_server.fake.chats
    fix = retry["messages"][3]["content"]
    assert "- scene 2 ('The Castle'): unknown character 'Luigi' — the known characters are Mario, Princess Peach" in fix
    assert "- scene 2 ('The Castle'), shot 2: unknown speaking_character 'LUIGI'" in fix


async def test_three_invalid_answers_fail_naming_the_last_problems(llm_server: LlmServer) -> None:
    too_few = json.dumps({"scenes": [scene("Only", ["Mario"], [shot("medium", ["Mario"])])]})
    llm_server.fake.replies = ["Once upon a time...", three_scenes(["Bowser"]), too_few]
    with pytest.raises(StoryPlanError) as caught:
        await plan_scenes(llm_server.client, MODEL, CONTEXT)

    message = str(caught.value)
    assert message == (
        f"{MODEL} answered invalid scenes 3 times: the plan has 1 scene; plan 3 to 8 scenes — try again, or use a "
        "larger model"
    )
    assert caught.value.problems == ["the plan has 1 scene; plan 3 to 8 scenes"]
    assert len(llm_server.fake.chats) == 3
    # Each retry carries only the latest answer and its problems.
    third = llm_server.fake.chats[2]
    assert roles(third) == ["system", "user", "assistant", "user"]
    assert (
        "Bowser" in third["messages"][2]["content"] and "unknown character 'Bowser'" in third["messages"][3]["content"]
    )


async def test_fewer_attempts_give_up_sooner(llm_server: LlmServer) -> None:
    llm_server.fake.replies = ["no plan today", three_scenes()]
    with pytest.raises(StoryPlanError, match="answered invalid scenes once: the reply contains no JSON object"):
        await plan_scenes(llm_server.client, MODEL, CONTEXT, attempts=1)
    assert len(llm_server.fake.chats) == 1


async def test_a_server_that_is_down_fails_with_a_clear_message(llm_server: LlmServer) -> None:
    llm_server.fake.down = True
    with pytest.raises(StoryPlanError) as caught:
        await plan_scenes(llm_server.client, MODEL, CONTEXT)
    message = str(caught.value)
    assert message.startswith("could not plan the scenes of 'Mushroom Saga': connection refused by the LLM server")
    assert llm_server.fake.url in message and "fix the device's llm_url" in message
    assert caught.value.problems == []


async def test_a_missing_model_says_how_to_get_it(llm_server: LlmServer) -> None:
    with pytest.raises(StoryPlanError, match="ollama pull qwen3:32b"):
        await plan_scenes(llm_server.client, "qwen3:32b", CONTEXT)
    assert len(llm_server.fake.chats) == 1  # llm_server errors are not retried as if the answer were wrong
