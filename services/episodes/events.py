"""Episode events: an episode was created, changed, assembled, published... (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent

Change = Literal[
    "created",
    "updated",
    "deleted",
    "restored",
    "scenes_set",
    "assembling",
    "assembled",
    "publishing",
    "published",
    "unpublished",
]


@dataclass(frozen=True, kw_only=True)
class EpisodeChanged(StudioEvent):
    """An episode, its scene list, its assembly or its publication changed."""

    name: ClassVar[str] = "episode.changed"
    episode_id: str
    project_id: int
    change: Change
    label: str

    def subject(self) -> tuple[str | None, str | None]:
        return ("episode", self.episode_id)

    def summary(self) -> str:
        return f"{self.actor} {self.change.replace('_', ' ')} episode {self.label!r}"
