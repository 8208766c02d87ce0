"""Where the speech is: the Silero voice-activity model that faster-whisper ships (ONNX, no torch).

A long source is read a few minutes at a time (memory stays small for a 90-minute film); a turn cut by a chunk
boundary is joined again. Segments longer than the longest a sample may be are split (the model prefers a
short pause inside them; failing that, evenly), and ones shorter than a second are dropped and counted: they
are too short to tell a voice by, or to clone one from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000
SPEECH_PAD_MS = 150  # kept around each turn: the VAD's edges clip soft consonants; 400 (its default) eats pauses
MAX_SECONDS = 15.0  # the longest segment: longer speech is split
MIN_SECONDS = 1.0  # shorter segments are dropped (and counted)
CHUNK_SECONDS = 300.0  # audio the VAD reads at a time


@dataclass(frozen=True)
class Span:
    start: float  # seconds
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


def speech_in(audio: np.ndarray, offset: float, min_silence_ms: int) -> list[Span]:
    """The speech in one chunk of 16 kHz samples (int16 or float) that starts `offset` seconds into the source.
    Blocking (about 0.3 s a minute): call it in a worker thread."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    samples = audio.astype(np.float32) / 32768 if audio.dtype == np.int16 else audio.astype(np.float32)
    options = VadOptions(
        min_silence_duration_ms=min_silence_ms, speech_pad_ms=SPEECH_PAD_MS, max_speech_duration_s=MAX_SECONDS
    )
    found = get_speech_timestamps(samples, options, sampling_rate=SAMPLE_RATE)
    return [Span(offset + s["start"] / SAMPLE_RATE, offset + s["end"] / SAMPLE_RATE) for s in found]


def tidy(spans: list[Span], boundaries: Sequence[float] = ()) -> tuple[list[Span], int]:
    """Join the two halves of a turn cut at a chunk boundary (seconds), split turns over MAX_SECONDS evenly,
    drop the ones under MIN_SECONDS: (segments, how many were dropped)."""
    near = SPEECH_PAD_MS / 1000 + 0.05
    joined: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        previous = joined[-1] if joined else None
        if previous and any(previous.end > b - near and span.start < b + near for b in boundaries):
            joined[-1] = Span(previous.start, max(previous.end, span.end))
        else:
            joined.append(span)
    segments: list[Span] = []
    dropped = 0
    for span in joined:
        parts = max(1, math.ceil(span.seconds / MAX_SECONDS - 1e-9))
        step = span.seconds / parts
        for i in range(parts):
            part = Span(span.start + i * step, span.start + (i + 1) * step)
            if part.seconds < MIN_SECONDS:
                dropped += 1
            else:
                segments.append(part)
    return segments, dropped


def chunks(total_samples: int) -> list[tuple[int, int]]:
    """(first, last) sample ranges the VAD reads in turn."""
    size = int(CHUNK_SECONDS * SAMPLE_RATE)
    return [(first, min(first + size, total_samples)) for first in range(0, total_samples, size)]
