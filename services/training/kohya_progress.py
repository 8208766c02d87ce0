"""What kohya sd-scripts says about its progress, read from its output.

sd-scripts draws one tqdm bar over all the run's steps on stderr (`desc="steps"`, postfix `avr_loss`), redrawn
in place with `\\r`, and prints `epoch n/N` on stdout when an epoch begins. Other bars share stderr (caching
latents without a description, `validation steps`), so only a redraw that begins with `steps:` counts. A read
from a pipe can end in the middle of a line: `OutputLines` keeps the unfinished tail for the next read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# tqdm's meter: `steps:  17%|█▋        | 1/6 [00:00<00:00, 19.31it/s, avr_loss=0.123]`; before the first
# step the rate and the time left are `?`.
_STEP_BAR = re.compile(
    r"^\s*steps:\s*\d+%\|[^|]*\|\s*(?P<step>\d+)/(?P<total>\d+)\s*"
    r"\[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:?]+),\s*(?P<rate>[\d.]+|\?)(?P<unit>it/s|s/it)"
    r"(?:,\s*(?P<postfix>[^\]]*))?\]"
)
_LOSS = re.compile(r"(?:^|,\s*)avr_loss=(?P<loss>[-+\w.]+)")
# `print(f"\nepoch {n}/{N}\n")`, or logged with a time stamp and the source line by newer versions.
_EPOCH = re.compile(r"(?:^|\s)epoch (?P<epoch>\d+)/(?P<epochs>\d+)(?:\s|$)")


@dataclass(frozen=True)
class StepProgress:
    """One redraw of the `steps` bar: counts are this process's (a resumed run starts again at 0)."""

    step: int
    total: int
    elapsed_seconds: float
    eta_seconds: float | None  # None before the first step (tqdm shows `?`)
    speed: str  # as tqdm says it, "1.90 it/s" or "3.42 s/it"; "" before the first step
    loss: float | None  # kohya's running average; None when the bar carries none (yet)


@dataclass(frozen=True)
class EpochStarted:
    epoch: int
    epochs: int


def tqdm_seconds(text: str) -> float | None:
    """`MM:SS` or `H:MM:SS` (tqdm's interval format) in seconds; None for `?` or anything else."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def parse_line(line: str) -> StepProgress | EpochStarted | None:
    """What one line (or one `\\r` redraw) of sd-scripts' output says about progress, if anything."""
    bar = _STEP_BAR.search(line)
    if bar is not None:
        rate, unit = bar["rate"], bar["unit"]
        loss = None
        if bar["postfix"]:
            found = _LOSS.search(bar["postfix"])
            if found is not None:
                loss = _number(found["loss"])
        return StepProgress(
            step=int(bar["step"]),
            total=int(bar["total"]),
            elapsed_seconds=tqdm_seconds(bar["elapsed"]) or 0.0,
            eta_seconds=tqdm_seconds(bar["remaining"]),
            speed="" if rate == "?" else f"{rate} {unit}",
            loss=loss,
        )
    epoch = _EPOCH.search(line)
    if epoch is not None:
        return EpochStarted(epoch=int(epoch["epoch"]), epochs=int(epoch["epochs"]))
    return None


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # a diverged run's `nan` is no point on a loss curve


class OutputLines:
    """Splits a stream read in arbitrary chunks into lines on `\\r` and `\\n`, holding back the unfinished tail."""

    def __init__(self) -> None:
        self._tail = ""

    def feed(self, text: str) -> list[str]:
        """The lines `text` completes (empty ones dropped)."""
        pieces = re.split(r"[\r\n]", self._tail + text)
        self._tail = pieces.pop()
        return [piece for piece in pieces if piece.strip()]

    @property
    def unfinished(self) -> str:
        """The tail read so far. tqdm ends a redraw with nothing (the next one begins with `\\r`): the latest
        redraw waits here until the next, which never comes when the trainer hangs."""
        return self._tail

    def flush(self) -> list[str]:
        """The unfinished tail as a last line, at the end of the stream."""
        tail, self._tail = self._tail, ""
        return [tail] if tail.strip() else []


def describe(*, epoch: int | None, epochs: int, step: int, steps: int, loss: float | None, speed: str) -> str:
    """The job's progress message: `epoch 3 of 10 · step 120 of 400 · loss 0.083 · 1.9 it/s`."""
    parts = []
    if epoch is not None:
        parts.append(f"epoch {epoch} of {epochs}")
    parts.append(f"step {step} of {steps}")
    if loss is not None:
        parts.append(f"loss {loss:.3f}")
    if speed:
        parts.append(speed)
    return " · ".join(parts)
