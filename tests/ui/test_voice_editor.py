"""Voices through NiceGUI's simulated user: a character's voice is chosen, saved, undone and previewed in the
character editor, its Voice tab shows the approved voice samples and the reference, and a shot's line is played
from the shot panel (synthesized first when it is new)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nicegui.testing import User

from services.jobs import JobFilter
from services.scenes import SceneDraft, ShotDraft
from services.voice import VOICE_JOB
from tests.ui.test_characters_page import KOOPA, PEACH, api, element, open_editor
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually
from tests.ui.test_unsaved_edits import press_escape
from tests.ui.test_voices_page import seed_source


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


async def open_voice(user: User, project_id: int, slug: str) -> None:
    await user.open(f"/characters?project={project_id}")
    await open_editor(user, slug)
    user.find(marker="voice-tab").click()
    await user.should_see(marker="voice-engine")


def audio_source(user: User, marker: str) -> str | None:
    found = visible(user, marker)
    return str(found[0].source) if found else None


async def voice_jobs() -> int:
    return len(await running_studio().jobs.list(JobFilter(kind=VOICE_JOB)))


async def test_a_voice_is_chosen_saved_undone_and_previewed(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    await open_voice(user, project_id, "koopa_king")
    engine = element(user, "voice-engine")
    assert engine.value == "piper"
    assert engine.options["http"].endswith("(unavailable here)")  # no voice server configured here
    await user.should_see(marker="voice-unavailable-http")
    await user.should_see("STUDIO_VOICE_SERVICE_URL")
    assert visible(user, "voice-piper") and not visible(user, "voice-espeak")

    engine.value = "espeak"
    await eventually(lambda: bool(visible(user, "voice-espeak")) and not visible(user, "voice-piper"))
    await eventually(lambda: "m3" in element(user, "voice-variant").options)  # espeak-ng's own list
    assert "en-gb" in element(user, "voice-espeak-voice").options
    element(user, "voice-variant").value = "m3"
    element(user, "voice-pitch").value = 30
    element(user, "voice-speed").value = 1000
    user.find(marker="voice-save").click()
    await user.should_see("Speed: Input should be less than or equal to 450")
    assert (await studio.characters.get(koopa.id)).voice_profile == {}  # type: ignore[arg-type]

    element(user, "voice-speed").value = 150
    user.find(marker="voice-save").click()
    await user.should_see("Saved.")
    await user.should_see("Koopa King's voice saved")
    saved = {"engine": "espeak", "variant": "m3", "pitch": 30, "speed": 150}
    assert (await studio.characters.get(koopa.id)).voice_profile == saved  # type: ignore[arg-type]
    voice = await api(user, "GET", f"/characters/{koopa.id}/voice")
    assert voice["profile"]["variant"] == "m3"

    user.find(marker="undo").click()
    await user.should_see("Koopa King's previous voice is back")
    assert (await studio.characters.get(koopa.id)).voice_profile == {}  # type: ignore[arg-type]
    assert element(user, "voice-engine").value == "piper"
    [undone, changed] = await studio.audit.recent(event_prefix="voice.")
    assert (undone.data["previous"], changed.data["profile"]) == (saved, saved)

    # A preview speaks the form's voice before it is saved, as a job, then plays it in the page.
    element(user, "voice-engine").value = "espeak"
    element(user, "voice-sample").value = "Welcome back to the little town by the sea."
    user.find(marker="voice-preview").click()
    await eventually(lambda: audio_source(user, "voice-preview-audio") is not None, seconds=WAIT)
    source = audio_source(user, "voice-preview-audio")
    assert source is not None and source.startswith("/api/voices/lines/")
    await user.should_see("Playing Koopa King's voice")
    line = await user.http_client.get(source)
    assert line.status_code == 200 and line.headers["content-type"] == "audio/wav" and line.content[:4] == b"RIFF"
    assert (await studio.characters.get(koopa.id)).voice_profile == {}  # type: ignore[arg-type]  # only tried
    assert await voice_jobs() == 1

    # The same line again comes from the cache: no second job.
    user.find(marker="voice-preview").click()
    await user.should_see("Playing Koopa King's voice")
    assert await voice_jobs() == 1
    assert audio_source(user, "voice-preview-audio") == source


async def test_a_voice_that_cannot_speak_here_disables_the_preview_and_says_why(user: User) -> None:
    project_id, [peach] = await cast(user, PEACH)
    await api(user, "PUT", f"/characters/{peach.id}/voice", {"engine": "http", "reference_sample": "peach"})
    await open_voice(user, project_id, "princess_peach")
    assert element(user, "voice-engine").value == "http"
    assert element(user, "voice-reference-sample").value == "peach"
    assert element(user, "voice-preview").enabled is False
    element(user, "voice-engine").value = "piper"
    await eventually(lambda: element(user, "voice-preview").enabled is True)
    element(user, "voice-engine").value = "http"
    element(user, "voice-reference-sample").value = ""
    user.find(marker="voice-save").click()
    await user.should_see("Reference sample: the http engine needs a reference sample")


async def shot_with_line(user: User, line: str, voice: dict | None = None) -> str:
    """A project with Koopa (in `voice`, when given) and a scene with one shot where he says `line`; the shot's
    panel is open. Returns the shot's id."""
    project_id, [koopa] = await cast(user, KOOPA)
    if voice is not None:
        await api(user, "PUT", f"/characters/{koopa.id}/voice", voice)
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="Arrival"), "local")
    draft = ShotDraft(
        description="Koopa arrives",
        characters_present=[koopa.id],  # type: ignore[list-item]
        dialogue_text=line,
        dialogue_character_id=koopa.id,
        video_engine="animatic",
    )
    shot = await studio.scenes.add_shot(scene.id, draft, "local")
    await user.open(f"/scenes?project={project_id}&scene={scene.id}")
    await user.should_see(marker="timeline-total", retries=WAIT)
    user.find(marker=f"open-shot-{shot.id}").click()
    await user.should_see(marker="shot-editor", retries=WAIT)
    return str(shot.id)


async def test_play_line_speaks_the_shots_line_in_the_speakers_voice(user: User) -> None:
    shot_id = await shot_with_line(user, "Please open the window and let the morning light in.", {"engine": "espeak"})
    studio = running_studio()
    assert element(user, "play-line").enabled is True
    user.find(marker="play-line").click()
    await eventually(lambda: audio_source(user, "play-line-audio") is not None, seconds=WAIT)
    await user.should_see("Playing Koopa King's line")
    assert await studio.voices.cached_shot_line(uuid.UUID(shot_id)) is not None
    audio = await user.http_client.get(f"/api/shots/{shot_id}/dialogue/audio")
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    assert await voice_jobs() == 1

    # Without a line there is nothing to play: the button is disabled and its tooltip says why.
    element(user, "dialogue-text").value = ""
    await eventually(lambda: element(user, "play-line").enabled is False)
    await user.should_see("Write a dialogue line to hear it")


async def test_play_line_shows_why_a_voice_failed(user: User) -> None:
    await shot_with_line(user, "Hello there.", {"engine": "http", "reference_sample": "koopa"})
    user.find(marker="play-line").click()
    await eventually(lambda: "STUDIO_VOICE_SERVICE_URL" in element(user, "play-line-error").text, seconds=WAIT)
    assert audio_source(user, "play-line-audio") is None


async def test_voice_edits_are_marked_and_asked_about_before_the_editor_closes(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    await open_voice(user, project_id, "koopa_king")
    await user.should_not_see(marker="voice-unsaved")
    with user.client:
        element(user, "voice-engine").value = "espeak"
        element(user, "voice-pitch").value = 30
    await user.should_see(marker="voice-unsaved")

    press_escape(user)
    await user.should_see("Your edits to Koopa King's voice are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert element(user, "voice-pitch").value == 30  # kept

    user.find(marker="voice-save").click()
    await user.should_see("Saved.")
    await user.should_not_see(marker="voice-unsaved")
    assert (await running_studio().characters.get(koopa.id)).voice_profile["pitch"] == 30  # type: ignore[arg-type]
    press_escape(user)  # saved: Esc closes at once
    await user.should_not_see(marker="character-editor", retries=WAIT)
    await user.should_not_see(marker="confirm-dialog")


async def test_the_voice_tab_shows_the_approved_samples_and_the_reference_with_the_way_to_voices(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    await open_voice(user, project_id, "koopa_king")
    await user.should_see(marker="voice-tab-samples-count")
    assert element(user, "voice-tab-samples-count").text == "0 approved samples · 0 s of speech"
    assert element(user, "to-voices").text == "Find this character's voice in a video or audio file on the Voices page"
    assert not visible(user, "voice-tab-reference")

    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    await studio.voice_samples.assign_speaker(seeded.speakers[0], koopa.id, "seed")
    first, _, third, _, _ = seeded.segments
    await studio.voice_samples.decide([first, third], "approved", "seed")
    await open_voice(user, project_id, "koopa_king")
    await user.should_see(marker="voice-tab-reference")
    assert element(user, "voice-tab-samples-count").text == "2 approved samples · 6 s of speech"
    assert element(user, "voice-tab-reference").text.startswith("\u201cHi, I'm Koopa King and this is my castle.")
    assert element(user, "voice-tab-reference-audio").source == f"/api/voice-segments/{first}/audio"
    link = element(user, "to-voices")
    assert link.props["href"] == f"/voices?project={project_id}&character={koopa.id}"
    assert link.text == "Find, approve and choose samples on the Voices page"


async def test_saving_the_voice_keeps_its_reference_from_the_approved_samples(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    await studio.voice_samples.assign_speaker(seeded.speakers[0], koopa.id, "seed")
    await studio.voice_samples.decide([seeded.segments[0]], "approved", "seed")
    linked = (await studio.characters.get(koopa.id)).voice_profile  # type: ignore[arg-type]
    assert linked["sample_id"] == seeded.segments[0]

    # Trying espeak and saving keeps the link, so going back to the cloned voice still has its sample.
    await open_voice(user, project_id, "koopa_king")
    element(user, "voice-engine").value = "espeak"
    user.find(marker="voice-save").click()
    await user.should_see("Saved.")
    saved = (await studio.characters.get(koopa.id)).voice_profile  # type: ignore[arg-type]
    assert saved["engine"] == "espeak"
    assert {key: saved[key] for key in ("sample_id", "reference_sample")} == {
        key: linked[key] for key in ("sample_id", "reference_sample")
    }

    # A path typed by hand is the user's own reference: the link goes.
    element(user, "voice-engine").value = "http"
    element(user, "voice-reference-sample").value = "/srv/voices/koopa.wav"
    user.find(marker="voice-save").click()
    for _ in range(500):  # the save runs in the background: a bound, not a pace
        typed = (await studio.characters.get(koopa.id)).voice_profile  # type: ignore[arg-type]
        if typed.get("engine") == "http":
            break
        await asyncio.sleep(0.02)
    assert typed["reference_sample"] == "/srv/voices/koopa.wav" and "sample_id" not in typed
