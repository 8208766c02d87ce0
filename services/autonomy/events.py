"""Autonomy events: a loop decided something (audited: the decision log's sentence on the activity page), a
project's autopilot switches changed, a character's drift alert opened or closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class AutonomyDecided(StudioEvent):
    """One autonomous decision was logged (an action launched, a wait, a gate's verdict, a pause)."""

    name: ClassVar[str] = "autonomy.decided"
    decision_id: int
    project_id: int | None
    character_id: int | None
    loop: str
    action: str
    outcome: str
    phase: str | None
    reason: str
    job_id: int | None = None

    def subject(self) -> tuple[str | None, str | None]:
        if self.character_id is not None:
            return "character", str(self.character_id)
        return ("project", str(self.project_id)) if self.project_id is not None else (None, None)

    def summary(self) -> str:
        where = f" ({self.phase})" if self.phase else ""
        return f"Autopilot {self.loop}{where}: {self.action} {self.outcome}: {self.reason}"


@dataclass(frozen=True, kw_only=True)
class AutopilotChanged(StudioEvent):
    """A project's autopilot switches, targets or pause changed (a person, or a failing backend)."""

    name: ClassVar[str] = "autopilot.changed"
    project_id: int
    change: str  # switches | target | paused | resumed | override
    detail: str = ""

    def subject(self) -> tuple[str | None, str | None]:
        return "project", str(self.project_id)

    def summary(self) -> str:
        return f"{self.actor}: autopilot {self.change}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, kw_only=True)
class DriftDetected(StudioEvent):
    """A character's recent approvals fell below its history (`resolved`: they recovered)."""

    name: ClassVar[str] = "drift.detected"
    alert_id: int
    project_id: int
    character_id: int
    character_name: str
    reason: str
    resolved: bool = False

    def subject(self) -> tuple[str | None, str | None]:
        return "character", str(self.character_id)

    def summary(self) -> str:
        if self.resolved:
            return f"{self.character_name} recovered from drift: {self.reason}"
        return f"Drift: {self.character_name}: {self.reason}"
