"""Voice samples events: a source was added, finished, failed, deleted or restored, a speaker was assigned, or
segments were edited or decided (audited, so the activity page and the Voices page follow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class VoiceSamplesChanged(StudioEvent):
    name: ClassVar[str] = "voice_samples.changed"
    project_id: int
    source_id: int | None  # None: a change about a character's samples across sources (its reference)
    change: str  # added, done, failed, cancelled, deleted, restored, assigned, edited, decided, undone, reference
    detail: str = ""
    character_id: int | None = None

    def subject(self) -> tuple[str | None, str | None]:
        if self.source_id is not None:
            return "voice_source", str(self.source_id)
        return "character", str(self.character_id) if self.character_id is not None else None

    def summary(self) -> str:
        what = f"voice source {self.source_id}" if self.source_id is not None else "voice samples"
        return f"{self.actor}: {what} {self.change}" + (f": {self.detail}" if self.detail else "")
