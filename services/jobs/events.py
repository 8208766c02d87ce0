"""Job events: a state change (audited) and live progress with preview frames (not audited)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class JobChanged(StudioEvent):
    """A job was submitted, claimed (waiting on its device), started, finished, failed, cancelled, requeued or
    retried."""

    name: ClassVar[str] = "job.changed"
    job_id: int
    kind: str
    title: str
    state: str
    change: str  # submitted | claimed | started | succeeded | failed | cancelled | requeued | retried
    device: str | None = None
    batch: str | None = None
    project_id: int | None = None
    error: str | None = None

    def subject(self) -> tuple[str | None, str | None]:
        return "job", str(self.job_id)

    def summary(self) -> str:
        where = f" on {self.device}" if self.device else ""
        text = f"Job {self.job_id} ({self.title or self.kind}) {self.change}{where}"
        return text + (f": {self.error}" if self.error else "")


@dataclass(frozen=True, kw_only=True)
class JobProgressed(StudioEvent):
    """Live progress of a running job; `preview` is a small image (JPEG/PNG bytes) when the engine sent one."""

    name: ClassVar[str] = "job.progressed"
    audited: ClassVar[bool] = False
    job_id: int
    batch: str | None
    progress: float  # 0..1
    message: str
    preview: bytes | None = field(default=None, repr=False)
    preview_type: str = "image/jpeg"
