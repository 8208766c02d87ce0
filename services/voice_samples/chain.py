"""The voice-finding chain: from a media file to speech segments, each with its words, its speaker group and its
quality, cut as WAV files. Pure: no database; the voice sources job stores what it finds.

    audio -> 16 kHz mono (+ a 32 kHz copy for the samples) -> VAD -> segments of 1-15 s -> Whisper over the
    segments laid end to end -> a d-vector per segment -> average-linkage groups -> SNR, length, confidence

Every heavy step runs in a worker thread, a bounded piece at a time (minutes of audio, a few dozen segments),
so the event loop stays free, memory stays small for a 90-minute source and a cancelled job stops within a
few seconds: between pieces, and inside Whisper between its 30-second windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from services.music.audio import probe_audio as describe_audio
from services.voice_samples import quality
from services.voice_samples.audio import cut, decode, samples
from services.voice_samples.clustering import group_speakers
from services.voice_samples.embedding import Embedder, SpeakerEmbedder
from services.voice_samples.transcribe import Stopped, Transcriber, batches
from services.voice_samples.vad import SAMPLE_RATE, Span, chunks, speech_in, tidy

Progress = Callable[[float, str], Awaitable[None]]
T = TypeVar("T")

EMBED_BATCH = 16  # segments per worker-thread call (about 3 s of work)
TRANSCRIBE_BATCH_SECONDS = 120.0  # speech per Whisper call: progress every ~20 s of work
# Shares of the progress bar (measured on 2 cores: Whisper takes about 70 % of the time, embeddings 20 %).
DECODE, VAD, TRANSCRIBE, EMBED = 0.04, 0.06, 0.70, 0.17


@dataclass(frozen=True)
class ChainOptions:
    min_silence_ms: int
    speaker_similarity: float
    language: str  # "" = detect
    # The project's character names: Whisper is told them, so it spells them as the cast does ("Rin", not
    # "Wynn"), which is what proposing a speaker's character from its lines depends on.
    names: tuple[str, ...] = ()


@dataclass(frozen=True)
class FoundSegment:
    start: float
    end: float
    file: Path  # cut WAV inside out_dir, named seg_0001.wav ...
    transcript: str
    snr_db: float
    speaker: int  # 0-based group label
    speaker_confidence: float
    quality: float
    embedding: np.ndarray


@dataclass(frozen=True)
class ChainResult:
    duration: float
    language: str
    segments: list[FoundSegment]
    speakers: list[np.ndarray]  # each group's centroid, by label
    dropped_short: int


class VoiceFinder:
    """Finds the voices in a media file. Built once (studio/root.py); Whisper and the embedder load on first use."""

    def __init__(self, models_dir: Path, embedder: Embedder | None = None) -> None:
        self._transcriber = Transcriber(models_dir)
        self._embedder: Embedder = embedder or SpeakerEmbedder()

    async def find(self, audio: Path, out_dir: Path, options: ChainOptions, progress: Progress) -> ChainResult:
        """The segments of `audio` (any media file already probed), cut into out_dir as seg_NNNN.wav. Silence
        only: a result without segments. Nothing but the segment files is left in out_dir."""
        await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".voice-", suffix=".part", dir=out_dir))
        try:
            return await self._find(audio, out_dir, work, options, progress)
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, work, True))

    async def _find(
        self, audio: Path, out_dir: Path, work: Path, options: ChainOptions, progress: Progress
    ) -> ChainResult:
        info = await describe_audio(audio)
        await progress(0.0, "Decoding the audio")
        decoded = await decode(
            audio, work, info.duration_seconds or 0.0, _share(progress, 0.0, DECODE, "Decoding the audio")
        )
        analysis = await asyncio.to_thread(samples, decoded.analysis)
        duration = len(analysis) / SAMPLE_RATE

        spans, dropped, levels = await self._speech(analysis, options, progress)
        language = options.language
        if not spans:
            await progress(1.0, "No speech found")
            return ChainResult(round(duration, 3), language, [], [], dropped)

        start = DECODE + VAD
        await progress(start, f"Transcribing 0 of {len(spans)} segments")
        texts: list[str] = []
        for batch in batches(spans, TRANSCRIBE_BATCH_SECONDS):
            found, detected = await _stoppable(
                self._transcriber.transcribe, analysis, batch.spans, language or None, options.names
            )
            language = language or detected  # detected once, on the first few minutes of speech
            texts += found
            await progress(
                start + TRANSCRIBE * len(texts) / len(spans), f"Transcribing {len(texts)} of {len(spans)} segments"
            )

        start += TRANSCRIBE
        await progress(start, f"Comparing voices: 0 of {len(spans)} segments")
        embeddings: list[np.ndarray] = []
        for first in range(0, len(spans), EMBED_BATCH):
            embeddings += await asyncio.to_thread(self._embed, analysis, spans[first : first + EMBED_BATCH])
            await progress(
                start + EMBED * len(embeddings) / len(spans),
                f"Comparing voices: {len(embeddings)} of {len(spans)} segments",
            )

        grouping = await asyncio.to_thread(group_speakers, embeddings, options.speaker_similarity)
        await progress(start + EMBED, f"Cutting {len(spans)} segments")
        files = await asyncio.to_thread(cut, samples(decoded.samples), spans, out_dir)
        floor = quality.noise_floor(levels[_gaps(len(levels), spans)])
        segments = []
        for i, span in enumerate(spans):
            snr = quality.snr_db(levels[_frames(span)], floor)
            confidence = grouping.confidences[i]
            segments.append(
                FoundSegment(
                    start=round(span.start, 3),
                    end=round(span.end, 3),
                    file=files[i],
                    transcript=texts[i],
                    snr_db=round(snr, 1),
                    speaker=grouping.labels[i],
                    speaker_confidence=round(confidence, 4),
                    quality=quality.quality(snr, span.seconds, confidence),
                    embedding=embeddings[i],
                )
            )
        await progress(1.0, f"{len(segments)} segments, {len(grouping.centroids)} speakers")
        return ChainResult(round(duration, 3), language, segments, grouping.centroids, dropped)

    async def _speech(
        self, analysis: np.ndarray, options: ChainOptions, progress: Progress
    ) -> tuple[list[Span], int, np.ndarray]:
        """The segments, how many were too short, and the level of every 50 ms frame (for the SNR)."""
        found: list[Span] = []
        levels: list[np.ndarray] = []
        total = len(analysis)
        minutes = f"{total / SAMPLE_RATE / 60:.0f}"
        await progress(DECODE, f"Finding speech: 0 of {minutes} minutes")
        for first, last in chunks(total):
            piece = analysis[first:last]
            found += await asyncio.to_thread(speech_in, piece, first / SAMPLE_RATE, options.min_silence_ms)
            levels.append(await asyncio.to_thread(quality.frame_levels, piece, SAMPLE_RATE))
            await progress(
                DECODE + VAD * last / total,
                f"Finding speech: {last / SAMPLE_RATE / 60:.0f} of {minutes} minutes",
            )
        spans, dropped = tidy(found, [first / SAMPLE_RATE for first, _ in chunks(total)[1:]])
        return spans, dropped, np.concatenate(levels) if levels else np.zeros(0, np.float32)

    def _embed(self, analysis: np.ndarray, spans: Sequence[Span]) -> list[np.ndarray]:
        return [
            self._embedder.embed(
                analysis[int(s.start * SAMPLE_RATE) : int(s.end * SAMPLE_RATE)].astype(np.float32) / 32768
            )
            for s in spans
        ]


def _frames(span: Span) -> slice:
    return slice(
        int(span.start / quality.FRAME_SECONDS),
        max(int(span.end / quality.FRAME_SECONDS), int(span.start / quality.FRAME_SECONDS) + 1),
    )


def _gaps(count: int, spans: Sequence[Span]) -> np.ndarray:
    """A mask of the frames outside every segment (the pauses the noise floor is measured in)."""
    mask = np.ones(count, bool)
    for span in spans:
        mask[_frames(span)] = False
    return mask


def _share(progress: Progress, start: float, width: float, message: str) -> Progress:
    """A progress callback for one step, mapped onto its share of the whole bar, with the step's own message."""

    async def report(fraction: float, _detail: str) -> None:
        await progress(start + width * min(max(fraction, 0.0), 1.0), message)

    return report


async def _stoppable(function: Callable[..., T], *args: Any) -> T:
    """`function(*args, stop)` in a worker thread. When the task is cancelled, `stop` is set and the thread is
    waited for (it checks `stop` every few seconds), so no Whisper run goes on working for a cancelled job."""
    stop = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(function, *args, stop))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        with contextlib.suppress(Stopped, Exception):
            await work
        raise
