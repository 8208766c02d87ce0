"""A voice sample's quality in words and colours: how clean it is (signal to noise), whether its length suits a
voice-cloning reference, and how surely it belongs to its speaker group.

The bands follow the chain's quality score (services/voice_samples/quality.py): 25 dB and more is clean, under
15 dB noisy; 3-10 s is the length a GPT-SoVITS reference must have.
"""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from services.voice_samples.views import REFERENCE_SECONDS

CLEAN_DB, NOISY_DB = 25.0, 15.0
SURE, UNSURE = 0.8, 0.6


@dataclass(frozen=True)
class Measure:
    text: str
    color: str  # a Quasar colour name
    hint: str  # the number behind the words, on hover


def snr_measure(snr_db: float) -> Measure:
    hint = f"signal {snr_db:.0f} dB above the noise"
    if snr_db >= CLEAN_DB:
        return Measure("clean", "positive", hint)
    if snr_db >= NOISY_DB:
        return Measure("some noise", "warning", hint)
    return Measure("noisy", "negative", hint)


def length_measure(seconds: float) -> Measure:
    low, high = REFERENCE_SECONDS
    hint = f"{seconds:.1f} s; a cloning reference must last {low:.0f}-{high:.0f} s"
    if low <= seconds <= high:
        return Measure(f"{seconds:.1f} s", "positive", hint)
    return Measure(f"{seconds:.1f} s, {'short' if seconds < low else 'long'}", "warning", hint)


def speaker_measure(confidence: float) -> Measure:
    hint = f"{confidence:.0%} like the group's voice"
    if confidence >= SURE:
        return Measure("surely this voice", "positive", hint)
    if confidence >= UNSURE:
        return Measure("probably this voice", "warning", hint)
    return Measure("maybe another voice", "negative", hint)


def quality_chips(snr_db: float, seconds: float, confidence: float, quality: float, marker: str) -> None:
    """The three measures and the overall score as small chips (tooltips carry the numbers)."""
    with ui.row().classes("gap-1 items-center").mark(marker):
        for measure in (snr_measure(snr_db), length_measure(seconds), speaker_measure(confidence)):
            ui.badge(measure.text, color=measure.color).props("outline").tooltip(measure.hint)
        ui.label(f"quality {quality:.0%}").classes("text-xs opacity-70").tooltip(
            "SNR 40 %, length 30 %, speaker confidence 30 %"
        )
