"""Dataset events: an image arrived, an image was decided (by a person or by the studio), images moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class ImageAdded(StudioEvent):
    """A new image entered a character's dataset. Not audited: its ingest job and decisions are."""

    name: ClassVar[str] = "image.added"
    audited: ClassVar[bool] = False
    image_id: int
    project_id: int
    character_id: int | None
    source: str
    duplicate_of_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class ImageDecided(StudioEvent):
    """An image was approved, rejected or put back to pending; `decider` says whether a person decided."""

    name: ClassVar[str] = "image.decided"
    image_id: int
    decision_id: int
    project_id: int
    character_id: int | None
    previous_state: str
    state: str
    decider: str  # human | dedup | triage | vision
    version: int
    categories: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    quality_score: float | None = None
    undo: bool = False

    def subject(self) -> tuple[str | None, str | None]:
        return "image", str(self.image_id)

    def summary(self) -> str:
        who = self.actor if self.decider == "human" else f"{self.decider} check"
        verb = "restored to" if self.undo else "set to"
        why = f" ({'; '.join(self.reasons)})" if self.reasons else ""
        return f"Image {self.image_id} {verb} {self.state} by {who}{why}"


@dataclass(frozen=True, kw_only=True)
class ImagesReassigned(StudioEvent):
    """Images moved to another character of the same project (and wait for review there)."""

    name: ClassVar[str] = "images.reassigned"
    image_ids: tuple[int, ...]
    project_id: int
    character_id: int

    def subject(self) -> tuple[str | None, str | None]:
        return "character", str(self.character_id)

    def summary(self) -> str:
        return f"{len(self.image_ids)} image(s) moved to character {self.character_id}"
