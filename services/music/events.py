"""Music events: the music cache changed, or a scene's music did (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent

MusicChange = Literal["added", "generating", "generated", "failed", "deleted", "restored", "attached", "detached"]


@dataclass(frozen=True, kw_only=True)
class MusicChanged(StudioEvent):
    """A track was added (uploaded or kept from a temp bed), queued, generated, failed, deleted or restored, or
    attached to / detached from a scene (`scene_id` says which)."""

    name: ClassVar[str] = "music.changed"
    track_id: int
    project_id: int
    change: MusicChange
    label: str  # the track's title
    scene_id: str | None = None
    detail: str | None = None  # the error of a failed track

    def subject(self) -> tuple[str | None, str | None]:
        return "music_track", str(self.track_id)

    def summary(self) -> str:
        what = f"music “{self.label}”"
        if self.change in ("attached", "detached"):
            where = "to" if self.change == "attached" else "from"
            return f"{self.actor} {self.change} {what} {where} scene {self.scene_id}"
        if self.change == "failed":
            return f"{what} failed" + (f": {self.detail}" if self.detail else "")
        if self.change in ("generating", "generated"):
            return f"{what} {'is generating' if self.change == 'generating' else 'was generated'}"
        return f"{self.actor} {self.change} {what}"
