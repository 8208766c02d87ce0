"""The assistant's events: a person cleared a thread, or took the clearing back (audited, like every change)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class ThreadCleared(StudioEvent):
    """A thread's messages left the thread (`cleared`) or came back (`restored`); the rows are never deleted."""

    name: ClassVar[str] = "assistant.thread_cleared"
    # The project whose thread it is (None: the thread outside projects). Not `project_id`: that names a change
    # to the production, whose notes the assistant then indexes again; a thread is not part of them.
    thread: int | None
    thread_name: str
    change: Literal["cleared", "restored"]
    messages: int

    def subject(self) -> tuple[str | None, str | None]:
        return ("project", str(self.thread)) if self.thread is not None else (None, None)

    def summary(self) -> str:
        return f"{self.actor} {self.change} the assistant's thread of {self.thread_name} ({self.messages} messages)"
