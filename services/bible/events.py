"""The bible's events: one typed event for every change to projects, story, styles and characters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent

Entity = Literal["project", "storyline", "world", "style", "model_profile", "species_rule", "character", "reference"]
Change = Literal["created", "updated", "archived", "restored", "deleted", "reset", "imported"]


@dataclass(frozen=True, kw_only=True)
class BibleChanged(StudioEvent):
    name: ClassVar[str] = "bible.changed"
    entity: Entity
    entity_id: str
    change: Change
    label: str  # what a person calls it: the project's or character's name, the style's name
    project_id: int | None = None

    def subject(self) -> tuple[str | None, str | None]:
        return self.entity, self.entity_id

    def summary(self) -> str:
        return f"{self.actor} {self.change} {self.entity.replace('_', ' ')} {self.label!r}"
