"""How good a voice sample is: its signal-to-noise ratio, its length and how surely it belongs to its speaker,
as one score 0-1 with the earlier system's weights (SNR 0.4, duration 0.3, speaker confidence 0.3).

The noise floor is the source's, measured in the pauses between turns, so a quiet line in a noisy room scores
lower than a loud one; the speech level is the segment's loudness over its louder half of frames (pauses
between words inside a turn would otherwise pull it down).
"""

from __future__ import annotations

import numpy as np

FRAME_SECONDS = 0.05
SILENT_DB = -90.0  # the floor of digital silence (16-bit quantisation is -96 dBFS): SNRs stay finite
MAX_SNR_DB = 60.0
WEIGHTS = {"snr": 0.4, "duration": 0.3, "confidence": 0.3}
IDEAL_SECONDS = (3.0, 10.0)  # what GPT-SoVITS accepts as a reference


def frame_levels(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """dBFS of each 50 ms frame of int16 or float samples."""
    samples = audio.astype(np.float32) / 32768 if audio.dtype == np.int16 else audio.astype(np.float32)
    size = max(1, int(FRAME_SECONDS * sample_rate))
    usable = len(samples) // size * size
    if usable == 0:
        return np.full(1, SILENT_DB, np.float32)
    power = np.mean(samples[:usable].reshape(-1, size) ** 2, axis=1)
    return np.maximum(10 * np.log10(power + 1e-20), SILENT_DB).astype(np.float32)


def noise_floor(gap_levels: np.ndarray) -> float:
    """The noise floor in dBFS from the frame levels of the pauses (their quieter fifth: a pause may hold a
    breath or the edge of a word); SILENT_DB when there are no pauses."""
    return float(np.percentile(gap_levels, 20)) if len(gap_levels) else SILENT_DB


def speech_level(levels: np.ndarray) -> float:
    """A segment's speech level in dBFS: the mean power of its louder half of frames."""
    loud = np.sort(levels)[len(levels) // 2 :]
    return float(10 * np.log10(np.mean(10 ** (loud / 10)) + 1e-20))


def snr_db(levels: np.ndarray, floor_db: float) -> float:
    return float(np.clip(speech_level(levels) - floor_db, 0.0, MAX_SNR_DB))


def snr_score(snr: float) -> float:
    """>= 25 dB: 1; 15-25 dB: 0.5-1; 5-15 dB: 0-0.5; below: 0."""
    if snr >= 25:
        return 1.0
    if snr >= 15:
        return 0.5 + 0.5 * (snr - 15) / 10
    return max(0.0, 0.5 * (snr - 5) / 10)


def duration_score(seconds: float) -> float:
    """3-10 s: 1; shorter falls to 0 at 1 s; longer falls to 0.5 at 15 s (still useful for training)."""
    low, high = IDEAL_SECONDS
    if seconds < low:
        return max(0.0, (seconds - 1.0) / (low - 1.0))
    if seconds <= high:
        return 1.0
    return max(0.0, 1.0 - 0.5 * (seconds - high) / 5.0)


def quality(snr: float, seconds: float, confidence: float) -> float:
    """The weighted score 0-1."""
    score = (
        WEIGHTS["snr"] * snr_score(snr)
        + WEIGHTS["duration"] * duration_score(seconds)
        + WEIGHTS["confidence"] * float(np.clip(confidence, 0.0, 1.0))
    )
    return round(score, 4)
