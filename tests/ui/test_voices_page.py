"""The Voices page through NiceGUI's simulated user, with sources, speaker groups and segments (small WAVs) seeded
straight into the database and the data folder, as an ingestion would have left them (the chain itself is
tested in tests/integration; here it would only make the page slow to test).

A proposed speaker is confirmed and approved in bulk, and its best 3-10 s sample becomes the character's
reference (on SQLite and PostgreSQL), and speaking with the cloned voice sends that reference and its words to
the (fake) voice service; the keyboard moves, approves, rejects, plays and undoes; a transcript is
edited in place under the unsaved-edits convention; level strips are read from the WAVs; sources show their
summary or their error in words and are deleted with Undo; a URL that fails fails its job with the reason; the
empty page says what to do."""

from __future__ import annotations

import math
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from nicegui import ui
from nicegui.events import GenericEventArguments
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from pages import AREAS
from studio.models import VoiceSegment, VoiceSource, VoiceSpeaker
from studio.root import Studio
from tests.fakes.voice_service import FakeVoiceService
from tests.ui.test_characters_page import KOOPA, PEACH, api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually

RATE = 16_000
# (speaker, start, end, transcript): speaker 1 introduces itself, so the studio proposes its character.
LINES = [
    (0, 0.5, 4.5, "Hi, I'm Koopa King and this is my castle."),
    (1, 5.0, 8.5, "It is a very large castle."),
    (0, 9.0, 10.5, "Thank you."),
    (1, 11.0, 15.0, "Shall we go in before it rains again?"),
    (0, 15.5, 21.5, "Yes, the gate is open, follow me inside now please."),
]
PROPOSAL = "says \u201cHi, I'm Koopa King and this is my castle.\u201d at 0:00"


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


@dataclass(frozen=True)
class SeededSource:
    source_id: int
    speakers: list[int]  # speaker ids, Speaker 1 first
    segments: list[int]  # segment ids in the order of LINES


def write_tone(path: Path, seconds: float, pitch: float) -> None:
    """A mono 16-bit WAV: a tone that swells and fades, so its level strip has a shape."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.sin(np.pi * t / seconds) ** 2
    samples = (0.6 * envelope * np.sin(2 * math.pi * pitch * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())


def voice(seed: int) -> bytes:
    vector = np.random.default_rng(seed).normal(size=256).astype(np.float32)
    return (vector / np.linalg.norm(vector)).tobytes()


async def seed_source(
    studio: Studio,
    project_id: int,
    proposed: int | None = None,
    *,
    title: str = "castle-dialogue.mp4",
    state: str = "done",
    error: str | None = None,
) -> SeededSource:
    """A source as an ingestion leaves it: two speakers (Speaker 1 proposed for `proposed`, saying its name) and
    the segments of LINES with their WAVs under voice-sources/<id>/."""
    async with studio.db.session() as session:
        source = VoiceSource(
            project_id=project_id,
            kind="upload",
            origin=title,
            title=title,
            state=state,
            error=error,
            duration_seconds=22.0 if state == "done" else None,
            language="en" if state == "done" else "",
            summary={"segments": len(LINES), "speakers": 2, "dropped_short": 1, "proposals": int(bool(proposed))}
            if state == "done"
            else {},
            created_by="seed",
        )
        session.add(source)
        await session.flush()
        source_id: int = source.id  # type: ignore[assignment]
        if state != "done":
            return SeededSource(source_id, [], [])
        speakers = [
            VoiceSpeaker(
                source_id=source_id,
                label=label + 1,
                proposed_character_id=proposed if label == 0 else None,
                proposal_reason=PROPOSAL if proposed and label == 0 else "",
                centroid=voice(label),
            )
            for label in range(2)
        ]
        session.add_all(speakers)
        await session.flush()
        segments = []
        for index, (speaker, start, end, text) in enumerate(LINES, start=1):
            relative = f"voice-sources/{source_id}/seg_{index:04d}.wav"
            write_tone(studio.media.path_of(relative), end - start, 180.0 if speaker == 0 else 260.0)
            segments.append(
                VoiceSegment(
                    source_id=source_id,
                    speaker_id=speakers[speaker].id,
                    start=start,
                    end=end,
                    duration=end - start,
                    file=relative,
                    transcript=text,
                    snr_db=30.0 - index * 4,
                    speaker_confidence=0.9 - index * 0.08,
                    quality=0.9 - index * 0.1,
                    embedding=voice(speaker),
                )
            )
        session.add_all(segments)
        await session.flush()
        return SeededSource(source_id, [s.id for s in speakers], [s.id for s in segments])  # type: ignore[misc]


def press(user: User, key: str, *, ctrl: bool = False) -> None:
    """A key pressed on the page (not in a text field), as NiceGUI's keyboard element hears it from the browser."""
    [keyboard] = [k for k in user.find(kind=ui.keyboard).elements if k.props.get("ignore")]
    modifiers = {"altKey": False, "ctrlKey": ctrl, "metaKey": False, "shiftKey": False}
    args = {"action": "keydown", "repeat": False, "key": key, "code": key, "location": 0, **modifiers}
    with user.client:
        keyboard._handle_key(GenericEventArguments(sender=keyboard, client=user.client, args=args))


def click_newest_undo(user: User) -> None:
    """Undo on the newest undo bar (bars stack; a person sees and clicks the one on top)."""
    newest = max(user.find(marker="undo").elements, key=lambda e: e.id)
    UserInteraction(user, {newest}, None).click()


def decisions(user: User, segment_ids: list[int]) -> list[str]:
    return [str(element(user, f"decision-{i}").text) for i in segment_ids]


async def stored_decisions(studio: Studio, segment_ids: list[int]) -> list[str]:
    return [(await studio.voice_samples.segment(i)).decision for i in segment_ids]


def current_segment(user: User) -> int | None:
    """The segment the keyboard acts on (outlined on the page)."""
    assert user.client is not None
    for found in user.client.elements.values():
        if "voice-segment--current" in found.classes:
            marker = next(m for m in found._markers if m.startswith("segment-"))
            return int(marker.removeprefix("segment-"))
    return None


@pytest.fixture
def on_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The studio on the parametrised database (request before `user`: main.py reads the settings at start)."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", database_url)
    return database_url


async def test_the_page_without_sources_says_what_to_do_and_sits_after_training(user: User) -> None:
    names = [area.label for area in AREAS]
    assert names.index("Voices") == names.index("Training") + 1
    project_id, _cast = await cast(user, KOOPA)
    await user.open(f"/voices?project={project_id}")
    await user.should_see(marker="no-sources")
    await user.should_see("paste a video address, upload a video or audio file, or pick a folder")
    await user.should_see(marker="no-source-open")
    await user.should_see(marker="no-samples")
    await user.should_see(marker="source-url")


async def test_a_proposed_speaker_is_confirmed_approved_in_bulk_and_gives_the_reference(
    on_database: str, user: User
) -> None:
    project_id, [koopa, peach] = await cast(user, KOOPA, PEACH)
    studio = running_studio()
    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    first, second = seeded.speakers
    koopa_lines = [seeded.segments[i] for i, line in enumerate(LINES) if line[0] == 0]
    await user.open(f"/voices?project={project_id}&source={seeded.source_id}&character={koopa.id}")

    await user.should_see(marker=f"speaker-{first}", retries=WAIT)
    assert element(user, f"proposal-{first}").text == f"Proposed: Koopa King — {PROPOSAL}"
    assert element(user, f"source-summary-{seeded.source_id}").text == (
        "5 segments · 2 voices · 1 bit under 1 s left out · 1 voice with a proposed character"
    )
    # Nothing is assigned until a person confirms, and nobody's segments cannot be approved.
    assert not element(user, f"approve-speaker-{first}").enabled
    assert await studio.voice_samples.samples(koopa.id) and not (await studio.voice_samples.samples(koopa.id)).approved

    user.find(marker=f"confirm-speaker-{first}").click()
    await user.should_see(marker=f"assigned-{first}", retries=WAIT)
    assert element(user, f"assigned-{first}").text == "Assigned to Koopa King"
    assert (await studio.voice_samples.speakers(seeded.source_id))[0].character_id == koopa.id

    user.find(marker=f"approve-speaker-{first}").click()
    await eventually(lambda: decisions(user, koopa_lines) == ["approved"] * 3)
    assert await stored_decisions(studio, koopa_lines) == ["approved"] * 3
    assert element(user, f"decision-{seeded.segments[1]}").text == "pending"  # the other voice is untouched
    await user.should_see("3 of Speaker 1's segments approved")

    # The character's panel: three samples, the reference is the best 3-10 s one (the 1.5 s line cannot be).
    await eventually(lambda: bool(visible(user, "reference-text")))
    assert element(user, "samples-count").text == "3 approved samples · 12 s of speech"
    assert element(user, "reference-text").text.startswith("\u201cHi, I'm Koopa King")
    assert "best approved 3-10 s sample" in element(user, "reference-reason").text
    assert not element(user, f"use-reference-{seeded.segments[2]}").enabled  # 1.5 s: too short to clone from
    profile = studio.voices.profile_of(await studio.characters.get(koopa.id))
    assert profile.reference_sample == f"voice-sources/{seeded.source_id}/seg_0001.wav"
    assert profile.reference_text == LINES[0][3]

    user.find(marker=f"use-reference-{seeded.segments[4]}").click()
    await user.should_see("Koopa King's cloned voice now starts from this sample")
    await eventually(lambda: element(user, "reference-text").text.startswith("\u201cYes, the gate"))
    assert element(user, "reference-reason").text == "chosen by a person"
    user.find(marker="speak-cloned").click()  # no voice service here: refused, saying how to get one
    await user.should_see("STUDIO_VOICE_SERVICE_URL", retries=WAIT)
    link = element(user, "export-samples")
    assert link.props["href"] == f"/api/characters/{koopa.id}/voice-samples/export.zip"

    # Assign the other voice through the picker, then take it back with Undo.
    element(user, f"assign-choice-{second}").value = peach.id
    user.find(marker=f"assign-speaker-{second}").click()
    await user.should_see("Speaker 2 is Princess Peach", retries=WAIT)  # the undo bar (after the redraw)
    assert element(user, f"assigned-{second}").text == "Assigned to Princess Peach"
    click_newest_undo(user)
    await user.should_see(marker=f"unassigned-{second}", retries=WAIT)
    assert (await studio.voice_samples.speakers(seeded.source_id))[1].character_id is None


async def test_the_keyboard_moves_approves_rejects_plays_and_undoes(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    await studio.voice_samples.assign_speaker(seeded.speakers[0], koopa.id, "seed")
    first, _, third, _, fifth = seeded.segments  # Speaker 1's segments, shown first
    await user.open(f"/voices?project={project_id}&source={seeded.source_id}")
    await user.should_see(marker=f"segment-{first}", retries=WAIT)
    assert current_segment(user) == first

    press(user, "a")  # approves the current segment and moves on
    await eventually(lambda: element(user, f"decision-{first}").text == "approved")
    await eventually(lambda: current_segment(user) == third)
    press(user, "r")
    await eventually(lambda: element(user, f"decision-{third}").text == "rejected")
    await eventually(lambda: current_segment(user) == fifth)
    press(user, "ArrowUp")
    await eventually(lambda: current_segment(user) == third)
    press(user, " ")
    await eventually(
        lambda: [a.source for a in visible(user, "sample-audio")] == [f"/api/voice-segments/{third}/audio"]
    )
    await user.should_see("Playing Speaker 1 at 0:09 to 0:10")

    press(user, "z", ctrl=True)  # takes back the last decision (the rejection)
    await eventually(lambda: element(user, f"decision-{third}").text == "pending")
    assert await stored_decisions(studio, [first, third]) == ["approved", "pending"]
    press(user, "z", ctrl=True)
    await eventually(lambda: element(user, f"decision-{first}").text == "pending")

    # A selection across groups, approved and rejected in bulk.
    element(user, f"select-{first}").value = True
    element(user, f"select-{fifth}").value = True
    await eventually(lambda: element(user, "selection-count").text == "2 selected")
    user.find(marker="reject-selection").click()
    await eventually(lambda: [element(user, f"decision-{i}").text for i in (first, fifth)] == ["rejected"] * 2)
    await eventually(lambda: not visible(user, "selection-count"))
    await user.should_see("2 of the selection rejected", retries=WAIT)
    click_newest_undo(user)
    await eventually(lambda: [element(user, f"decision-{i}").text for i in (first, fifth)] == ["pending"] * 2)


async def test_a_transcript_is_edited_in_place_and_saved_on_enter(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    segment = seeded.segments[1]
    await user.open(f"/voices?project={project_id}&source={seeded.source_id}")
    await user.should_see(marker=f"transcript-{segment}", retries=WAIT)
    field = element(user, f"transcript-{segment}")
    assert field.value == LINES[1][3]

    field.value = "It is a   very large castle indeed."
    await eventually(lambda: bool(visible(user, "transcripts-unsaved")))
    user.find(marker=f"transcript-{segment}").trigger("keydown.enter")
    await eventually(lambda: not visible(user, "transcripts-unsaved"))
    assert (await studio.voice_samples.segment(segment)).transcript == "It is a very large castle indeed."
    assert field.value == "It is a very large castle indeed."  # as saved: spaces folded

    # Leaving the field saves too; Esc puts back what was saved.
    field.value = "It is a castle."
    user.find(marker=f"transcript-{segment}").trigger("blur")
    await eventually(lambda: not visible(user, "transcripts-unsaved"))
    assert (await studio.voice_samples.segment(segment)).transcript == "It is a castle."
    field.value = "Typo here"
    await eventually(lambda: bool(visible(user, "transcripts-unsaved")))
    user.find(marker=f"transcript-{segment}").trigger("keydown.escape")
    await eventually(lambda: field.value == "It is a castle." and not visible(user, "transcripts-unsaved"))


async def test_level_strips_are_read_from_the_segments_wavs(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    seeded = await seed_source(running_studio(), project_id, proposed=koopa.id)
    await user.open(f"/voices?project={project_id}&source={seeded.source_id}")
    strip = f"levels-{seeded.segments[0]}"
    await eventually(lambda: "<svg" in str(element(user, strip).content))
    content = str(element(user, strip).content)
    bars = [float(rect.split(' height="')[1].split('"')[0]) for rect in content.split("<rect")[1:]]
    assert len(bars) == 48
    assert bars[len(bars) // 2] > 4 * bars[0]  # the tone swells in the middle and fades at the ends


async def test_sources_show_their_summary_or_error_and_are_deleted_with_undo(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    done = await seed_source(studio, project_id, proposed=koopa.id)
    failed = await seed_source(
        studio, project_id, title="ghost.mp4", state="failed", error="ghost.mp4 has no audio track: nothing to hear"
    )
    await user.open(f"/voices?project={project_id}&source={done.source_id}")
    await user.should_see(marker=f"source-{failed.source_id}", retries=WAIT)
    assert element(user, f"source-error-{failed.source_id}").text == "ghost.mp4 has no audio track: nothing to hear"
    assert element(user, f"source-state-{failed.source_id}").text == "failed"
    await user.should_see(marker=f"speaker-{done.speakers[0]}")

    user.find(marker=f"delete-source-{done.source_id}").click()
    await user.should_not_see(marker=f"source-{done.source_id}", retries=WAIT)
    await user.should_see(marker="no-source-open")  # its groups went with it
    user.find(marker="undo").click()
    await user.should_see(marker=f"source-{done.source_id}", retries=WAIT)
    assert [s.id for s in await studio.voice_sources.list(project_id)] == [failed.source_id, done.source_id]


async def test_a_url_that_fails_fails_its_source_with_the_reason(user: User) -> None:
    project_id, _cast = await cast(user, KOOPA)
    await user.open(f"/voices?project={project_id}")
    user.find(marker="source-url").type("ftp://example.com/talk.mp3")
    user.find(marker="add-source-url").click()
    await eventually(lambda: bool(element(user, "source-problem").text))
    assert not await running_studio().voice_sources.list(project_id)  # refused before anything was written

    element(user, "source-url").value = "http://127.0.0.1:9/talk.mp4"  # nothing listens on the discard port
    user.find(marker="add-source-url").click()
    await user.should_see("Looking for voices: the source is queued")
    [source] = await running_studio().voice_sources.list(project_id)
    await eventually(lambda: bool(visible(user, f"source-error-{source.id}")), seconds=WAIT)
    assert element(user, f"source-state-{source.id}").text == "failed"
    assert "127.0.0.1" in element(user, f"source-error-{source.id}").text


async def test_without_characters_the_groups_say_to_create_them(user: User) -> None:
    project = await api(user, "POST", "/projects", {"name": "Empty Galaxy"})
    seeded = await seed_source(running_studio(), project["id"])
    await user.open(f"/voices?project={project['id']}&source={seeded.source_id}")
    await user.should_see(marker="no-characters", retries=WAIT)
    await user.should_see("The project has no characters yet: create them on the Characters page to assign voices.")


async def test_a_file_that_is_not_media_and_a_folder_outside_the_import_folders_are_refused(user: User) -> None:
    project_id, _cast = await cast(user, KOOPA)
    await user.open(f"/voices?project={project_id}")
    upload = element(user, "source-upload")
    with user.client:
        await upload.handle_uploads(
            [ui.upload.SmallFileUpload(name="notes.mp4", content_type="video/mp4", _data=b"not a video at all")]
        )
    await eventually(lambda: bool(element(user, "source-problem").text))
    assert "notes.mp4" in element(user, "source-problem").text

    element(user, "source-folder").value = "/etc"
    user.find(marker="add-source-folder").click()
    await eventually(lambda: "outside the import folders" in element(user, "source-problem").text)
    assert not await running_studio().voice_sources.list(project_id)  # nothing written


@pytest.fixture
def voice_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVoiceService]:
    """A GPT-SoVITS-like voice service the studio is configured with (request before `user`)."""
    with FakeVoiceService() as fake:
        monkeypatch.setenv("STUDIO_VOICE_SERVICE_URL", fake.url)
        yield fake


async def test_speak_with_the_cloned_voice_sends_the_reference_and_its_words(
    voice_server: FakeVoiceService, user: User
) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    seeded = await seed_source(studio, project_id, proposed=koopa.id)
    await studio.voice_samples.assign_speaker(seeded.speakers[0], koopa.id, "seed")
    await studio.voice_samples.decide([seeded.segments[0]], "approved", "seed")
    await user.open(f"/voices?project={project_id}&character={koopa.id}")
    await user.should_see(marker="reference-text", retries=WAIT)

    user.find(marker="speak-cloned").click()
    await eventually(lambda: bool(visible(user, "cloned-voice-audio")), seconds=WAIT)
    assert studio.voices.profile_of(await studio.characters.get(koopa.id)).engine == "http"
    [body] = voice_server.bodies
    assert body["ref_audio_path"].endswith(f"voice-sources/{seeded.source_id}/seg_0001.wav")
    assert body["prompt_text"] == LINES[0][3]
    assert "Koopa King" in body["text"]
