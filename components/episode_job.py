"""The job an episode card is waiting for (its assembly or its publishing): live progress and Cancel."""

from __future__ import annotations

from nicegui import ui

from components.job_progress import LiveProgress, cancel_job, live_progress
from services.jobs import JobChanged, JobProgressed
from studio.models import Job
from studio.root import Studio


class FollowedJob:
    """Hidden while nothing runs; `show` follows a queued or running job, `progressed` moves its bar."""

    def __init__(self, studio: Studio, actor: str, mark: str) -> None:
        self.studio, self.actor = studio, actor
        self.job_id: int | None = None
        self.live: LiveProgress | None = None
        with ui.row().classes("w-full items-center gap-2 no-wrap").mark(f"{mark}-progress") as self.box:
            self.host = ui.column().classes("flex-grow gap-1 min-w-0")
            self.cancel_button = ui.button("Cancel", icon="stop", on_click=self.cancel)
            self.cancel_button.props("flat color=negative").mark(f"{mark}-cancel")
        self.box.set_visibility(False)

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def show(self, job: Job | None) -> None:
        if self.box.is_deleted:
            return
        self.box.set_visibility(job is not None)
        if job is None:
            self.job_id, self.live = None, None
            self.host.clear()
            return
        if job.id != self.job_id or self.live is None:
            self.job_id = job.id
            self.host.clear()
            with self.host:
                self.live = live_progress(job, with_preview=False)
        else:
            self.live.bar.value = round(job.progress, 3)
            if job.progress_message:
                self.live.message.text = job.progress_message

    def progressed(self, event: JobProgressed) -> None:
        if self.live is not None and event.job_id == self.job_id and not self.box.is_deleted:
            self.live.show(event)

    def failure(self, event: JobChanged) -> str | None:
        """The error of the followed job when this event says it failed."""
        return event.error if event.job_id == self.job_id and event.change == "failed" else None

    async def cancel(self) -> None:
        if self.job_id is not None:
            await cancel_job(self.studio, self.job_id, self.actor)
