"""Story to scenes without a model: the plan's schema, the checks against the cast, and the prompt."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from services.scenes.story import (
    CAMERA_ANGLES,
    PLAN_SCHEMA,
    SHOT_TYPES,
    TIMES_OF_DAY,
    PlannedScene,
    PlannedShot,
    PlanReplyError,
    StoryContext,
    StoryPlan,
    parse_plan,
    planner_messages,
    validate_against_cast,
)
from studio.models.story import Character, Project, Storyline, WorldSettings

CAST = {"Mario", "Princess Peach"}


def shot(**overrides: Any) -> dict[str, Any]:
    return {
        "shot_type": "medium",
        "camera_angle": "eye_level",
        "description": "Mario looks at the castle",
        "motion_prompt": "slow push in, character nods",
        "duration_seconds": 3,
        "characters": ["Mario"],
        **overrides,
    }


def scene(title: str = "Arrival", shots: list[dict[str, Any]] | None = None, **overrides: Any) -> dict[str, Any]:
    return {
        "title": title,
        "description": "Mario reaches the castle gate.",
        "location": "castle gate",
        "time_of_day": "dusk",
        "mood": "hopeful",
        "characters": ["Mario"],
        "shots": shots if shots is not None else [shot(shot_type="establishing", characters=[]), shot()],
        **overrides,
    }


def plan(*scenes: dict[str, Any]) -> StoryPlan:
    return StoryPlan.model_validate({"scenes": list(scenes) or [scene("One"), scene("Two"), scene("Three")]})


# --- schema bounds ---------------------------------------------------------------------------------


def test_the_vocabulary_is_the_studio_s() -> None:
    assert SHOT_TYPES == ("establishing", "wide", "medium", "close-up", "extreme_close-up", "action")
    assert CAMERA_ANGLES == ("eye_level", "low", "high", "dutch", "overhead", "over_the_shoulder")
    assert TIMES_OF_DAY == ("dawn", "morning", "noon", "afternoon", "evening", "dusk", "night")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"shot_type": "dolly"}, "shot_type"),
        ({"camera_angle": "worm"}, "camera_angle"),
        ({"description": ""}, "description"),
        ({"description": "x" * 501}, "description"),
        ({"motion_prompt": "   "}, "motion_prompt"),
        ({"motion_prompt": "x" * 301}, "motion_prompt"),
        ({"duration_seconds": 0.5}, "duration_seconds"),
        ({"duration_seconds": 10.5}, "duration_seconds"),
        ({"characters": ["A", "B", "C", "D", "E", "F", "G"]}, "characters"),
        ({"dialogue_text": "x" * 301}, "dialogue_text"),
    ],
)
def test_a_shot_out_of_bounds_is_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PlannedShot.model_validate(shot(**overrides))
    assert [error["loc"][0] for error in caught.value.errors()] == [field]


def test_a_shot_at_its_bounds_is_accepted() -> None:
    PlannedShot.model_validate(shot(duration_seconds=1, characters=list("ABCDEF"), description="x" * 500))
    PlannedShot.model_validate(shot(duration_seconds=10, motion_prompt="x" * 300, dialogue_text="x" * 300))


def test_model_spellings_of_the_vocabulary_are_accepted() -> None:
    parsed = PlannedShot.model_validate(shot(shot_type="Extreme Close Up", camera_angle="Over the shoulder"))
    assert (parsed.shot_type, parsed.camera_angle) == ("extreme_close-up", "over_the_shoulder")
    assert PlannedScene.model_validate(scene(time_of_day="NIGHT")).time_of_day == "night"


def test_a_missing_camera_angle_and_dialogue_take_their_defaults() -> None:
    parsed = PlannedShot.model_validate(
        {k: v for k, v in shot(dialogue_text=None).items() if k not in ("camera_angle", "characters")}
    )
    assert (parsed.camera_angle, parsed.dialogue_text, parsed.speaking_character, parsed.characters) == (
        "eye_level",
        "",
        None,
        [],
    )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 2001}, "description"),
        ({"location": "x" * 201}, "location"),
        ({"time_of_day": "teatime"}, "time_of_day"),
        ({"mood": "x" * 51}, "mood"),
        ({"shots": []}, "shots"),
        ({"shots": [shot()] * 9}, "shots"),
    ],
)
def test_a_scene_out_of_bounds_is_refused(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PlannedScene.model_validate(scene(**overrides))
    assert [error["loc"][0] for error in caught.value.errors()] == [field]


def test_a_plan_has_one_to_twelve_scenes() -> None:
    with pytest.raises(ValidationError):
        StoryPlan.model_validate({"scenes": []})
    with pytest.raises(ValidationError):
        StoryPlan.model_validate({"scenes": [scene()] * 13})
    assert len(StoryPlan.model_validate({"scenes": [scene()] * 12}).scenes) == 12


def test_the_schema_sent_keeps_what_a_grammar_enforces_and_leaves_length_caps_to_validation() -> None:
    text = json.dumps(PLAN_SCHEMA)
    assert "maxLength" not in text  # llama.cpp refuses char{0,2000} grammars
    shot_schema = PLAN_SCHEMA["$defs"]["PlannedShot"]
    # Required text cannot be empty, and a shot lasts whole seconds (a grammar bounds integers, not numbers).
    assert shot_schema["properties"]["description"]["minLength"] == 1
    assert PLAN_SCHEMA["$defs"]["PlannedScene"]["properties"]["title"]["minLength"] == 1
    duration = shot_schema["properties"]["duration_seconds"]
    assert (duration["type"], duration["minimum"], duration["maximum"]) == ("integer", 1, 10)
    assert PlannedShot.model_validate(shot(duration_seconds=2.5)).duration_seconds == 2.5  # a fraction still passes
    assert shot_schema["properties"]["shot_type"]["enum"] == list(SHOT_TYPES)
    assert shot_schema["properties"]["characters"]["maxItems"] == 6
    assert PLAN_SCHEMA["properties"]["scenes"]["maxItems"] == 12
    assert PLAN_SCHEMA["title"] == "StoryPlan"


# --- parsing a reply -------------------------------------------------------------------------------


def test_a_reply_in_fences_with_chatter_is_parsed() -> None:
    reply = "Here is the plan:\n```json\n" + json.dumps({"scenes": [scene()]}) + "\n```\nEnjoy!"
    assert parse_plan(reply).scenes[0].title == "Arrival"


def test_a_bare_scene_array_is_taken_as_the_scenes() -> None:
    assert [s.title for s in parse_plan(json.dumps([scene("A"), scene("B")])).scenes] == ["A", "B"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I would love to help with your story!", "the reply contains no JSON object"),
        ('{"scenes": [{"title": "A",', "the JSON is invalid"),
        ('"scenes"', "the reply contains no JSON object"),
        (json.dumps({"scenes": [scene(time_of_day="teatime")]}), "scenes.0.time_of_day: Input should be"),
        (json.dumps({"scene": []}), "scenes: Field required"),
    ],
)
def test_an_unusable_reply_names_its_problem(reply: str, problem: str) -> None:
    with pytest.raises(PlanReplyError) as caught:
        parse_plan(reply)
    assert caught.value.problems[0].startswith(problem), caught.value.problems


# --- checks against the cast -----------------------------------------------------------------------


def test_a_good_plan_has_no_problems() -> None:
    assert validate_against_cast(plan(), CAST) == []


def test_names_match_the_cast_ignoring_case() -> None:
    good = plan(scene("A", characters=["mario"]), scene("B"), scene("C", shots=[shot(characters=["PRINCESS PEACH"])]))
    assert validate_against_cast(good, CAST) == []


def test_an_unknown_character_is_named_with_the_known_ones() -> None:
    bad = plan(scene("A", shots=[shot(characters=["Mario", "Luigi"])]), scene("B"), scene("C"))
    assert validate_against_cast(bad, CAST) == [
        "unknown character 'Luigi' in scene 1 ('A') (shot 1) — the known characters are Mario, Princess Peach"
    ]


def test_an_unknown_scene_character_is_a_problem() -> None:
    problems = validate_against_cast(plan(scene("A", characters=["Bowser"]), scene("B"), scene("C")), CAST)
    assert problems == [
        "unknown character 'Bowser' in scene 1 ('A') (its characters) — the known characters are Mario, Princess Peach"
    ]


def test_without_a_cast_any_name_is_unknown_and_said_once() -> None:
    # Mario is in every scene and one shot of each: one problem naming the six places, not six problems.
    assert validate_against_cast(plan(), set()) == [
        "unknown character 'Mario' in scene 1 ('One') (its characters and shot 2); scene 2 ('Two') (its characters "
        "and shot 2); scene 3 ('Three') (its characters and shot 2) — the project has no characters yet; name none"
    ]


def test_a_stray_name_in_any_spelling_and_as_a_speaker_is_one_problem() -> None:
    line = shot(characters=["Mario", "luigi", "Luigi"], dialogue_text="Wahoo", speaking_character="LUIGI")
    problems = validate_against_cast(plan(scene("A", characters=["Luigi"], shots=[line]), scene("B"), scene("C")), CAST)
    assert problems == [
        "unknown character 'Luigi' in scene 1 ('A') (its characters, shot 1 and shot 1's speaking_character) — the "
        "known characters are Mario, Princess Peach"
    ]


def test_a_speaker_must_be_in_the_shot() -> None:
    line = shot(characters=["Mario"], dialogue_text="Let's-a go!", speaking_character="Princess Peach")
    problems = validate_against_cast(plan(scene("A", shots=[line]), scene("B"), scene("C")), CAST)
    assert problems == [
        "scene 1 ('A'), shot 1: speaking_character 'Princess Peach' is not among the shot's characters ['Mario']; "
        "add them or choose a speaker who is in the shot"
    ]


def test_an_unknown_speaker_is_a_problem() -> None:
    line = shot(characters=["Mario"], dialogue_text="Mamma mia", speaking_character="Toad")
    [problem] = validate_against_cast(plan(scene("A", shots=[line]), scene("B"), scene("C")), CAST)
    assert problem.startswith("unknown character 'Toad' in scene 1 ('A') (shot 1's speaking_character) — the known")


def test_dialogue_without_a_speaker_is_a_problem() -> None:
    line = shot(dialogue_text="Who goes there?", speaking_character="")
    [problem] = validate_against_cast(plan(scene("A"), scene("B", shots=[line]), scene("C")), CAST)
    assert problem == (
        "scene 2 ('B'), shot 1: dialogue_text has no speaking_character; name who speaks or remove the line"
    )


def test_the_scene_count_must_be_the_wanted_one() -> None:
    assert validate_against_cast(plan(scene("A"), scene("B")), CAST) == ["the plan has 2 scenes; plan 3 to 8 scenes"]
    assert validate_against_cast(plan(scene("A"), scene("B")), CAST, scenes_wanted=(1, 2)) == []
    assert validate_against_cast(plan(*[scene()] * 9), CAST) == ["the plan has 9 scenes; plan 3 to 8 scenes"]


# --- the context and the prompt --------------------------------------------------------------------

NOW = datetime(2025, 10, 1, tzinfo=UTC)


def records() -> tuple[Project, Storyline, WorldSettings, list[Character]]:
    project = Project(id=1, name="Mushroom Saga", genre="adventure", premise="A plumber saves a kingdom.")
    storyline = Storyline(
        project_id=1,
        title="The Lost Star",
        summary="Mario searches for the stolen star.",
        tone="playful",
        themes=["friendship", "courage"],
        story_arcs=[{"title": "Departure", "summary": "Mario leaves home."}, {"title": "Return", "summary": ""}],
    )
    world = WorldSettings(
        project_id=1,
        art_style="cel-shaded anime",
        aesthetic="bright pastel",
        world_location={"primary": "Mushroom Kingdom", "atmosphere": "sunny", "notes": ""},
        time_period="timeless fairy tale",
    )
    characters = [
        Character(id=1, project_id=1, name="Mario", slug="mario", design_prompt="1man, red cap, blue overalls"),
        Character(id=2, project_id=1, name="Princess Peach", slug="peach", design_prompt="1girl, pink dress, crown"),
        Character(id=3, project_id=1, name="Wario", slug="wario", design_prompt="yellow cap", deleted_at=NOW),
    ]
    return project, storyline, world, characters


def test_the_context_comes_from_the_bible_rows() -> None:
    context = StoryContext.from_records(*records())
    assert (context.project_name, context.genre, context.premise) == (
        "Mushroom Saga",
        "adventure",
        "A plumber saves a kingdom.",
    )
    assert (context.storyline_title, context.tone, context.themes) == (
        "The Lost Star",
        "playful",
        ("friendship", "courage"),
    )
    assert context.arcs == ("Departure: Mario leaves home.", "Return")
    assert context.world == {
        "art_style": "cel-shaded anime",
        "aesthetic": "bright pastel",
        "location": "primary: Mushroom Kingdom; atmosphere: sunny",
        "time_period": "timeless fairy tale",
    }
    assert context.characters == (
        ("Mario", "1man, red cap, blue overalls"),
        ("Princess Peach", "1girl, pink dress, crown"),
    )  # the deleted Wario is not cast
    assert context.cast == CAST
    assert context.scenes_wanted == (3, 8)


def test_a_project_without_storyline_or_world_still_gives_a_context() -> None:
    project = Project(id=2, name="Empty", description="Only a description.")
    context = StoryContext.from_records(project, None, None, [])
    assert (context.premise, context.summary, context.arcs, context.world, context.characters) == (
        "Only a description.",
        "",
        (),
        {},
        (),
    )


def test_an_impossible_scene_range_is_refused() -> None:
    context = StoryContext.from_records(*records())
    for wanted in ((0, 3), (5, 4), (3, 13)):
        with pytest.raises(ValueError, match="scenes_wanted"):
            StoryContext(**{**context.__dict__, "scenes_wanted": wanted})


def test_the_prompt_carries_the_story_the_world_the_cast_and_the_rules() -> None:
    system, user = planner_messages(StoryContext.from_records(*records()))
    assert (system.role, user.role) == ("system", "user")
    assert "scene planner" in system.content
    assert "Plan 3 to 8 scenes" in system.content and "2 to 5 shots" in system.content
    assert "2 to 5 whole seconds" in system.content
    assert "establishing shots show the place and have no characters" in system.content
    for word in (*SHOT_TYPES, *CAMERA_ANGLES, *TIMES_OF_DAY):
        assert word in system.content
    assert '"slow pan across the landscape, clouds drifting"' in system.content  # a motion preset as example
    for text in (
        "Project: Mushroom Saga",
        "Genre: adventure",
        "Premise: A plumber saves a kingdom.",
        "Storyline: The Lost Star",
        "Summary: Mario searches for the stolen star.",
        "Tone: playful",
        "Themes: friendship, courage",
        "- Departure: Mario leaves home.",
        "- Art style: cel-shaded anime",
        "- Location: primary: Mushroom Kingdom; atmosphere: sunny",
        "- Time period: timeless fairy tale",
        "- Mario: 1man, red cap, blue overalls",
        "- Princess Peach: 1girl, pink dress, crown",
    ):
        assert text in user.content, text
    assert "Wario" not in user.content


def test_a_prompt_without_characters_asks_for_none() -> None:
    project = Project(id=2, name="Landscapes", premise="Seasons pass over a valley.")
    context = StoryContext.from_records(project, None, None, [])
    _, user = planner_messages(context)
    assert "Characters: none yet" in user.content
    assert "Genre" not in user.content  # empty facts are left out, not sent as "Genre: "
