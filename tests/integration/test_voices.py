"""Character voices for real: Piper and espeak-ng speak lines Whisper understands, the line cache makes each
line once, the voice-cloning adapter speaks GPT-SoVITS and XTTS to a fake server (and explains its failures),
profiles are saved with an audited event, and the REST API runs synthesis as jobs."""

from __future__ import annotations

import asyncio
import io
import os
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.bible.schemas import CharacterDraft, ProjectDraft
from services.errors import Conflict, Invalid, NotFound
from services.voice import (
    EspeakSpeech,
    HttpVoiceService,
    SpeechFailed,
    VoiceProfile,
    checked_wav,
    wav_info,
)
from studio.config import Settings
from studio.models import Character
from studio.root import Studio
from tests.fakes.voice_service import FakeVoiceService
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import _until
from tests.speech import heard, words

LOOPBACK = ("127.0.0.1", 40000)
HARBOUR = "The harbour lights are shining tonight."
WELCOME = "Welcome back to the little town by the sea."
WINDOW = "Please open the window and let the morning light in."
RIN_SAMPLE = "/data/voices/rin_reference.wav"


@pytest.fixture(scope="module")
def shared_voice_server() -> Iterator[FakeVoiceService]:
    with FakeVoiceService() as fake:
        yield fake


@pytest.fixture
def voice_server(shared_voice_server: FakeVoiceService) -> Iterator[FakeVoiceService]:
    shared_voice_server.reset()
    yield shared_voice_server
    shared_voice_server.reset()


async def built(tmp_path: Path, **settings: Any) -> Studio:
    studio = Studio.build(Settings(data_dir=tmp_path / "data", **settings))
    studio.migrate()
    return studio


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Studio]:
    """A studio on SQLite whose workers are not started: the voices are called directly."""
    studio = await built(tmp_path)
    yield studio
    await studio.stop()


def character(profile: dict[str, Any], name: str = "Rin") -> Character:
    """A character as the cache sees it (only the name and voice matter to a line)."""
    return Character(id=1, project_id=1, name=name, slug=name.lower(), voice_profile=profile)


async def cast(studio: Studio, *names: str) -> tuple[int, list[Character]]:
    project = await studio.projects.create(ProjectDraft(name="Harbour Lights"), "local")
    made = [await studio.characters.create(project.id, CharacterDraft(name=n), "local") for n in names]  # type: ignore[arg-type]
    return project.id, made  # type: ignore[return-value]


def silence(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(bytes(2 * int(22050 * seconds)))
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- the embedded engines -------------------------------------------------------------------------


async def test_piper_speaks_the_narrators_line_once_and_the_cache_serves_it_after(local: Studio) -> None:
    voices = local.voices
    assert voices.cached_line(HARBOUR, None) is None
    path = await voices.line_audio(HARBOUR, None)
    assert path.is_relative_to(local.settings.data_dir / "voices") and path.suffix == ".wav"
    info = wav_info(path.read_bytes())
    assert info.channels == 1 and 1.0 < info.seconds < 6.0
    assert words(HARBOUR) <= words(await heard(path))

    before = path.stat()
    again = await voices.line_audio(f"  {HARBOUR}\n", character({}))  # `{}` is the narrator's default voice
    assert again == path and voices.cached_line(HARBOUR, None) == path
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not made again

    slower = await voices.line_audio(HARBOUR, character({"length_scale": 1.6}))
    assert slower != path and wav_info(slower.read_bytes()).seconds > info.seconds * 1.3


async def test_espeak_speaks_in_the_chosen_variant_pitch_and_speed(local: Studio) -> None:
    rin = character({"engine": "espeak", "variant": "m3", "pitch": 40, "speed": 160})
    path = await local.voices.line_audio(WELCOME, rin)
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and checked_wav(data)[0] == data  # the streamed header was put right
    assert words(WELCOME) <= words(await heard(path))
    faster = await local.voices.line_audio(WELCOME, character({"engine": "espeak", "variant": "m3", "speed": 320}))
    assert faster != path and wav_info(faster.read_bytes()).seconds < wav_info(data).seconds * 0.75
    assert local.voices.cached_line(WELCOME, rin) == path


async def test_lines_asked_for_at_once_are_made_once_without_half_files(local: Studio) -> None:
    rin = character({"engine": "espeak"})
    paths = await asyncio.gather(*(local.voices.line_audio(WINDOW, rin) for _ in range(4)))
    assert len(set(paths)) == 1
    assert files_under(local.settings.data_dir / "voices") == [paths[0]]  # no temp file left behind


async def test_espeak_problems_are_explained(local: Studio, tmp_path: Path) -> None:
    missing = EspeakSpeech(5.0, program=str(tmp_path / "no-espeak-here"))
    assert not missing.status().available and "apt-get install espeak-ng" in missing.status().reason
    with pytest.raises(SpeechFailed, match="espeak-ng is not installed: apt-get install espeak-ng"):
        await missing.synthesize("Hello.", VoiceProfile(engine="espeak"))
    espeak = EspeakSpeech(5.0)
    with pytest.raises(SpeechFailed, match="espeak-ng has no voice 'xx-zz'"):
        await espeak.synthesize("Hello.", VoiceProfile(engine="espeak", espeak_voice="xx-zz"))
    with pytest.raises(Invalid, match="no variant 'nosuch'") as refused:
        await espeak.check(VoiceProfile(engine="espeak", variant="nosuch"))
    assert refused.value.field == "variant" and "m3" in refused.value.message
    with pytest.raises(Invalid, match="no voice 'xx-zz'"):
        await espeak.check(VoiceProfile(engine="espeak", espeak_voice="xx-zz"))
    # Text that looks like an option is spoken, never read as one (it goes in on stdin).
    path = await local.voices.line_audio("--help me", character({"engine": "espeak"}))
    assert "help" in words(await heard(path))


def espeak_children() -> list[int]:
    """The espeak-ng processes this test process started and has not reaped."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and name.startswith("espeak"):
            found.append(int(stat.parent.name))
    return found


async def test_a_cancelled_espeak_line_stops_espeak_and_leaves_nothing(local: Studio) -> None:
    long_line = " ".join(["The boats come home one by one across the quiet water."] * 35)
    task = asyncio.create_task(local.voices.line_audio(long_line, character({"engine": "espeak", "speed": 80})))

    async def speaking() -> bool:
        return bool(espeak_children()) or task.done()

    await _until(speaking, 10, "espeak-ng to start")
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert espeak_children() == []  # killed and reaped, not left speaking to nobody
    assert not (local.settings.data_dir / "voices").exists() or not files_under(local.settings.data_dir / "voices")


async def test_asking_twice_for_a_line_being_made_shares_its_job(local: Studio) -> None:
    _, [rin] = await cast(local, "Rin")
    narrated = await local.voices.request_line("Hello there.", None, "local", project_id=rin.project_id)
    same = await local.voices.request_preview(rin.id, "Hello there.", "local")  # type: ignore[arg-type]
    assert narrated.job is not None and same.job is not None
    assert same.job.id == narrated.job.id  # Rin has the default voice: her line sounds the narrator's way

    await local.voices.set_profile(rin.id, VoiceProfile(engine="espeak"), "local")  # type: ignore[arg-type]
    first = await local.voices.request_preview(rin.id, "Hello there.", "local")  # type: ignore[arg-type]
    second = await local.voices.request_line("Hello   there. ", rin.id, "local")
    assert first.job is not None and second.job is not None and second.job.id == first.job.id
    assert first.job.payload == {"character_id": rin.id, "text": "Hello there.", "key": first.key}
    assert first.job.id != narrated.job.id and first.key != narrated.key
    assert narrated.job.title == "Voice of the narrator: “Hello there.”"


async def test_bad_lines_and_unreadable_profiles_are_refused_in_words(local: Studio) -> None:
    with pytest.raises(Invalid, match="the line is empty"):
        await local.voices.line_audio("   ", None)
    with pytest.raises(Invalid, match="at most 2000 characters"):
        await local.voices.line_audio("a" * 2001, None)
    old = character({"voice_preset": "en-US-GuyNeural"})
    with pytest.raises(Invalid, match=r"Rin's saved voice is not readable .*set the voice again"):
        await local.voices.line_audio("Hello.", old)


def test_engines_say_what_is_available_here(tmp_path: Path) -> None:
    voices = Studio.build(Settings(data_dir=tmp_path / "data")).voices
    engines = {s.engine: s for s in voices.available_engines()}
    assert engines["piper"].available and engines["espeak"].available
    assert not engines["http"].available and "STUDIO_VOICE_SERVICE_URL" in engines["http"].reason
    served = Studio.build(
        Settings(data_dir=tmp_path / "other", voice_service_url="http://127.0.0.1:9880", voice_service_api="xtts")
    ).voices
    http = next(s for s in served.available_engines() if s.engine == "http")
    assert http.available and http.reason == "XTTS at http://127.0.0.1:9880"


# --- voice-cloning servers ---------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["gpt_sovits", "xtts"])
async def test_a_voice_server_speaks_the_line_in_both_protocols_and_is_asked_once(
    tmp_path: Path, voice_server: FakeVoiceService, api: str
) -> None:
    studio = await built(tmp_path, voice_service_url=voice_server.url, voice_service_api=api)
    try:
        sample = RIN_SAMPLE if api == "gpt_sovits" else "rin"
        rin = character({"engine": "http", "reference_sample": sample, "reference_text": "I am Rin.", "language": "en"})
        path = await studio.voices.line_audio(WELCOME, rin)
        assert words(WELCOME) <= words(await heard(path))
        [body] = voice_server.bodies
        if api == "gpt_sovits":
            assert body == {
                "path": "/tts",
                "text": WELCOME,
                "text_lang": "en",
                "ref_audio_path": RIN_SAMPLE,
                "prompt_text": "I am Rin.",
                "prompt_lang": "en",
                "media_type": "wav",
                "streaming_mode": False,
            }
        else:
            assert body == {"path": "/tts_to_audio/", "text": WELCOME, "speaker_wav": "rin", "language": "en"}
        assert await studio.voices.line_audio(WELCOME, rin) == path
        assert len(voice_server.bodies) == 1  # the second time came from the cache
    finally:
        await studio.stop()


async def test_voice_server_failures_say_what_to_check(voice_server: FakeVoiceService) -> None:
    rin = VoiceProfile(engine="http", reference_sample=RIN_SAMPLE)
    sovits = HttpVoiceService(voice_server.url, "gpt_sovits", 5.0)

    voice_server.fail_with = 500
    with pytest.raises(SpeechFailed, match=r"GPT-SoVITS at .* failed on the line \(HTTP 500: fake failure 500\)"):
        await sovits.synthesize("Hello.", rin)
    voice_server.fail_with = None

    missing = VoiceProfile(engine="http", reference_sample="/data/voices/nobody.wav")
    with pytest.raises(SpeechFailed, match=r"refused the line \(HTTP 400: tts failed; .*nobody.wav not exists\)"):
        await sovits.synthesize("Hello.", missing)
    xtts = HttpVoiceService(voice_server.url, "xtts", 5.0)
    with pytest.raises(SpeechFailed, match=r"XTTS at .* refused the line \(HTTP 400: Speaker nobody not found\)"):
        await xtts.synthesize("Hello.", VoiceProfile(engine="http", reference_sample="nobody"))

    voice_server.reply, voice_server.reply_type = b"<html><body>It works!</body></html>", "text/html"
    with pytest.raises(SpeechFailed, match=r"did not answer with a WAV file \(a text/html reply: .*It works!"):
        await sovits.synthesize("Hello.", rin)
    voice_server.reply, voice_server.reply_type = b"OggS" + bytes(400), "audio/wav"
    with pytest.raises(SpeechFailed, match=r"did not answer with a WAV file \(it does not start with a RIFF/WAVE"):
        await sovits.synthesize("Hello.", rin)
    voice_server.reply = silence(1.0)
    with pytest.raises(SpeechFailed, match=r"did not answer with a WAV file \(it is silent\)"):
        await sovits.synthesize("Hello.", rin)
    voice_server.reply = None

    slow = HttpVoiceService(voice_server.url, "gpt_sovits", 0.3)
    voice_server.latency = 2.0
    with pytest.raises(SpeechFailed, match=r"did not answer within 0.3 s.*STUDIO_VOICE_TIMEOUT_SECONDS"):
        await slow.synthesize("Hello.", rin)
    voice_server.latency = 0.0

    voice_server.down = True
    with pytest.raises(SpeechFailed, match=r"refused the connection: is GPT-SoVITS running there\?"):
        await sovits.synthesize("Hello.", rin)
    voice_server.down = False

    wrong_protocol = HttpVoiceService(voice_server.url + "/v2", "gpt_sovits", 5.0)
    with pytest.raises(SpeechFailed, match=r"does not exist \(HTTP 404\): is STUDIO_VOICE_SERVICE_API"):
        await wrong_protocol.synthesize("Hello.", rin)
    with pytest.raises(SpeechFailed, match="set STUDIO_VOICE_SERVICE_URL"):
        await HttpVoiceService(None, "gpt_sovits", 5.0).synthesize("Hello.", rin)


# --- profiles -----------------------------------------------------------------------------------------


async def test_a_new_voice_is_saved_audited_and_can_be_put_back(studio: Studio) -> None:
    project_id, [rin] = await cast(studio, "Rin")
    assert studio.voices.profile_of(rin) == VoiceProfile()
    espeak = VoiceProfile(engine="espeak", variant="f2", pitch=70)
    saved = await studio.voices.set_profile(rin.id, espeak, "mika")  # type: ignore[arg-type]
    assert saved.voice_profile == {"engine": "espeak", "variant": "f2", "pitch": 70}
    _, profile = await studio.voices.voice(rin.id)  # type: ignore[arg-type]
    assert profile == espeak
    [record] = await studio.audit.recent(event_prefix="voice.")
    assert (record.actor, record.subject_type, record.subject_id) == ("mika", "character", str(rin.id))
    assert record.data["previous"] == {} and record.data["profile"] == espeak.stored()
    assert record.summary == "mika changed the voice of 'Rin' (espeak)"

    await studio.voices.set_profile(rin.id, VoiceProfile.model_validate(record.data["previous"]), "mika")  # type: ignore[arg-type]
    assert (await studio.characters.get(rin.id)).voice_profile == {}  # type: ignore[arg-type]
    assert len(await studio.audit.recent(event_prefix="voice.")) == 2

    with pytest.raises(Invalid, match="no variant 'nosuch'"):
        await studio.voices.set_profile(rin.id, VoiceProfile(engine="espeak", variant="nosuch"), "mika")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="there is no character 999"):
        await studio.voices.set_profile(999, espeak, "mika")
    await studio.characters.delete(rin.id, "mika")  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="Rin is deleted; restore the character"):
        await studio.voices.set_profile(rin.id, espeak, "mika")  # type: ignore[arg-type]
    _, [kai] = await cast_more(studio, project_id, "Kai")
    await studio.projects.archive(project_id, "mika")
    with pytest.raises(Conflict, match="archived; restore it before changing voices"):
        await studio.voices.set_profile(kai.id, espeak, "mika")  # type: ignore[arg-type]


async def cast_more(studio: Studio, project_id: int, *names: str) -> tuple[int, list[Character]]:
    made = [await studio.characters.create(project_id, CharacterDraft(name=n), "local") for n in names]
    return project_id, made


# --- the REST API -------------------------------------------------------------------------------------


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Studio]]:
    studio = await built(tmp_path, job_claim_poll_seconds=0.3)
    await studio.start()
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as client:
            yield client, studio
    finally:
        await studio.stop()


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def finished_job(client: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    async def done() -> bool:
        job = await ok(await client.get(f"/api/jobs/{job_id}"))
        return job["state"] not in ("queued", "running")

    await _until(done, 60, f"voice job {job_id}")
    return await ok(await client.get(f"/api/jobs/{job_id}"))


async def test_voice_profiles_through_the_api(api: tuple[httpx.AsyncClient, Studio]) -> None:
    client, studio = api
    _, [rin] = await cast(studio, "Rin")
    engines = await ok(await client.get("/api/voices/engines"))
    assert [(e["engine"], e["available"]) for e in engines] == [("piper", True), ("espeak", True), ("http", False)]
    assert "STUDIO_VOICE_SERVICE_URL" in engines[2]["reason"]
    assert "m3" in await ok(await client.get("/api/voices/espeak-variants"))

    voice = await ok(await client.get(f"/api/characters/{rin.id}/voice"))
    assert voice["profile"]["engine"] == "piper" and voice["engine_available"] is True

    for body, field in (
        ({"engine": "piper", "length_scale": 3}, "length_scale"),
        ({"engine": "espeak", "pitch": 120}, "pitch"),
        ({"engine": "espeak", "variant": "--help"}, "variant"),
        ({"engine": "espeak", "variant": "nosuch"}, "variant"),
        ({"engine": "http"}, "reference_sample"),
        ({"engine": "festival"}, "engine"),
        ({"voice_preset": "en-US-GuyNeural"}, "voice_preset"),
    ):
        refused = await client.put(f"/api/characters/{rin.id}/voice", json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert field in [e["field"] for e in refused.json()["errors"]], refused.json()

    put = await ok(
        await client.put(f"/api/characters/{rin.id}/voice", json={"engine": "http", "reference_sample": "rin"})
    )
    assert put["profile"]["reference_sample"] == "rin" and put["engine_available"] is False
    assert "STUDIO_VOICE_SERVICE_URL" in put["engine_reason"]
    missing = await client.put("/api/characters/4242/voice", json={})
    assert missing.status_code == 404 and "no character 4242" in missing.json()["detail"]


async def test_a_shots_line_is_synthesized_as_a_job_and_served(api: tuple[httpx.AsyncClient, Studio]) -> None:
    client, studio = api
    project_id, [rin] = await cast(studio, "Rin")
    await ok(await client.put(f"/api/characters/{rin.id}/voice", json={"engine": "espeak", "variant": "f2"}))
    scene = await ok(await client.post(f"/api/projects/{project_id}/scenes", json={"title": "Arrival"}), 201)
    shot = await ok(
        await client.post(
            f"/api/scenes/{scene['id']}/shots",
            json={"characters_present": [rin.id], "dialogue_text": WELCOME, "dialogue_character_id": rin.id},
        ),
        201,
    )
    silent = await ok(await client.post(f"/api/scenes/{scene['id']}/shots", json={}), 201)

    before = await client.get(f"/api/shots/{shot['id']}/dialogue/audio")
    assert before.status_code == 404
    assert before.json()["detail"] == f"not synthesized yet: POST /api/shots/{shot['id']}/dialogue/synthesize"

    job = await ok(await client.post(f"/api/shots/{shot['id']}/dialogue/synthesize"), 202)
    assert job["kind"] == "voice.synthesize" and job["project_id"] == project_id and "Rin" in job["title"]
    done = await finished_job(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    result = done["result"]
    assert result["engine"] == "espeak" and result["path"].startswith("voices/") and 1.0 < result["seconds"] < 8.0
    assert (studio.settings.data_dir / result["path"]).is_file()

    audio = await client.get(f"/api/shots/{shot['id']}/dialogue/audio")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    played = studio.settings.data_dir / "played.wav"
    played.write_bytes(audio.content)
    assert words(WELCOME) <= words(await heard(played))

    cached = await ok(await client.post(f"/api/shots/{shot['id']}/dialogue/synthesize"))
    assert cached == {"cached": True, "key": result["key"], "url": result["url"]}
    served = await client.get(cached["url"])
    assert served.status_code == 200 and served.content == audio.content

    # Nothing to say, or a line changed since: refused, or not synthesized yet.
    nothing = await client.post(f"/api/shots/{silent['id']}/dialogue/synthesize")
    assert nothing.status_code == 422 and "has no dialogue line" in nothing.json()["detail"]
    await ok(await client.patch(f"/api/shots/{shot['id']}", json={"dialogue_text": "See you tomorrow."}))
    assert (await client.get(f"/api/shots/{shot['id']}/dialogue/audio")).status_code == 404
    unknown = await client.get("/api/voices/lines/" + "0" * 64)
    assert unknown.status_code == 404


async def test_a_preview_speaks_a_sample_line_even_in_an_unsaved_voice(api: tuple[httpx.AsyncClient, Studio]) -> None:
    client, studio = api
    _, [rin] = await cast(studio, "Rin")
    for body, field in (({"text": ""}, "text"), ({"text": "x" * 501}, "text"), ({}, "text")):
        refused = await client.post(f"/api/characters/{rin.id}/voice/preview", json=body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field
    blank = await client.post(f"/api/characters/{rin.id}/voice/preview", json={"text": "   "})
    assert blank.status_code == 422 and "the line is empty" in blank.json()["detail"]

    trial = {"engine": "espeak", "variant": "m3", "speed": 150}
    job = await ok(
        await client.post(f"/api/characters/{rin.id}/voice/preview", json={"text": WINDOW, "profile": trial}), 202
    )
    done = await finished_job(client, job["id"])
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["engine"] == "espeak"
    assert (await studio.characters.get(rin.id)).voice_profile == {}  # type: ignore[arg-type]  # only tried
    line = await client.get(done["result"]["url"])
    assert line.status_code == 200 and line.headers["content-type"] == "audio/wav"
    again = await ok(
        await client.post(f"/api/characters/{rin.id}/voice/preview", json={"text": WINDOW, "profile": trial})
    )
    assert again["cached"] is True and again["url"] == done["result"]["url"]


async def test_a_failing_voice_fails_its_job_with_the_reason(tmp_path: Path, voice_server: FakeVoiceService) -> None:
    studio = await built(tmp_path, job_claim_poll_seconds=0.3, voice_service_url=voice_server.url)
    await studio.start()
    try:
        _, [rin] = await cast(studio, "Rin")
        await studio.voices.set_profile(rin.id, VoiceProfile(engine="http", reference_sample=RIN_SAMPLE), "local")  # type: ignore[arg-type]
        voice_server.fail_with = 500
        request = await studio.voices.request_preview(rin.id, "Hello there.", "local")  # type: ignore[arg-type]
        assert request.job is not None

        async def failed() -> bool:
            return (await studio.jobs.get(request.job.id)).state.value == "failed"  # type: ignore[union-attr,arg-type]

        await _until(failed, 30, "the voice job to fail")
        job = await studio.jobs.get(request.job.id)  # type: ignore[arg-type]
        assert "GPT-SoVITS at" in (job.error or "") and "HTTP 500" in (job.error or "")
    finally:
        await studio.stop()
