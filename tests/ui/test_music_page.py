"""The Music page through NiceGUI's simulated user: uploads (kept and refused), generating with ACE-Step (a fake
server as the device) with the track following its job to ready and its scene, failure and Retry, attaching
and detaching, delete with Undo, temp beds per mood, and the Generate button off (with why) without a device."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from services.music import caption_for
from services.scenes import SceneDraft
from studio.models import MusicTrack
from tests.fakes.ace_step import FakeAceStep, chord_wav
from tests.ui.test_characters_page import KOOPA, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers look for new jobs often, so a generated piece starts at once."""
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


@pytest.fixture
def ace(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAceStep]:
    """A fake ACE-Step API server as device rx9070. Request it before `user`: main.py reads settings at start."""
    with FakeAceStep() as fake:
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "rx9070", "ace_step_url": fake.url}]))
        yield fake


async def upload(user: User, name: str, data: bytes, content_type: str = "audio/wav") -> None:
    widget = next(iter(user.find(marker="music-upload").elements))
    with user.client:  # type: ignore[union-attr]
        await widget.handle_uploads([ui.upload.SmallFileUpload(name=name, content_type=content_type, _data=data)])


async def tracks(project_id: int) -> list[MusicTrack]:
    return await running_studio().music.list(project_id, include_deleted=True)


def src_of(user: User, marker: str) -> Any:
    [player] = visible(user, marker)
    return player.props.get("src")


async def test_uploaded_music_is_listed_with_a_player_and_bad_files_are_refused_with_why(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="no-music", retries=WAIT)
    await user.should_see("Mario Galaxy has no music yet.")
    labels = [e.text for e in sorted(user.find(ui.item_label).elements, key=lambda e: e.id)]
    assert labels.index("Scenes") + 1 == labels.index("Music")

    await upload(user, "storm.wav", chord_wav(1.5))
    await user.should_see("Added “storm” (0:02)", retries=WAIT)
    [track] = await tracks(project_id)
    await user.should_see(marker=f"track-{track.id}", retries=WAIT)
    assert element(user, f"track-facts-{track.id}").text == "uploaded · 0:02"
    assert element(user, f"track-status-{track.id}").text == "ready"
    assert src_of(user, f"track-player-{track.id}") == f"/api/music/{track.id}/audio"
    served = await user.http_client.get(f"/api/music/{track.id}/audio", headers={"Range": "bytes=0-3"})
    assert served.status_code == 206 and served.content == b"RIFF"

    await upload(user, "notes.wav", b"these are notes, not music" * 20)
    await user.should_see("notes.wav is not a readable audio file", retries=WAIT)
    await upload(user, "storm-again.wav", chord_wav(1.5))
    await user.should_see("-again.wav is already in this project's music as “storm”", retries=WAIT)
    assert len(await tracks(project_id)) == 1


async def test_without_an_ace_step_device_generating_is_off_and_says_why(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="generate-unavailable", retries=WAIT)
    await user.should_see("no device hosts ACE-Step: give a device an ace_step_url")
    assert not element(user, "generate-music").enabled


async def test_a_piece_generated_for_a_scene_follows_its_job_and_plays_under_the_scene(
    ace: FakeAceStep, user: User
) -> None:
    ace.polls_before_done = 3
    project_id, _ = await cast(user, KOOPA)
    studio = running_studio()
    scene = await studio.scenes.create(
        project_id, SceneDraft(title="Harbour", mood="melancholy rain", target_duration_seconds=4), "local"
    )
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="no-music", retries=WAIT)
    assert element(user, "generate-music").enabled
    user.find(marker="generate-music").click()
    await user.should_see(marker="generate-dialog", retries=WAIT)
    element(user, "generate-scene").value = scene.id
    await eventually(lambda: element(user, "generate-mood").value == "melancholy")
    assert element(user, "generate-caption").value == caption_for("melancholy")
    assert element(user, "generate-seconds").value == 4
    element(user, "generate-caption").value = "solo cello in the rain"
    user.find(marker="generate-submit").click()
    await user.should_see("on ACE-Step", retries=WAIT)

    [track] = await tracks(project_id)
    assert (track.title, track.caption) == ("Harbour (melancholy)", "solo cello in the rain")
    await user.should_see(marker=f"track-{track.id}", retries=WAIT)
    await eventually(lambda: element(user, f"track-status-{track.id}").text == "ready", seconds=30)
    await user.should_see(marker=f"track-player-{track.id}", retries=WAIT)
    await eventually(lambda: bool(visible(user, f"track-scenes-{track.id}")), seconds=10)
    assert "scene 1. Harbour" in [
        getattr(e, "text", "") for e in visible(user, f"track-scenes-{track.id}")[0].descendants()
    ]
    assert ace.last_submit()["prompt"] == "solo cello in the rain"
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id


async def test_a_failed_piece_shows_the_servers_error_and_retry_makes_it(ace: FakeAceStep, user: User) -> None:
    ace.fail_task = "the model is not loaded"
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="no-music", retries=WAIT)
    user.find(marker="generate-music").click()
    await user.should_see(marker="generate-dialog", retries=WAIT)
    element(user, "generate-mood").value = "comedic"
    element(user, "generate-seconds").value = 2
    user.find(marker="generate-submit").click()
    await user.should_see("on ACE-Step", retries=WAIT)
    [track] = await tracks(project_id)
    await user.should_see(marker=f"track-error-{track.id}", retries=WAIT)
    await user.should_see(f"ACE-Step at {ace.url} failed the task: the model is not loaded")
    assert element(user, f"track-status-{track.id}").text == "failed"

    ace.fail_task = None
    user.find(marker=f"retry-track-{track.id}").click()
    await eventually(lambda: bool(visible(user, f"track-player-{track.id}")), seconds=30)
    assert element(user, f"track-status-{track.id}").text == "ready"


async def test_a_track_is_attached_detached_deleted_and_brought_back_with_undo(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="Storm", mood="action"), "local")
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="no-music", retries=WAIT)
    await upload(user, "storm.wav", chord_wav(1.0))
    await user.should_see("Added “storm”", retries=WAIT)
    [track] = await tracks(project_id)
    await user.should_see(marker=f"attach-track-{track.id}", retries=WAIT)

    user.find(marker=f"attach-track-{track.id}").click()
    await user.should_see(marker="attach-dialog", retries=WAIT)
    user.find(marker="attach-submit").click()
    await user.should_see("Choose a scene")
    element(user, "attach-scene").value = scene.id
    user.find(marker="attach-submit").click()
    await user.should_see("“storm” now plays under scene 1. Storm", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id
    await user.should_see(marker=f"detach-{track.id}-{scene.id}", retries=WAIT)

    user.find(marker=f"detach-{track.id}-{scene.id}").click()
    await user.should_see("Scene 1. Storm plays its temp bed again", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).music_track_id is None
    user.find(marker="undo").click()
    await eventually(lambda: bool(visible(user, f"detach-{track.id}-{scene.id}")), seconds=10)
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id

    # Deleting a track a scene plays asks first, detaches it, and Undo puts both back.
    user.find(marker=f"delete-track-{track.id}").click()
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    await user.should_see("It plays under scene 1. Storm; they go back to their mood's temp bed.")
    user.find(marker="confirm").click()
    await user.should_see("“storm” deleted", retries=WAIT)
    await user.should_see(marker="no-music", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).music_track_id is None
    user.find(marker="undo").click()
    await user.should_see("“storm” restored", retries=WAIT)
    await user.should_see(marker=f"track-{track.id}", retries=WAIT)
    assert (await studio.scenes.get(scene.id)).music_track_id == track.id
    assert (await studio.music.get(track.id)).deleted_at is None  # type: ignore[arg-type]


async def test_temp_beds_are_previewed_per_mood_and_kept_as_tracks(user: User) -> None:
    project_id, _ = await cast(user, KOOPA)
    await user.open(f"/music?project={project_id}")
    await user.should_see(marker="temp-beds", retries=WAIT)
    assert src_of(user, "bed-player") == "/api/music/temp-beds/tense"
    element(user, "bed-mood").value = "peaceful"
    await eventually(lambda: src_of(user, "bed-player") == "/api/music/temp-beds/peaceful")
    bed = await user.http_client.get("/api/music/temp-beds/peaceful")
    assert bed.status_code == 200 and bed.content[:4] == b"RIFF"

    user.find(marker="keep-bed").click()
    await user.should_see("Kept “Temp bed (peaceful)” in the project's music", retries=WAIT)
    [track] = await tracks(project_id)
    await user.should_see(marker=f"track-{track.id}", retries=WAIT)
    assert element(user, f"track-facts-{track.id}").text.startswith("temp bed · peaceful · 0:")
    user.find(marker="keep-bed").click()
    await user.should_see("This project already keeps the peaceful temp bed", retries=WAIT)
