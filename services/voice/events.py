"""Voice events: a character's voice profile changed (audited, with the profile before, so it can be undone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class VoiceChanged(StudioEvent):
    name: ClassVar[str] = "voice.changed"
    character_id: int
    project_id: int
    label: str  # the character's name
    engine: str
    profile: dict[str, Any] = field(default_factory=dict)  # as stored: only what differs from the defaults
    previous: dict[str, Any] = field(default_factory=dict)

    def subject(self) -> tuple[str | None, str | None]:
        return "character", str(self.character_id)

    def summary(self) -> str:
        return f"{self.actor} changed the voice of {self.label!r} ({self.engine})"
