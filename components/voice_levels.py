"""A segment's level strip: its loudness over time as a row of small bars, so a person sees at a glance where the
speech is, where it trails off and whether something loud cuts in, before they listen.

The levels are read from the segment's WAV (mono 16-bit, as the chain cuts them) in a thread: a group of a
source can hold hundreds of segments and reading them must not hold up the page.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from nicegui import ui

BARS = 48
# Quieter than this (dB below full scale) draws as no bar: the noise floor of a clean recording.
FLOOR_DB = -60.0
STRIP_WIDTH, STRIP_HEIGHT = 192, 28


def wav_levels(path: Path, bars: int = BARS) -> list[float]:
    """The WAV's loudness in `bars` equal slices, each 0..1 (RMS in dB, FLOOR_DB..0 dBFS). Blocking: run it in
    a thread. An unreadable or empty file gives no levels (the strip then says so)."""
    try:
        with wave.open(str(path), "rb") as wav:
            width, channels, frames = wav.getsampwidth(), wav.getnchannels(), wav.getnframes()
            raw = wav.readframes(frames)
    except (OSError, EOFError, wave.Error):
        return []
    if width != 2 or not raw:
        return []  # the chain cuts 16-bit WAVs; anything else is not a segment of ours
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels).mean(axis=1)
    if len(samples) < bars:
        return []
    slices = np.array_split(samples, bars)
    rms = np.array([float(np.sqrt(np.mean(np.square(part)))) for part in slices])
    db = 20 * np.log10(np.maximum(rms, 1e-9))
    return [round(float(v), 3) for v in np.clip((db - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)]


async def levels_of(files: Sequence[Path | None], bars: int = BARS) -> list[list[float]]:
    """Levels of many WAVs (None: a file that is gone), read in one thread (one hop per group, not per segment)."""
    return await asyncio.to_thread(lambda: [wav_levels(file, bars) if file else [] for file in files])


def strip_svg(levels: Sequence[float]) -> str:
    """The bars as an inline SVG (one element per strip: a group of 100 segments stays light in the page)."""
    if not levels:
        return ""
    step = STRIP_WIDTH / len(levels)
    bars = []
    for index, level in enumerate(levels):
        height = max(1.0, level * STRIP_HEIGHT)
        bars.append(
            f'<rect x="{index * step:.1f}" y="{(STRIP_HEIGHT - height) / 2:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{height:.1f}" rx="1"/>'
        )
    return (
        f'<svg class="voice-levels" viewBox="0 0 {STRIP_WIDTH} {STRIP_HEIGHT}" width="{STRIP_WIDTH}" '
        f'height="{STRIP_HEIGHT}" role="img" aria-label="loudness over time">{"".join(bars)}</svg>'
    )


class LevelStrip:
    """A placeholder drawn at once, filled when the levels have been read."""

    def __init__(self, marker: str) -> None:
        # Not sanitized: the markup is built here from numbers only (strip_svg), never from anyone's text.
        self.host = ui.html("", sanitize=False).classes("voice-levels-host shrink-0").mark(marker)

    def show(self, levels: Sequence[float]) -> None:
        if self.host.is_deleted:
            return
        self.host.content = strip_svg(levels) or '<span class="text-xs opacity-60">no level (audio unreadable)</span>'
