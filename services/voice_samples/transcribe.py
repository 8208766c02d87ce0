"""What each segment says: faster-whisper with the bundled base model, on the CPU.

One Whisper call per segment would pay a full 30-second window for every 3-second line (about ten times the
work). Instead the segments are laid end to end with short pauses between them, that timeline is transcribed
at once with word timestamps, and each segment takes the words whose middle falls inside it. The timeline is
transcribed a few minutes at a time, which bounds memory and lets a cancelled job stop between windows.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.voice_samples.vad import SAMPLE_RATE, Span
from services.voice_samples.whisper import WhisperMissing, whisper_model_folder

GAP_SECONDS = 0.4  # the pause laid between two segments: long enough that Whisper ends the sentence
BATCH_SECONDS = 240.0  # speech per Whisper call


class Stopped(Exception):
    """The caller asked the transcription to stop (its job was cancelled)."""


@dataclass(frozen=True)
class Batch:
    first: int  # index of its first segment
    spans: list[Span]


class Transcriber:
    """The bundled Whisper base model, loaded once on first use (blocking: use it from a worker thread)."""

    def __init__(self, models_dir: Path) -> None:
        self._models_dir = models_dir
        self._lock = threading.Lock()
        self._model: Any = None

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from faster_whisper import WhisperModel
                except ImportError:
                    raise WhisperMissing("faster-whisper is not installed: pip install faster-whisper") from None
                self._model = WhisperModel(
                    str(whisper_model_folder(self._models_dir)),
                    device="cpu",
                    compute_type="int8",
                    # faster-whisper's default is 4 threads whatever the machine: one per core we may use
                    cpu_threads=len(os.sched_getaffinity(0)),
                )
            return self._model

    def transcribe(
        self,
        audio: np.ndarray,
        spans: Sequence[Span],
        language: str | None,
        names: Sequence[str],
        stop: threading.Event,
    ) -> tuple[list[str], str]:
        """Each span's words from 16 kHz int16 `audio`, and the language (`language`, or the one detected).
        `names` are hinted to Whisper as hotwords (it mishears unusual names without them). Raises Stopped soon
        after `stop` is set."""
        timeline, starts = lay_end_to_end(audio, spans)
        segments, info = self.model().transcribe(
            timeline,
            language=language or None,
            beam_size=1,  # greedy: about twice as fast as the default beam of 5, and as good on clean speech
            condition_on_previous_text=False,  # one misheard line must not derail the next ones
            word_timestamps=True,
            vad_filter=False,  # the segments are speech already
            hotwords=", ".join(names) or None,
        )
        words: list[tuple[float, str]] = []
        for segment in segments:  # lazy: each step decodes one 30 s window
            if stop.is_set():
                raise Stopped
            words += [((word.start + word.end) / 2, word.word) for word in segment.words or ()]
        return assign_words(words, starts, [s.seconds for s in spans]), info.language


def batches(spans: Sequence[Span], seconds: float = BATCH_SECONDS) -> list[Batch]:
    """The spans in consecutive groups of about `seconds` of speech."""
    found: list[Batch] = []
    current: list[Span] = []
    first, total = 0, 0.0
    for index, span in enumerate(spans):
        if current and total + span.seconds > seconds:
            found.append(Batch(first, current))
            current, first, total = [], index, 0.0
        current.append(span)
        total += span.seconds
    if current:
        found.append(Batch(first, current))
    return found


def lay_end_to_end(audio: np.ndarray, spans: Sequence[Span]) -> tuple[np.ndarray, list[float]]:
    """The spans' samples (float32) one after another with GAP_SECONDS of silence between them, and where each
    starts on that timeline (seconds)."""
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    pieces: list[np.ndarray] = []
    starts: list[float] = []
    cursor = 0
    for span in spans:
        piece = audio[int(span.start * SAMPLE_RATE) : int(span.end * SAMPLE_RATE)].astype(np.float32) / 32768
        starts.append(cursor / SAMPLE_RATE)
        pieces += [piece, gap]
        cursor += len(piece) + len(gap)
    return (np.concatenate(pieces) if pieces else gap), starts


def assign_words(words: Sequence[tuple[float, str]], starts: Sequence[float], lengths: Sequence[float]) -> list[str]:
    """Each segment's text from (middle time, word) pairs: a word belongs to the segment its middle falls in,
    or, in a pause, to the nearer of its two neighbours."""
    texts: list[list[str]] = [[] for _ in starts]
    for middle, word in words:
        index = max(0, bisect.bisect_right(starts, middle) - 1)
        end = starts[index] + lengths[index]
        if middle > end and index + 1 < len(starts) and starts[index + 1] - middle < middle - end:
            index += 1
        texts[index].append(word)
    return [" ".join("".join(parts).split()) for parts in texts]
