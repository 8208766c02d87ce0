"""The scene page's sound and assembly card through NiceGUI's simulated user: music choice, post-processing,
Assemble with live progress, and the player with its subtitles and the assembly's warnings."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from nicegui.testing import User

from services.scenes import SceneDraft, ShotChanges, ShotDraft
from studio.models import Character, Shot
from tests.ui.test_characters_page import KOOPA, api, element
from tests.ui.test_create_page import WAIT
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_scenes_page import open_scene
from tests.ui.test_shell import eventually


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


async def _rendered_scene(user: User) -> tuple[int, object, list[Shot]]:
    project_id, [koopa] = await cast(user, KOOPA)
    await api(user, "PATCH", f"/projects/{project_id}", {"frame_width": 426, "frame_height": 240, "frame_rate": 12})
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="Harbour", mood="peaceful"), "local")
    shots = []
    for n, line in enumerate(("", "Bring the boat around.")):
        draft = ShotDraft(
            duration_seconds=1.5,
            dialogue_text=line,
            dialogue_character_id=koopa.id if line else None,
            characters_present=[koopa.id] if line else [],  # type: ignore[list-item]
            video_engine="animatic",
        )
        shot = await studio.scenes.add_shot(scene.id, draft, "local")
        relative = f"projects/{project_id}/given/{n}.mp4"
        path = studio.media.path_of(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(
            subprocess.run,
            ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=12", "-t", "1.5",
             "-pix_fmt", "yuv420p", str(path)],
            check=True,
        )  # fmt: skip
        async with studio.db.session() as session:
            row = await session.get(Shot, shot.id)
            row.output_video_path, row.status = relative, "completed"  # type: ignore[union-attr]
            session.add(row)
        shots.append(shot)
    return project_id, scene, shots


async def test_assemble_shows_progress_then_the_player_with_subtitles_and_when_it_is_out_of_date(
    user: User,
) -> None:
    project_id, scene, shots = await _rendered_scene(user)
    await open_scene(user, project_id, scene)  # type: ignore[arg-type]
    await user.should_see(marker="not-assembled", retries=WAIT)
    assert element(user, "scene-music").value == 0  # no track: the mood's temp bed
    assert "peaceful" in element(user, "scene-music").options[0]

    user.find(marker="assemble-scene").click()
    await eventually(lambda: element(user, "assemble-scene").enabled is False, seconds=10)
    await user.should_see(marker="scene-player", retries=WAIT * 6)
    player = element(user, "scene-player")
    assert player.props["src"].startswith(f"/api/scenes/{scene.id}/video?v=")  # type: ignore[attr-defined]
    assert player.props["poster"].startswith(f"/api/scenes/{scene.id}/poster?v=")  # type: ignore[attr-defined]
    track = player.default_slot.children[0]
    assert track.props["src"].startswith(f"/api/scenes/{scene.id}/subtitles.vtt?v=")
    await eventually(lambda: element(user, "assemble-scene").enabled is True, seconds=10)
    assert element(user, "assembled-duration").text.startswith("2.")  # 1.5 + 1.5 s less the 0.25 s dissolve
    await user.should_not_see(marker="assembly-warnings")
    await user.should_not_see(marker="scene-out-of-date")

    # The shots and the sound change after the assembly: the card says its video is out of date, and why.
    studio = running_studio()
    await studio.scenes.update_shot(shots[1].id, ShotChanges(transition_type="fade"), "local")
    await user.should_see("The transition into shot 2 changed", marker="scene-out-of-date", retries=WAIT)
    element(user, "scene-interpolate").value = 48
    await user.should_see("The post-processing changed", retries=WAIT)
    await user.should_see("press Assemble again", retries=WAIT)


async def test_post_processing_is_saved_on_the_scene_and_a_failed_voice_is_shown_as_a_warning(user: User) -> None:
    project_id, scene, shots = await _rendered_scene(user)
    studio = running_studio()
    await open_scene(user, project_id, scene)  # type: ignore[arg-type]

    async def saved_rate() -> int | None:
        return (await studio.scenes.get(scene.id)).post_interpolate_fps  # type: ignore[attr-defined]

    element(user, "scene-interpolate").value = 48
    await user.should_see("Post-processing saved", retries=WAIT)
    assert await saved_rate() == 48
    element(user, "scene-interpolate").value = 0
    for _ in range(100):
        if await saved_rate() is None:
            break
        await asyncio.sleep(0.05)
    assert await saved_rate() is None

    # The speaker's saved voice needs a voice server this studio does not have.
    async with studio.db.session() as session:
        character = await session.get(Character, shots[1].dialogue_character_id)
        character.voice_profile = {"engine": "http", "reference_sample": "koopa.wav"}  # type: ignore[union-attr]
        session.add(character)
    user.find(marker="assemble-scene").click()
    await user.should_see(marker="assembly-warnings", retries=WAIT * 6)
    await user.should_see("the line has no voice")
