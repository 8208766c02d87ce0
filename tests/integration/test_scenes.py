"""Scenes and shots on both databases: ordering, validation of characters, speakers and source images."""

from __future__ import annotations

import uuid

import pytest

from services.bible.schemas import CharacterDraft
from services.datasets import Verdict
from services.errors import Conflict, Invalid
from services.scenes import SceneChanges, SceneDraft, ShotChanges, ShotDraft
from studio.models import ApprovalState
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import add_drawings


async def _project(studio: Studio) -> tuple[int, int, int]:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"G {uuid.uuid4().hex[:6]}"}), "aiko")
    koopa = await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]
    peach = await studio.characters.create(project.id, CharacterDraft(name="Peach"), "aiko")  # type: ignore[arg-type]
    return project.id, koopa.id, peach.id  # type: ignore[return-value]


async def test_scenes_are_numbered_in_order_and_soft_deleted(studio: Studio) -> None:
    project_id, _, _ = await _project(studio)
    first = await studio.scenes.create(project_id, SceneDraft(title="Arrival"), "aiko")
    second = await studio.scenes.create(project_id, SceneDraft(title="Storm"), "aiko")
    assert (first.scene_number, second.scene_number) == (1, 2)
    await studio.scenes.delete(first.id, "aiko")
    assert [s.scene.title for s in await studio.scenes.list(project_id)] == ["Storm"]
    await studio.scenes.update(first.id, SceneChanges(deleted=False), "aiko")
    assert [s.scene.title for s in await studio.scenes.list(project_id)] == ["Arrival", "Storm"]


async def test_shots_insert_reorder_and_delete_keep_numbers_contiguous(studio: Studio) -> None:
    project_id, _, _ = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(title="Arrival"), "aiko")
    a = await studio.scenes.add_shot(scene.id, ShotDraft(description="a", video_engine="animatic"), "aiko")
    b = await studio.scenes.add_shot(scene.id, ShotDraft(description="b", video_engine="animatic"), "aiko")
    c = await studio.scenes.add_shot(scene.id, ShotDraft(description="c", position=1, video_engine="animatic"), "aiko")
    assert [s.description for s in await studio.scenes.shots(scene.id)] == ["c", "a", "b"]
    await studio.scenes.reorder(scene.id, [b.id, c.id, a.id], "aiko")
    shots = await studio.scenes.shots(scene.id)
    assert [(s.description, s.shot_number) for s in shots] == [("b", 1), ("c", 2), ("a", 3)]
    with pytest.raises(Invalid, match="every shot of the scene exactly once"):
        await studio.scenes.reorder(scene.id, [b.id, c.id], "aiko")
    await studio.scenes.delete_shot(c.id, "aiko")
    assert [(s.description, s.shot_number) for s in await studio.scenes.shots(scene.id)] == [("b", 1), ("a", 2)]
    summary = (await studio.scenes.list(project_id))[0]
    assert (summary.shots, summary.seconds) == (2, 6.0)


async def test_without_an_engine_the_studio_proposes_one_it_can_run(studio: Studio) -> None:
    project_id, koopa, _ = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(), "aiko")
    shot = await studio.scenes.add_shot(scene.id, ShotDraft(shot_type="close-up", characters_present=[koopa]), "aiko")
    assert shot.video_engine == "animatic"  # no ComfyUI device here


async def test_characters_speakers_and_source_images_are_checked(studio: Studio) -> None:
    project_id, koopa, peach = await _project(studio)
    other = await studio.projects.create(GALAXY.model_copy(update={"name": "Elsewhere"}), "aiko")
    stranger = await studio.characters.create(other.id, CharacterDraft(name="Stranger"), "aiko")  # type: ignore[arg-type]
    scene = await studio.scenes.create(project_id, SceneDraft(), "aiko")
    with pytest.raises(Invalid, match="not \\(or no longer\\) in this project"):
        await studio.scenes.add_shot(scene.id, ShotDraft(characters_present=[stranger.id]), "aiko")  # type: ignore[list-item]
    with pytest.raises(Invalid, match="needs the character who says it"):
        await studio.scenes.add_shot(scene.id, ShotDraft(characters_present=[koopa], dialogue_text="Hi"), "aiko")
    with pytest.raises(Invalid, match="one of the characters present"):
        await studio.scenes.add_shot(
            scene.id, ShotDraft(characters_present=[koopa], dialogue_text="Hi", dialogue_character_id=peach), "aiko"
        )
    koopa_row = await studio.characters.get(koopa)
    (image,) = await add_drawings(studio, koopa_row, 1)
    with pytest.raises(Invalid, match="is pending; pick an approved image"):
        await studio.scenes.add_shot(scene.id, ShotDraft(source_image_id=image.id), "aiko")
    await studio.decisions.decide(image.id, Verdict(ApprovalState.APPROVED), "aiko")  # type: ignore[arg-type]
    shot = await studio.scenes.add_shot(
        scene.id, ShotDraft(source_image_id=image.id, characters_present=[koopa, peach]), "aiko"
    )
    assert shot.source_image_path == image.file_path
    cleared = await studio.scenes.update_shot(shot.id, ShotChanges(clear_source=True), "aiko")
    assert cleared.source_image_id is None and cleared.source_image_path is None


async def test_a_generating_scene_cannot_be_edited(studio: Studio) -> None:
    project_id, _, _ = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(), "aiko")
    async with studio.db.session() as session:
        row = await session.get(type(scene), scene.id)
        row.generation_status = "generating"  # type: ignore[union-attr]
        session.add(row)
    with pytest.raises(Conflict, match="is generating"):
        await studio.scenes.add_shot(scene.id, ShotDraft(), "aiko")


async def test_an_explicit_null_clears_the_speaker_and_lets_the_studio_propose_the_engine_again(studio: Studio) -> None:
    project_id, koopa, peach = await _project(studio)
    scene = await studio.scenes.create(project_id, SceneDraft(), "aiko")
    shot = await studio.scenes.add_shot(
        scene.id,
        ShotDraft(
            characters_present=[koopa, peach], dialogue_text="Hi", dialogue_character_id=peach, video_engine="wan"
        ),
        "aiko",
    )
    changed = await studio.scenes.update_shot(
        shot.id,
        ShotChanges(characters_present=[koopa], dialogue_text="", dialogue_character_id=None, video_engine=None),
        "aiko",
    )
    assert (changed.dialogue_character_id, changed.characters_present) == (None, [koopa])
    assert changed.video_engine == "animatic"  # proposed again: no device can run Wan here
    kept = await studio.scenes.update_shot(shot.id, ShotChanges(duration_seconds=2), "aiko")
    assert kept.dialogue_character_id is None and kept.duration_seconds == 2
