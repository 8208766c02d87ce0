"""Story to scenes against the fake Ollama over loopback, on both chat protocols: plans, the schema a grammar
enforces, retries (a stray name said once, a plan cut at the token limit), failures (a slow model names its
setting)."""

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
        schema = chat["format"]
    else:
        assert (chat["temperature"], chat["max_tokens"]) == (0.7, 4096)
        assert chat["response_format"]["json_schema"]["name"] == "StoryPlan"
        schema = chat["response_format"]["json_schema"]["schema"]
        assert schema["required"] == ["scenes"]
    # What a grammar built from the schema enforces: required text is never empty, and a shot lasts whole
    # seconds within bounds (llama.cpp bounds an integer, not a number). No maxLength: it breaks grammars.
    planned_scene, planned_shot = schema["$defs"]["PlannedScene"], schema["$defs"]["PlannedShot"]["properties"]
    assert planned_scene["properties"]["title"] == {"minLength": 1, "title": "Title", "type": "string"}
    assert planned_shot["description"]["minLength"] == planned_shot["motion_prompt"]["minLength"] == 1
    duration = planned_shot["duration_seconds"]
    assert (duration["type"], duration["minimum"], duration["maximum"]) == ("integer", 1, 10)
    assert "maxLength" not in json.dumps(schema)


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
    # One stray name in a scene, its shots and as a speaker is one problem naming the places, not four.
    assert [line for line in fix.splitlines() if "luigi" in line.lower()] == [
        "- unknown character 'Luigi' in scene 2 ('The Castle') (its characters, shot 1, shot 2 and shot 2's "
        "speaking_character) — the known characters are Mario, Princess Peach"
    ]


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


async def test_a_plan_cut_at_the_token_limit_is_asked_again_shorter(llm_server: LlmServer) -> None:
    endless = json.loads(three_scenes())
    endless["scenes"][0]["description"] = " ".join(["and then"] * 3000)  # more words than the 4096-token limit
    too_long = json.dumps(endless)
    llm_server.fake.replies = [too_long, three_scenes()]
    plan = await plan_scenes(llm_server.client, MODEL, CONTEXT)

    assert len(plan.scenes) == 3
    _, retry = llm_server.fake.chats
    written = retry["messages"][2]["content"]  # the answer as far as the server wrote it
    assert too_long.startswith(written) and len(written) < len(too_long)
    fix = retry["messages"][3]["content"]
    assert "- the plan stopped at the 4096-token limit before its JSON ended; write shorter descriptions" in fix


async def test_a_model_slower_than_the_plan_timeout_names_the_setting(llm_server: LlmServer) -> None:
    llm_server.fake.latency = 2.0
    with pytest.raises(StoryPlanError) as caught:
        await plan_scenes(llm_server.client, MODEL, CONTEXT, seconds=0.3)
    assert str(caught.value) == (
        f"{MODEL} did not finish a plan of 'Mushroom Saga' within 0.3 s — raise STUDIO_STORY_TIMEOUT_SECONDS, or use "
        "a faster model"
    )
    assert len(llm_server.fake.chats) <= 1  # not asked again: a second try would take as long


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
