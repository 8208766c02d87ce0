"""What the audit trail keeps of a connection change: which fields changed, never a secret's value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class ConnectionChanged(StudioEvent):
    name: ClassVar[str] = "connection.changed"
    connection: str  # "device rtx3060", "service jellyfin"
    change: Literal["added", "changed", "removed"]
    fields: tuple[str, ...]  # names only: a secret's value never reaches the trail

    def subject(self) -> tuple[str | None, str | None]:
        kind, _, name = self.connection.partition(" ")
        return kind, name

    def summary(self) -> str:
        changed = f" ({', '.join(self.fields)})" if self.fields and self.change == "changed" else ""
        return f"{self.actor}: {self.connection} {self.change}{changed}"
