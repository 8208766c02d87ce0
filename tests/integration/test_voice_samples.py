"""Voice samples on SQLite and PostgreSQL, seeded as an ingestion leaves them (rows + real WAVs, without the
chain): speakers assigned, segments approved in bulk with Undo, each character's reference following its
approved samples into its voice profile, the cloned voice asking the fake voice server with that sample, the
GPT-SoVITS export, deleting and restoring a source, and the REST API with its refusals."""

from __future__ import annotations

import io
import wave
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlmodel import select

from services.bible.schemas import CharacterDraft, ProjectDraft
from services.errors import BackendUnavailable, Conflict, Invalid, NotFound
from services.voice import SpeechFailed, VoiceProfile
from services.voice_samples.views import SegmentChanges
from studio.config import Settings
from studio.models import AuditRecord, Character, VoiceSegment, VoiceSource, VoiceSpeaker
from studio.root import Studio
from tests.fakes.voice_service import REFERENCE_LENGTH_REFUSAL, FakeVoiceService
from tests.integration.test_api import guarded_api

LOOPBACK = ("127.0.0.1", 40000)
RATE = 32000
# (speaker label, start, seconds, transcript, quality): speaker 1 is Rin, speaker 2 Kai.
PLANTED = (
    (1, 0.5, 4.0, "Hello, I'm Rin.", 0.7),
    (2, 5.0, 3.5, "Hi Rin, where is the map?", 0.6),
    (1, 9.0, 6.0, "It is in the blue box under the table.", 0.9),
    (1, 16.0, 12.0, "A very long line that no voice server takes as a reference.", 0.95),
    (2, 29.0, 1.5, "Thanks.", 0.3),
)


def tone(path: Path, seconds: float, pitch: float) -> None:
    """A mono 16-bit 32 kHz WAV as the chain cuts them (a tone stands in for speech)."""
    t = np.arange(int(seconds * RATE)) / RATE
    samples = (0.3 * np.sin(2 * np.pi * pitch * t) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())


async def seed(studio: Studio, project_name: str = "Harbour Lights") -> dict[str, Any]:
    """A project with Rin and Kai and one finished source as an ingestion stores it."""
    project = await studio.projects.create(ProjectDraft(name=project_name), "local")
    rin = await studio.characters.create(project.id, CharacterDraft(name="Rin"), "local")  # type: ignore[arg-type]
    kai = await studio.characters.create(project.id, CharacterDraft(name="Kai"), "local")  # type: ignore[arg-type]
    async with studio.db.session() as session:
        source = VoiceSource(
            project_id=project.id,  # type: ignore[arg-type]
            kind="upload",
            origin="harbour.wav",
            title="harbour.wav",
            state="done",
            duration_seconds=31.0,
            language="en",
            summary={"segments": len(PLANTED), "speakers": 2},
            created_by="local",
        )
        session.add(source)
        await session.flush()
        speakers = {
            label: VoiceSpeaker(
                source_id=source.id,  # type: ignore[arg-type]
                label=label,
                proposed_character_id=rin.id if label == 1 else None,
                proposal_reason="says \u201cI'm Rin\u201d at 0:00" if label == 1 else "",
                centroid=np.full(256, label, dtype=np.float32).tobytes(),
            )
            for label in (1, 2)
        }
        session.add_all(speakers.values())
        await session.flush()
        for index, (label, start, seconds, text, quality) in enumerate(PLANTED, start=1):
            file = f"voice-sources/{source.id}/seg_{index:04d}.wav"
            tone(studio.media.path_of(file), seconds, 220.0 * label)
            session.add(
                VoiceSegment(
                    source_id=source.id,  # type: ignore[arg-type]
                    speaker_id=speakers[label].id,
                    start=start,
                    end=start + seconds,
                    duration=seconds,
                    file=file,
                    transcript=text,
                    snr_db=30.0,
                    speaker_confidence=0.9,
                    quality=quality,
                    embedding=np.full(256, label, dtype=np.float32).tobytes(),
                )
            )
    views = await studio.voice_samples.speakers(source.id)  # type: ignore[arg-type]
    return {"project": project, "rin": rin, "kai": kai, "source": source, "speakers": views}


async def profile(studio: Studio, character_id: int) -> VoiceProfile:
    return (await studio.voices.voice(character_id))[1]


async def test_assign_approve_undo_and_the_reference_follows(studio: Studio) -> None:
    world = await seed(studio)
    rin, kai, source = world["rin"], world["kai"], world["source"]
    first, second = world["speakers"]
    assert (first.label, first.proposed_character_name, first.character_id) == (1, "Rin", None)
    assert first.segments[0].transcript == "Hello, I'm Rin."
    assert first.segments[0].url == f"/api/voice-segments/{first.segments[0].id}/audio"
    samples = studio.voice_samples

    with pytest.raises(Invalid, match="assign the speaker"):  # nobody speaks it yet
        await samples.decide([s.id for s in first.segments], "approved", "local")
    assigned = await samples.assign_speaker(first.id, rin.id, "local")
    assert assigned.character_name == "Rin" and {s.character_id for s in assigned.segments} == {rin.id}
    await samples.assign_speaker(second.id, kai.id, "local")

    ids = [s.id for s in first.segments]
    change = await samples.decide(ids, "approved", "local")
    assert change.changed == 3 and change.previous == dict.fromkeys(ids, "pending")
    rins = await samples.samples(rin.id)
    # Best first; the 12 s line is the best by quality but too long for GPT-SoVITS: the 6 s one is the reference.
    assert [s.duration for s in rins.approved] == [12.0, 6.0, 4.0] and rins.total_seconds == 22.0
    assert rins.reference_id == ids[1] and "best approved 3-10 s" in rins.reference_reason
    voice = await profile(studio, rin.id)
    assert voice.engine == "piper"  # never switched silently
    assert (voice.sample_id, voice.reference_text) == (rins.reference_id, "It is in the blue box under the table.")
    assert voice.reference_sample == f"voice-sources/{source.id}/seg_0003.wav"

    again = await samples.decide(ids, "approved", "local")
    assert again.changed == 0  # already so: nothing to undo
    undone = await samples.undo(change, "local")
    assert undone.changed == 3 and undone.previous == dict.fromkeys(ids, "approved")
    assert (await samples.samples(rin.id)).approved == [] and (await profile(studio, rin.id)).sample_id is None
    await samples.undo(undone, "local")  # redo
    assert len((await samples.samples(rin.id)).approved) == 3

    with pytest.raises(Invalid, match="3-10 s"):
        await samples.choose_reference(rin.id, ids[2], "local")  # the 12 s line
    with pytest.raises(Invalid, match="not an approved voice sample of Rin"):
        await samples.choose_reference(rin.id, second.segments[0].id, "local")
    with pytest.raises(NotFound):
        await samples.choose_reference(rin.id, 999999, "local")
    chosen = await samples.choose_reference(rin.id, ids[0], "local")
    assert (chosen.reference_id, chosen.reference_reason) == (ids[0], "chosen by a person")
    assert (await profile(studio, rin.id)).reference_text == "Hello, I'm Rin."

    # One segment edited: its transcript follows into the reference text; rejecting it falls back to the best.
    edited = await samples.update_segment(ids[0], SegmentChanges(transcript="  Hello,   I am Rin. "), "local")
    assert edited.transcript == "Hello, I am Rin."
    assert (await profile(studio, rin.id)).reference_text == "Hello, I am Rin."
    await samples.update_segment(ids[0], SegmentChanges(decision="rejected"), "local")
    assert (await samples.samples(rin.id)).reference_id == ids[1]
    moved = await samples.update_segment(ids[1], SegmentChanges(character_id=None), "local")
    assert moved.character_id is None and moved.decision == "approved"
    with pytest.raises(Invalid, match="no character"):
        await samples.update_segment(ids[0], SegmentChanges(decision="approved", character_id=None), "local")
    assert (await samples.segment(ids[0])).character_id == rin.id  # refused whole

    # A typed reference is the user's: approved samples no longer touch it.
    typed = (await profile(studio, rin.id)).model_copy(update={"sample_id": None, "reference_sample": "/x/rin.wav"})
    await studio.voices.set_profile(rin.id, typed, "local")
    await samples.update_segment(ids[1], SegmentChanges(character_id=rin.id), "local")
    assert (await profile(studio, rin.id)).reference_sample == "/x/rin.wav"
    assert "typed by hand" in (await samples.samples(rin.id)).reference_reason

    async with studio.db.session() as session:
        changes = (
            await session.exec(select(AuditRecord.event).where(AuditRecord.event == "voice_samples.changed"))
        ).all()
    assert len(changes) >= 8


async def test_refusals_and_deleted_sources(studio: Studio) -> None:
    world = await seed(studio)
    other = await seed(studio, "Another Show")
    rin, source = world["rin"], world["source"]
    first, _ = world["speakers"]
    samples, sources = studio.voice_samples, studio.voice_sources
    with pytest.raises(Invalid, match="not a character of this source's project"):
        await samples.assign_speaker(first.id, other["rin"].id, "local")
    with pytest.raises(NotFound):
        await samples.assign_speaker(999999, rin.id, "local")
    with pytest.raises(NotFound):
        await samples.decide([first.segments[0].id, 999999], "rejected", "local")
    assert (await samples.segment(first.segments[0].id)).decision == "pending"  # nothing half-applied
    with pytest.raises(Invalid, match="decision"):
        await samples.decide([first.segments[0].id], "maybe", "local")
    with pytest.raises(Invalid, match="no approved voice samples"):
        await samples.export_zip(rin.id)

    await samples.assign_speaker(first.id, rin.id, "local")
    await samples.decide([s.id for s in first.segments], "approved", "local")
    assert (await profile(studio, rin.id)).sample_id is not None
    deleted = await sources.delete(source.id, "local")
    assert deleted.deleted_at is not None and await sources.list(world["project"].id) == []
    assert [s.id for s in await sources.list(world["project"].id, deleted=True)] == [source.id]
    assert (await samples.samples(rin.id)).approved == [] and (await profile(studio, rin.id)).sample_id is None
    assert studio.media.path_of(f"voice-sources/{source.id}/seg_0001.wav").is_file()  # kept until purged
    with pytest.raises(Conflict, match="deleted"):
        await samples.decide([first.segments[0].id], "rejected", "local")
    with pytest.raises(Conflict):
        await sources.delete(source.id, "local")
    await sources.restore(source.id, "local")
    assert len((await samples.samples(rin.id)).approved) == 3 and (await profile(studio, rin.id)).sample_id

    with pytest.raises(Conflict, match="not deleted"):
        await sources.purge(source.id, "local")
    await sources.delete(source.id, "local")
    await sources.purge(source.id, "local")
    with pytest.raises(NotFound):
        await sources.get(source.id)
    assert not studio.media.path_of(f"voice-sources/{source.id}").exists()


async def test_export_is_a_gpt_sovits_training_list(studio: Studio) -> None:
    world = await seed(studio)
    rin, (first, _) = world["rin"], world["speakers"]
    await studio.voice_samples.assign_speaker(first.id, rin.id, "local")
    await studio.voice_samples.decide([s.id for s in first.segments], "approved", "local")
    path = await studio.voice_samples.export_zip(rin.id)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        lines = archive.read("rin.list").decode().splitlines()
        with wave.open(io.BytesIO(archive.read("wavs/rin_0001.wav"))) as wav:
            assert wav.getframerate() == RATE and wav.getnframes() == 4 * RATE
    assert sorted(names) == ["rin.list", "wavs/rin_0001.wav", "wavs/rin_0002.wav", "wavs/rin_0003.wav"]
    assert lines[0] == "wavs/rin_0001.wav|rin|en|Hello, I'm Rin."


# --- the cloned voice against the fake voice server -----------------------------------------------------


@pytest.fixture(scope="module")
def voice_server() -> Iterator[FakeVoiceService]:
    with FakeVoiceService() as fake:
        yield fake


@pytest.fixture
async def cloning_studio(settings: Settings, voice_server: FakeVoiceService) -> AsyncIterator[Studio]:
    voice_server.reset()
    built = Studio.build(settings.model_copy(update={"voice_service_url": voice_server.url}))
    built.migrate()
    yield built
    await built.stop()


async def test_the_cloned_voice_sends_the_approved_sample(
    cloning_studio: Studio, voice_server: FakeVoiceService, studio: Studio
) -> None:
    studio_ = cloning_studio
    world = await seed(studio_)
    rin, (first, _) = world["rin"], world["speakers"]
    with pytest.raises(Invalid, match="no reference sample yet"):
        await studio_.voice_samples.use_cloned_voice(rin.id, "local")
    with pytest.raises(BackendUnavailable, match="STUDIO_VOICE_SERVICE_URL"):  # a studio without a voice server
        await studio.voice_samples.use_cloned_voice(rin.id, "local")
    await studio_.voice_samples.assign_speaker(first.id, rin.id, "local")
    await studio_.voice_samples.decide([s.id for s in first.segments], "approved", "local")
    character = await studio_.voice_samples.use_cloned_voice(rin.id, "local")
    assert character.voice_profile["engine"] == "http"

    path = await studio_.voices.line_audio("The tide will not wait.", character)
    assert path.is_file()
    body = voice_server.bodies[-1]
    data_dir = studio_.settings.data_dir
    assert body["ref_audio_path"] == f"{data_dir}/voice-sources/{world['source'].id}/seg_0003.wav"
    assert body["prompt_text"] == "It is in the blue box under the table."

    # The server sees the data folder elsewhere: the path follows the setting, and the cached line is not reused.
    studio_.settings.voice_service_samples_path = "/mnt/studio"
    with pytest.raises(SpeechFailed, match="not exists"):
        await studio_.voices.line_audio("The tide will not wait.", character)
    studio_.settings.voice_service_samples_path = None

    # A 12 s reference typed by hand: GPT-SoVITS refuses it, and the studio says so.
    long = str(data_dir / f"voice-sources/{world['source'].id}/seg_0004.wav")
    typed = VoiceProfile(engine="http", reference_sample=long, reference_text="x")
    await studio_.voices.set_profile(rin.id, typed, "local")
    async with studio_.db.session() as session:
        rin_now = await session.get(Character, rin.id)
    with pytest.raises(SpeechFailed, match=REFERENCE_LENGTH_REFUSAL):
        await studio_.voices.line_audio("Another line.", rin_now)


# --- REST -------------------------------------------------------------------------------------------------


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_rest_api(studio: Studio, api: httpx.AsyncClient) -> None:
    world = await seed(studio)
    project, rin, source = world["project"], world["rin"], world["source"]
    first, second = world["speakers"]

    listed = ok(await api.get("/voice-sources", params={"project_id": project.id}))
    assert [s["id"] for s in listed] == [source.id] and listed[0]["state"] == "done"
    assert ok(await api.get(f"/voice-sources/{source.id}"))["title"] == "harbour.wav"
    speakers = ok(await api.get(f"/voice-sources/{source.id}/speakers"))
    assert speakers[0]["proposed_character_name"] == "Rin" and len(speakers[0]["segments"]) == 3
    audio = await api.get(speakers[0]["segments"][0]["url"].removeprefix("/api"))
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav" and audio.content[:4] == b"RIFF"

    assigned = ok(await api.patch(f"/voice-speakers/{first.id}", json={"character_id": rin.id}))
    assert assigned["character_name"] == "Rin"
    ids = [s["id"] for s in assigned["segments"]]
    decided = ok(await api.post("/voice-segments/decisions", json={"segment_ids": ids, "decision": "approved"}))
    assert decided["changed"] == 3 and decided["previous"] == {str(i): "pending" for i in ids}
    character = ok(await api.get(f"/characters/{rin.id}/voice-samples"))
    assert len(character["approved"]) == 3 and character["reference_id"] == ids[1]
    undone = ok(await api.post("/voice-segments/decisions/undo", json={"previous": decided["previous"]}))
    assert undone["changed"] == 3
    ok(await api.post("/voice-segments/decisions", json={"segment_ids": ids, "decision": "approved"}))
    chosen = ok(await api.put(f"/characters/{rin.id}/voice-reference", json={"segment_id": ids[0]}))
    assert chosen["reference_id"] == ids[0]
    patched = ok(await api.patch(f"/voice-segments/{ids[0]}", json={"transcript": "Hello, I am Rin."}))
    assert patched["transcript"] == "Hello, I am Rin." and patched["decision"] == "approved"
    export = await api.get(f"/characters/{rin.id}/voice-samples/export.zip")
    assert export.status_code == 200 and zipfile.ZipFile(io.BytesIO(export.content)).namelist()[-1] == "rin.list"
    refused = await api.post(f"/characters/{rin.id}/cloned-voice")
    assert refused.status_code == 503 and "STUDIO_VOICE_SERVICE_URL" in refused.json()["detail"]

    deleted = ok(await api.delete(f"/voice-sources/{source.id}"))
    assert deleted["deleted_at"] is not None
    assert ok(await api.get("/voice-sources", params={"project_id": project.id})) == []
    assert ok(await api.post(f"/voice-sources/{source.id}/restore"))["deleted_at"] is None
    assert (await api.post(f"/voice-sources/{source.id}/cancel")).status_code == 409

    # Refusals: unknown ids 404, bad bodies 422, nothing written.
    for path in ("/voice-sources/999999", "/voice-sources/999999/speakers", "/voice-segments/999999/audio"):
        assert (await api.get(path)).status_code == 404, path
    assert (await api.get("/voice-sources", params={"project_id": 999999})).status_code == 404
    assert (await api.patch("/voice-speakers/999999", json={"character_id": None})).status_code == 404
    assert (await api.patch(f"/voice-segments/{ids[0]}", json={"decision": "maybe"})).status_code == 422
    assert (await api.patch(f"/voice-segments/{ids[0]}", json={"colour": "red"})).status_code == 422
    assert (
        await api.post("/voice-segments/decisions", json={"segment_ids": [], "decision": "approved"})
    ).status_code == 422
    nobody = await api.post(
        "/voice-segments/decisions", json={"segment_ids": [second.segments[0].id], "decision": "approved"}
    )
    assert nobody.status_code == 422 and "assign the speaker" in nobody.json()["detail"]
    assert (await api.put(f"/characters/{rin.id}/voice-reference", json={"segment_id": ids[2]})).status_code == 422
    assert (await api.get("/characters/999999/voice-samples")).status_code == 404
    for body in ({"project_id": project.id, "url": "ftp://example.com/a.mp3"}, {"project_id": project.id}, {"url": 1}):
        assert (await api.post("/voice-sources", json=body)).status_code == 422, body
    assert (
        await api.post("/voice-sources", content=b"{not json", headers={"content-type": "application/json"})
    ).status_code == 422
    assert (await api.post("/voice-sources", json={"project_id": 999999, "url": "http://x.test/a"})).status_code == 404
    not_media = await api.post(
        "/voice-sources", data={"project_id": str(project.id)}, files={"file": ("notes.mp3", b"just some text\n" * 50)}
    )
    assert not_media.status_code == 422 and "notes.mp3" in not_media.json()["detail"], not_media.text
    no_file = await api.post("/voice-sources", data={"project_id": str(project.id)}, files={"other": ("a", b"x")})
    assert no_file.status_code == 422
    assert len(ok(await api.get("/voice-sources", params={"project_id": project.id}))) == 1  # nothing written
    assert not list((studio.settings.data_dir / "staging").glob("voice-*"))


async def test_a_restart_settles_sources_whose_jobs_ended_while_the_studio_was_down(studio: Studio) -> None:
    from services.jobs import JobDraft
    from services.voice_samples import VOICE_INGEST_JOB

    seeded = await seed(studio)
    project_id = seeded["project"].id
    [cancelled] = await studio.jobs.submit([JobDraft(VOICE_INGEST_JOB, {"source_id": 0}, title="x")], "local")
    await studio.jobs.cancel(cancelled.id, "local")  # type: ignore[arg-type]
    async with studio.db.session() as session:
        rows = [
            VoiceSource(project_id=project_id, kind="url", origin=f"https://example.org/{name}", title=name,
                        state="running", job_id=job_id, created_by="local")
            for name, job_id in (("cancelled while down", cancelled.id), ("job gone", None))
        ]  # fmt: skip
        session.add_all(rows)
    changed = await studio.voice_sources.reconcile()
    states = {s.title: (s.state, s.error) for s in await studio.voice_sources.list(project_id)}
    assert changed == 2, states
    assert states["cancelled while down"][0] == "cancelled"
    assert states["job gone"] == ("failed", "its job no longer exists; add the source again")
    assert states["harbour.wav"] == ("done", None)  # a finished source is left as it is
    assert await studio.voice_sources.reconcile() == 0  # settled once: a second start changes nothing
