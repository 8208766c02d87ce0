"""The first of two loudness passes: read what ebur128 measured from ffmpeg's log.

ebur128 (EBU R128 integrated loudness, true peak by 4x oversampling) rather than loudnorm's measuring
mode: the same figures in a third of the time, since loudnorm resamples everything to 192 kHz.
"""

from __future__ import annotations

import re

from services.assembly.graph import Loudness
from services.errors import StudioError

# ebur128 reports gating-level silence as -70 LUFS: there is nothing to bring up.
SILENT_LUFS = -70.0
_INTEGRATED = re.compile(r"^\s*I:\s+(-?[\d.]+|-?inf) LUFS")
_TRUE_PEAK = re.compile(r"^\s*Peak:\s+(-?[\d.]+|-?inf) dBFS")


class LoudnessLog:
    """Collects ebur128's summary from ffmpeg's stderr (give `consume` to run_ffmpeg as on_stderr)."""

    def __init__(self) -> None:
        self._summary = False
        self._integrated: float | None = None
        self._peak: float | None = None

    def consume(self, line: str) -> bool:
        if "Parsed_ebur128" in line and line.rstrip().endswith("Summary:"):
            self._summary = True
            return True
        if not self._summary:
            return False
        if found := _INTEGRATED.match(line):
            self._integrated = float(found.group(1))
        elif found := _TRUE_PEAK.match(line):
            self._peak = float(found.group(1))
        return True

    def measured(self) -> Loudness | None:
        """The measurement, or None when the mix is silent (nothing to normalise)."""
        if self._integrated is None or self._peak is None:
            raise StudioError("ffmpeg's loudness measurement could not be read")
        if self._integrated <= SILENT_LUFS or self._peak == float("-inf"):
            return None
        return Loudness(self._integrated, self._peak)
