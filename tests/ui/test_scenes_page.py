"""The Scenes page through NiceGUI's simulated user: scenes and their fields, the shot timeline (add, edit in
the side panel, source images, delete and undo, reorder by buttons and by the drag helper's event), story to
scenes with and without an LLM, and a scene generated with the animatic while its cards follow live."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import helpers, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from components.timeline import ORDER_EVENT
from services.datasets import Verdict
from services.jobs import JobFilter
from services.scenes import MOTION_PRESETS, SCENE_JOB, SceneChanges, SceneDraft, ShotChanges, ShotDraft
from studio.models import ApprovalState, Character, JobState, Scene, Shot
from tests.dataset_helpers import add_drawings
from tests.fakes.ollama import FakeOllama
from tests.ui.test_characters_page import KOOPA, PEACH, api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers look for new jobs often, so a generated scene starts rendering at once."""
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


@pytest.fixture
def llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOllama]:
    """A fake Ollama as the LLM device. Request it before `user`: main.py reads settings at start."""
    with FakeOllama() as fake:
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "llm1", "llm_url": fake.url}]))
        yield fake


async def scene_with(user: User, count: int, **scene: Any) -> tuple[int, list[Character], Scene, list[Shot]]:
    """A project with Koopa and Peach and one scene of `count` animatic shots described "a", "b", "c"..."""
    project_id, characters = await cast(user, KOOPA, PEACH)
    studio = running_studio()
    made = await studio.scenes.create(project_id, SceneDraft(title="Arrival", **scene), "local")
    shots = []
    for n in range(count):
        draft = ShotDraft(description=chr(ord("a") + n), video_engine="animatic")
        shots.append(await studio.scenes.add_shot(made.id, draft, "local"))
    return project_id, characters, made, shots


async def open_scene(user: User, project_id: int, scene: Scene) -> None:
    await user.open(f"/scenes?project={project_id}&scene={scene.id}")
    await user.should_see(marker="timeline-total", retries=WAIT)  # drawn with the cards


def card_order(user: User) -> list[uuid.UUID]:
    """The shot ids of the timeline's cards, left to right."""
    cards = [
        e for e in visible(user, "timeline")[0].descendants() if any(m.startswith("shot-card-") for m in e._markers)
    ]
    return [
        uuid.UUID(next(m for m in e._markers if m.startswith("shot-card-")).removeprefix("shot-card-")) for e in cards
    ]


async def descriptions(scene: Scene) -> list[str]:
    return [shot.description for shot in await running_studio().scenes.shots(scene.id)]


def text_of(user: User, marker: str) -> str:
    found = visible(user, marker)
    assert found, f"nothing marked {marker} is shown"
    parts = [getattr(e, "text", None) for e in [found[0], *found[0].descendants()]]
    return " ".join(str(p) for p in parts if p)


# --- scenes ---------------------------------------------------------------------------------------


async def test_a_project_without_scenes_offers_to_add_one_or_plan_them(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/scenes?project={project_id}")
    await user.should_see(marker="no-scenes", retries=WAIT)
    await user.should_see("Mario Galaxy has no scenes yet.", retries=WAIT)
    await user.should_see(marker="plan-from-story")
    labels = [e.text for e in sorted(user.find(ui.item_label).elements, key=lambda e: e.id)]
    assert labels.index("Review station") + 1 == labels.index("Scenes")


async def test_a_scene_is_added_edited_deleted_and_restored_with_undo(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    studio = running_studio()
    await user.open(f"/scenes?project={project_id}")
    await user.should_see(marker="no-scenes", retries=WAIT)

    user.find(marker="empty-add-scene").click()
    await user.should_see(marker="scene-form", retries=WAIT)
    [summary] = await studio.scenes.list(project_id)
    scene = summary.scene
    element(user, "scene-title").value = "Arrival"
    element(user, "scene-location").value = "Toad Town"
    element(user, "scene-time").value = "dusk"
    element(user, "scene-mood").value = "tense"
    element(user, "scene-description").value = "Koopa arrives in town."
    user.find(marker="save-scene").click()
    await user.should_see("Scene 1. Arrival saved", retries=WAIT)
    saved = await studio.scenes.get(scene.id)
    assert (saved.title, saved.location, saved.time_of_day, saved.mood, saved.description) == (
        "Arrival",
        "Toad Town",
        "dusk",
        "tense",
        "Koopa arrives in town.",
    )
    await eventually(lambda: element(user, f"scene-title-{scene.id}").text == "1. Arrival")
    assert element(user, f"scene-meta-{scene.id}").text == "0 shots · 0 s"
    assert element(user, f"scene-status-{scene.id}").text == "draft"

    element(user, "scene-title").value = "x" * 201
    user.find(marker="save-scene").click()
    await eventually(lambda: "at most 200 characters" in element(user, "scene-problem").text)

    user.find(marker=f"delete-scene-{scene.id}").click()
    await user.should_see("Scene 1. Arrival deleted", retries=WAIT)
    await user.should_see(marker="no-scenes", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).deleted_at is not None
    user.find(marker="undo").click()
    await user.should_see("Scene 1. Arrival restored", retries=WAIT)
    await user.should_see(marker="scene-form", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).deleted_at is None

    # Deleted scenes can be listed and restored later too.
    await studio.scenes.delete(scene.id, "local")
    await user.should_see(marker="no-scene-yet", retries=WAIT)
    element(user, "show-deleted").value = True
    await user.should_see(marker=f"restore-scene-{scene.id}", retries=WAIT)
    assert element(user, f"scene-status-{scene.id}").text == "deleted"
    user.notify.messages.clear()
    user.find(marker=f"restore-scene-{scene.id}").click()
    await user.should_see("Scene 1. Arrival restored", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).deleted_at is None
    await user.should_see(marker="scene-form", retries=WAIT)


async def test_shots_are_added_at_the_end_and_show_on_the_timeline(user: User) -> None:
    project_id, _, scene, [first] = await scene_with(user, 1)
    await open_scene(user, project_id, scene)
    assert element(user, f"shot-duration-{first.id}").text == "3 s"
    assert element(user, f"shot-type-{first.id}").text == "medium · eye level"
    assert element(user, f"shot-engine-{first.id}").text == "Animatic"
    assert element(user, f"shot-status-{first.id}").text == "pending"
    await user.should_see(marker=f"shot-placeholder-{first.id}")  # nothing rendered, no source image
    assert element(user, "timeline-total").text == "1 shot · 3 s"
    assert element(user, "monitor-link").props["href"] == f"/scenes/{scene.id}/monitor"

    user.find(marker="add-shot").click()
    await user.should_see("Shot 2 of Arrival", marker="shot-editor-title", retries=WAIT)
    shots = await running_studio().scenes.shots(scene.id)
    assert [s.shot_number for s in shots] == [1, 2] and shots[0].id == first.id
    await eventually(lambda: card_order(user) == [s.id for s in shots])
    await eventually(lambda: element(user, "timeline-total").text == "2 shots · 6 s")
    await eventually(lambda: element(user, f"scene-meta-{scene.id}").text == "2 shots · 6 s")
    assert element(user, f"move-left-{first.id}").enabled is False
    assert element(user, f"move-right-{shots[1].id}").enabled is False
    user.find(marker="close-shot").click()  # as a person would: the panel closes and is gone
    await user.should_not_see(marker="shot-editor", retries=WAIT)


# --- the shot panel -------------------------------------------------------------------------------


async def test_a_shot_is_edited_in_the_side_panel_and_refusals_show_beside_the_form(user: User) -> None:
    project_id, [koopa, peach], scene, [shot] = await scene_with(user, 1)
    await open_scene(user, project_id, scene)
    card = element(user, f"shot-card-{shot.id}")
    user.find(marker=f"edit-shot-{shot.id}").click()
    await user.should_see("Shot 1 of Arrival", marker="shot-editor-title", retries=WAIT)
    assert element(user, "motion-preset").options == list(MOTION_PRESETS["medium"])
    assert "Proposed: Animatic" in element(user, "engine-proposal").text
    limits = {row["engine"]: row for row in element(user, "engine-limits").rows}
    assert limits["Wan 2.1"]["length"] == "1\N{EN DASH}5 s" and limits["Wan 2.1"]["ready"] == "no device ready"
    assert limits["Animatic"]["ready"] == "ready"

    element(user, "shot-type").value = "close-up"
    assert element(user, "motion-preset").options == list(MOTION_PRESETS["close-up"])
    element(user, "motion-preset").value = "character blinks and smiles"
    assert element(user, "motion-prompt").value == "character blinks and smiles"
    element(user, "camera-angle").value = "low"
    element(user, "shot-duration").value = 4.5
    element(user, "shot-characters").value = [koopa.id, peach.id]
    assert element(user, "dialogue-speaker").options == {koopa.id: "Koopa King", peach.id: "Princess Peach"}
    element(user, "dialogue-text").value = "Who goes there?"
    element(user, "transition").value = "fade"
    element(user, "transition-duration").value = 0.5

    # A line without its speaker: the service refuses, and says why next to the form.
    user.find(marker="save-shot").click()
    await eventually(lambda: "needs the character who says it" in element(user, "shot-problem").text)
    assert (await running_studio().scenes.shot(shot.id)).dialogue_text == ""

    element(user, "dialogue-speaker").value = peach.id
    user.find(marker="save-shot").click()
    await user.should_see("Shot 1 saved", retries=WAIT)
    saved = await running_studio().scenes.shot(shot.id)
    assert (saved.shot_type, saved.camera_angle, saved.duration_seconds) == ("close-up", "low", 4.5)
    assert saved.motion_prompt == "character blinks and smiles"
    assert saved.characters_present == [koopa.id, peach.id]
    assert (saved.dialogue_text, saved.dialogue_character_id) == ("Who goes there?", peach.id)
    assert (saved.transition_type, saved.transition_duration) == ("fade", 0.5)
    # The card changed in place.
    await eventually(lambda: element(user, f"shot-duration-{shot.id}").text == "4.5 s")
    assert element(user, f"shot-type-{shot.id}").text == "close-up · low"
    assert element(user, f"shot-card-{shot.id}") is card

    # Overriding the engine: the panel says at once what generating would refuse.
    element(user, "video-engine").value = "wan"
    assert "No device can run Wan 2.1 right now" in element(user, "engine-warning").text
    element(user, "shot-duration").value = 8
    assert "Wan 2.1 renders 1\N{EN DASH}5 s; this shot is 8 s" in element(user, "engine-warning").text
    assert element(user, "use-proposal").enabled is True
    user.find(marker="use-proposal").click()
    assert element(user, "video-engine").value == "animatic"
    assert element(user, "engine-warning").text == ""
    element(user, "video-engine").value = "wan"
    element(user, "shot-duration").value = 5
    user.find(marker="save-shot").click()
    # The card changes as soon as the shot is saved; the form is ready again once drawn as saved.
    await eventually(
        lambda: element(user, f"shot-engine-{shot.id}").text == "Wan 2.1" and element(user, "save-shot").enabled
    )
    assert (await running_studio().scenes.shot(shot.id)).video_engine == "wan"

    element(user, "shot-duration").value = 0.2
    user.find(marker="save-shot").click()
    await eventually(lambda: "greater than or equal to 0.5" in element(user, "shot-problem").text)
    user.find(marker="close-shot").click()
    await user.should_see(marker="confirm-dialog")  # the refused edits are still unsaved: closing asks
    user.find(marker="confirm").click()
    await user.should_not_see(marker="shot-editor", retries=WAIT)


async def test_an_approved_dataset_image_is_picked_as_the_source_and_cleared(user: User) -> None:
    project_id, [koopa, _], scene, [shot] = await scene_with(user, 1)
    studio = running_studio()
    approved, pending = await add_drawings(studio, koopa, 2)
    await studio.decisions.decide(approved.id, Verdict(ApprovalState.APPROVED), "local")  # type: ignore[arg-type]
    await open_scene(user, project_id, scene)
    user.find(marker=f"open-shot-{shot.id}").click()
    await user.should_see(marker="shot-editor", retries=WAIT)
    assert "None: the video starts from a title card" in element(user, "shot-source").text
    assert element(user, "clear-source").enabled is False

    user.find(marker="choose-source").click()
    await user.should_see(marker="source-picker", retries=WAIT)
    await user.should_see("1 approved image", marker="source-total", retries=WAIT)
    await user.should_see(marker=f"pick-image-{approved.id}")
    await user.should_not_see(marker=f"pick-image-{pending.id}")  # pending images are not offered
    user.find(marker=f"pick-image-{approved.id}").click()
    await user.should_not_see(marker="source-picker", retries=WAIT)
    await eventually(lambda: element(user, "shot-source").text == f"image {approved.id}")
    assert "the shot has a source image to animate" in element(user, "engine-proposal").text
    user.find(marker="save-shot").click()
    await user.should_see("Shot 1 saved", retries=WAIT)
    saved = await studio.scenes.shot(shot.id)
    assert (saved.source_image_id, saved.source_image_path) == (approved.id, approved.file_path)

    # The card shows the source image, served by the API.
    await user.should_see(marker=f"shot-thumb-{shot.id}", retries=WAIT)
    src = element(user, f"shot-thumb-{shot.id}").props["src"]
    assert src.startswith(f"/api/shots/{shot.id}/frames/source?v=")
    served = await user.http_client.get(src)
    assert served.status_code == 200 and served.content == studio.media.path_of(approved.file_path).read_bytes()

    user.find(marker="clear-source").click()
    assert "None:" in element(user, "shot-source").text
    user.notify.messages.clear()
    user.find(marker="save-shot").click()
    await user.should_see("Shot 1 saved", retries=WAIT)
    cleared = await studio.scenes.shot(shot.id)
    assert (cleared.source_image_id, cleared.source_image_path) == (None, None)
    await user.should_see(marker=f"shot-placeholder-{shot.id}", retries=WAIT)
    user.find(marker="close-shot").click()  # as a person would: the panel closes and is gone
    await user.should_not_see(marker="shot-editor", retries=WAIT)


async def test_a_project_without_approved_images_says_where_to_approve_some(user: User) -> None:
    project_id, _, scene, [shot] = await scene_with(user, 1)
    await open_scene(user, project_id, scene)
    user.find(marker=f"edit-shot-{shot.id}").click()
    await user.should_see(marker="shot-editor", retries=WAIT)
    user.find(marker="choose-source").click()
    await user.should_see(marker="no-approved-images", retries=WAIT)
    user.find(marker="source-cancel").click()
    await user.should_not_see(marker="source-picker", retries=WAIT)
    user.find(marker="close-shot").click()  # as a person would: the panel closes and is gone
    await user.should_not_see(marker="shot-editor", retries=WAIT)


async def test_a_deleted_shot_comes_back_at_its_place_with_undo(user: User) -> None:
    project_id, [koopa, _], scene, [a, b, c] = await scene_with(user, 3)
    studio = running_studio()
    changes = ShotChanges(characters_present=[koopa.id], motion_prompt="slow push in")
    await studio.scenes.update_shot(b.id, changes, "local")
    await open_scene(user, project_id, scene)
    user.find(marker=f"edit-shot-{b.id}").click()
    await user.should_see(marker="shot-editor", retries=WAIT)
    user.find(marker="delete-shot").click()
    await user.should_see("Shot 2 deleted", retries=WAIT)
    await user.should_not_see(marker="shot-editor", retries=WAIT)
    assert await descriptions(scene) == ["a", "c"]
    await eventually(lambda: card_order(user) == [a.id, c.id])

    user.find(marker="undo").click()
    await user.should_see("Shot 2 put back", retries=WAIT)
    shots = await studio.scenes.shots(scene.id)
    assert [s.description for s in shots] == ["a", "b", "c"]
    back = shots[1]
    assert (back.characters_present, back.motion_prompt, back.video_engine) == ([koopa.id], "slow push in", "animatic")
    await eventually(lambda: card_order(user) == [s.id for s in shots])


# --- order ----------------------------------------------------------------------------------------


async def test_shots_move_one_step_with_the_arrow_buttons(user: User) -> None:
    project_id, _, scene, [a, b, c] = await scene_with(user, 3)
    await open_scene(user, project_id, scene)
    assert card_order(user) == [a.id, b.id, c.id]

    user.find(marker=f"move-right-{a.id}").click()
    await eventually(lambda: card_order(user) == [b.id, a.id, c.id])
    assert await descriptions(scene) == ["b", "a", "c"]
    user.find(marker=f"move-left-{c.id}").click()
    await eventually(lambda: card_order(user) == [b.id, c.id, a.id])
    assert await descriptions(scene) == ["b", "c", "a"]
    assert element(user, f"move-left-{b.id}").enabled is False
    assert element(user, f"move-right-{a.id}").enabled is False
    assert element(user, f"shot-number-{a.id}").text == "#3"


async def test_a_drop_reported_by_the_drag_helper_saves_the_new_order(user: User) -> None:
    project_id, _, scene, [a, b, c] = await scene_with(user, 3)
    await open_scene(user, project_id, scene)
    assert user.client is not None
    layout = UserInteraction(user, {user.client.layout}, None)

    # NiceGUI listens under the camel-case name the browser's emitEvent("timeline-order") reaches.
    dropped = helpers.event_type_to_camel_case(ORDER_EVENT)
    layout.trigger(dropped, {"scene_id": str(scene.id), "shot_ids": [str(c.id), str(a.id), str(b.id)]})
    await eventually(lambda: card_order(user) == [c.id, a.id, b.id])
    assert await descriptions(scene) == ["c", "a", "b"]

    # An order that no longer fits the scene (a shot was added elsewhere) is refused and the timeline redrawn.
    d = await running_studio().scenes.add_shot(scene.id, ShotDraft(description="d"), "local")
    layout.trigger(dropped, {"scene_id": str(scene.id), "shot_ids": [str(a.id), str(b.id), str(c.id)]})
    await user.should_see("list every shot of the scene exactly once (4 shots)", retries=WAIT)
    await eventually(lambda: card_order(user) == [c.id, a.id, b.id, d.id])
    assert await descriptions(scene) == ["c", "a", "b", "d"]


# --- story to scenes ------------------------------------------------------------------------------


def planned_shot(shot_type: str, characters: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "shot_type": shot_type,
        "camera_angle": "eye_level",
        "description": f"a {shot_type} shot",
        "motion_prompt": "slow push in",
        "duration_seconds": 3,
        "characters": characters,
        **extra,
    }


def planned_scene(title: str, shots: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "title": title,
        "description": f"{title}.",
        "location": "Mushroom Kingdom",
        "time_of_day": "morning",
        "mood": "hopeful",
        "characters": sorted({name for shot in shots for name in shot["characters"]}),
        "shots": shots,
    }


PLAN = json.dumps(
    {
        "scenes": [
            planned_scene("Departure", [planned_shot("establishing", []), planned_shot("medium", ["Koopa King"])]),
            planned_scene(
                "The Castle",
                [
                    planned_shot(
                        "close-up",
                        ["Princess Peach"],
                        dialogue_text="Who goes there?",
                        speaking_character="Princess Peach",
                    )
                ],
            ),
            planned_scene("The Star", [planned_shot("action", ["Koopa King", "Princess Peach"])]),
        ]
    }
)


async def test_plan_from_story_without_an_llm_says_how_to_add_one(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/scenes?project={project_id}")
    user.find(marker="plan-from-story").click()
    await user.should_see(marker="plan-dialog", retries=WAIT)
    assert visible(user, "plan-add") == [] and visible(user, "plan-replace") == []  # nothing to save yet
    user.find(marker="ask-model").click()
    await eventually(lambda: element(user, "plan-problem").text.startswith("Story to scenes needs an LLM"))
    assert "add a device with an llm_url, e.g. STUDIO_DEVICES=" in element(user, "plan-problem").text
    assert visible(user, "plan-add") == [] and visible(user, "plan-replace") == []

    element(user, "plan-min").value = 9
    element(user, "plan-max").value = 4
    user.find(marker="ask-model").click()
    await eventually(lambda: "at most 12" in element(user, "plan-problem").text)
    user.find(marker="plan-close").click()
    await user.should_not_see(marker="plan-dialog", retries=WAIT)


async def test_a_planned_story_is_previewed_and_saved_only_when_added(llm: FakeOllama, user: User) -> None:
    project_id, [_, peach] = await cast(user, KOOPA, PEACH)
    studio = running_studio()
    llm.replies = [PLAN]
    await user.open(f"/scenes?project={project_id}")
    await user.should_see(marker="no-scenes", retries=WAIT)
    user.find(marker="plan-from-story").click()
    await user.should_see(marker="plan-dialog", retries=WAIT)
    user.find(marker="ask-model").click()
    await user.should_see(marker="planned-scene-3", retries=WAIT)
    assert element(user, "plan-total").text == "3 scenes, 4 shots, 12 s"
    assert "Scene 2: The Castle" in text_of(user, "planned-scene-2")
    assert "Mushroom Kingdom · morning · hopeful" in text_of(user, "planned-scene-2")
    castle = text_of(user, "planned-shot-2-1")
    assert "close-up · eye level · 3 s — a close-up shot" in castle
    assert "Characters: Princess Peach" in castle and "Princess Peach: “Who goes there?”" in castle
    assert len(llm.chats) == 1 and "Koopa King" in json.dumps(llm.chats[0])
    assert await studio.scenes.list(project_id) == []  # a preview saves nothing

    user.find(marker="plan-add").click()
    await user.should_see("Added 3 scenes from the story", retries=WAIT)
    await user.should_not_see(marker="plan-dialog", retries=WAIT)
    summaries = await studio.scenes.list(project_id)
    assert [(s.scene.title, s.shots) for s in summaries] == [("Departure", 2), ("The Castle", 1), ("The Star", 1)]
    [line] = await studio.scenes.shots(summaries[1].scene.id)
    assert (line.dialogue_text, line.dialogue_character_id, line.characters_present) == (
        "Who goes there?",
        peach.id,
        [peach.id],
    )
    # The first planned scene is open.
    await eventually(lambda: element(user, "scene-title").value == "Departure")
    await eventually(lambda: len(card_order(user)) == 2)


async def test_a_plan_replaces_the_scenes_after_asking_and_undo_brings_them_back(llm: FakeOllama, user: User) -> None:
    project_id, _, old, _ = await scene_with(user, 1)
    studio = running_studio()
    llm.replies = [PLAN]
    await open_scene(user, project_id, old)
    user.find(marker="plan-from-story").click()
    await user.should_see(marker="plan-dialog", retries=WAIT)
    user.find(marker="ask-model").click()
    await user.should_see(marker="planned-scene-3", retries=WAIT)

    user.find(marker="plan-replace").click()
    await user.should_see("Replace 1 scene with the plan?", retries=WAIT)
    await user.should_see("restore any of them later with Show deleted", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_see("3 scenes from the story replaced 1", retries=WAIT)
    assert [s.scene.title for s in await studio.scenes.list(project_id)] == ["Departure", "The Castle", "The Star"]
    assert (await studio.scenes.get(old.id)).deleted_at is not None

    user.find(marker="undo").click()
    await user.should_see("Restored the 1 earlier scenes", retries=WAIT)
    assert [s.scene.title for s in await studio.scenes.list(project_id)] == ["Arrival"]
    await eventually(lambda: element(user, "scene-title").value == "Arrival")


# --- generation -----------------------------------------------------------------------------------


async def test_generate_renders_the_scene_and_the_cards_follow_live(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await api(user, "PATCH", f"/projects/{project_id}", {"frame_width": 320, "frame_height": 240, "frame_rate": 8})
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="Harbour"), "local")
    await open_scene(user, project_id, scene)
    user.find(marker="generate-scene").click()
    await eventually(lambda: "add at least one shot" in element(user, "generate-problem").text, seconds=10)

    shot = await studio.scenes.add_shot(
        scene.id, ShotDraft(duration_seconds=1, description="the harbour at dawn", video_engine="animatic"), "local"
    )
    await user.should_see(marker=f"shot-card-{shot.id}", retries=WAIT)  # added elsewhere: the timeline follows
    card = element(user, f"shot-card-{shot.id}")
    user.find(marker="generate-scene").click()
    await user.should_see("follow it on the monitor", retries=WAIT)
    await eventually(lambda: element(user, f"shot-status-{shot.id}").text == "completed", seconds=60)
    rendered = await studio.scenes.shot(shot.id)
    assert rendered.output_video_path and rendered.selected_attempt == 1
    assert element(user, f"shot-card-{shot.id}") is card  # updated in place
    assert element(user, f"shot-attempt-{shot.id}").text == "attempt 1 of 1"
    if rendered.quality_score is not None:
        assert element(user, f"shot-score-{shot.id}").text == f"{rendered.quality_score:.2f}"
    await user.should_see(marker=f"shot-thumb-{shot.id}", retries=WAIT)
    assert element(user, f"shot-thumb-{shot.id}").props["src"].startswith(f"/api/shots/{shot.id}/frames/first?v=")
    await eventually(lambda: element(user, f"scene-status-{scene.id}").text == "completed", seconds=30)
    await eventually(lambda: element(user, "scene-generation-counts").text == "1 of 1 shots rendered")
    assert element(user, "generate-scene").enabled is True

    # Rendered now: Generate asks first, saying how much renders again and roughly how long, from this run.
    for _ in range(200):
        if await studio.jobs.list(JobFilter(states=(JobState.SUCCEEDED,), kind=SCENE_JOB)):
            break
        await asyncio.sleep(0.05)
    user.notify.messages.clear()
    user.find(marker="generate-scene").click()
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    await user.should_see("generating renders its shot again: roughly", retries=WAIT)
    await user.should_see("estimated from the last generation of a scene here", retries=WAIT)
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert not any("follow it on the monitor" in m for m in user.notify.messages)  # nothing queued


async def test_a_generating_scene_refuses_edits_with_the_services_reason(user: User) -> None:
    project_id, _, scene, [shot] = await scene_with(user, 1)
    studio = running_studio()
    await open_scene(user, project_id, scene)
    async with studio.db.session() as session:  # as if a generation were running
        row = await session.get(Scene, scene.id)
        row.generation_status = "generating"  # type: ignore[union-attr]
        session.add(row)
    await studio.scenes.update(scene.id, SceneChanges(), "local")  # any change event redraws the status
    await eventually(lambda: element(user, "scene-generation-status").text == "generating", seconds=10)
    assert element(user, "generate-scene").enabled is False
    user.find(marker=f"edit-shot-{shot.id}").click()
    await user.should_see(marker="shot-editor", retries=WAIT)
    element(user, "shot-duration").value = 4
    user.find(marker="save-shot").click()
    await eventually(lambda: "is generating; cancel it or wait" in element(user, "shot-problem").text)
    user.find(marker="close-shot").click()  # as a person would: the panel closes and is gone
    await user.should_see(marker="confirm-dialog")  # the refused edits are still unsaved: closing asks
    user.find(marker="confirm").click()
    await user.should_not_see(marker="shot-editor", retries=WAIT)


async def test_asking_for_a_plan_can_be_cancelled(llm: FakeOllama, user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    llm.latency = 10.0  # a model still thinking
    await user.open(f"/scenes?project={project_id}")
    user.find(marker="plan-from-story").click()
    await user.should_see(marker="plan-dialog", retries=WAIT)
    user.find(marker="ask-model").click()
    await user.should_see(marker="plan-cancel", retries=WAIT)
    user.find(marker="plan-cancel").click()
    await eventually(lambda: element(user, "plan-problem").text.startswith("Cancelled: the model was stopped"))
    assert not visible(user, "plan-spinner") and element(user, "ask-model").enabled
    assert visible(user, "plan-add") == [] and await running_studio().scenes.list(project_id) == []
