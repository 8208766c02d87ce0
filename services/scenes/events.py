"""Scene events: the timeline changed (audited), and a shot's generation moved on (live, not audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent

Change = Literal[
    "created",
    "updated",
    "deleted",
    "restored",
    "reordered",
    "planned",
    "generating",
    "generated",
    "assembling",
    "assembled",
]


@dataclass(frozen=True, kw_only=True)
class SceneChanged(StudioEvent):
    """A scene or its shots were created, changed, deleted, restored or reordered."""

    name: ClassVar[str] = "scene.changed"
    scene_id: str
    project_id: int
    change: Change
    label: str
    shot_id: str | None = None

    def subject(self) -> tuple[str | None, str | None]:
        return ("shot", self.shot_id) if self.shot_id else ("scene", self.scene_id)

    def summary(self) -> str:
        what = f"shot {self.label}" if self.shot_id else f"scene {self.label!r}"
        return f"{self.actor} {self.change} {what}"


@dataclass(frozen=True, kw_only=True)
class ShotProgressed(StudioEvent):
    """A shot's generation state changed: started, an attempt scored, finished, failed."""

    name: ClassVar[str] = "shot.progressed"
    audited: ClassVar[bool] = False
    scene_id: str
    shot_id: str
    status: str
    attempt: int | None = None
    score: float | None = None
    message: str = ""
