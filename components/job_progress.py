"""A job as people follow it: state chip, live progress with the latest preview frame, its actions, its images."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from services.errors import Conflict, NotFound
from services.jobs import JobProgressed
from studio.models import DatasetImage, Job, JobState
from studio.root import Studio

STATE_COLOR = {
    JobState.QUEUED: "grey-7",
    JobState.RUNNING: "primary",
    JobState.SUCCEEDED: "positive",
    JobState.FAILED: "negative",
    JobState.CANCELLED: "warning",
}
STATE_ICON = {
    JobState.QUEUED: "schedule",
    JobState.RUNNING: "autorenew",
    JobState.SUCCEEDED: "check_circle",
    JobState.FAILED: "error",
    JobState.CANCELLED: "block",
}
CANCELLABLE = frozenset({JobState.QUEUED, JobState.RUNNING})
RETRYABLE = frozenset({JobState.FAILED, JobState.CANCELLED})

JobAction = Callable[[int], Awaitable[None]]
ImageAction = Callable[[DatasetImage], Awaitable[None] | None]


def image_src(image_id: int) -> str:
    return f"/api/images/{image_id}/file"


def preview_src(event: JobProgressed) -> str | None:
    """The event's preview frame as a data URL (it exists only in memory, so it has no address to link)."""
    if not event.preview:
        return None
    return f"data:{event.preview_type};base64,{base64.b64encode(event.preview).decode('ascii')}"


def with_latest_preview(newer: JobProgressed, older: JobProgressed | None) -> JobProgressed:
    """`newer`, keeping `older`'s preview frame when `newer` has none (most progress events carry no frame)."""
    if newer.preview is not None or older is None or older.preview is None:
        return newer
    return dataclasses.replace(newer, preview=older.preview, preview_type=older.preview_type)


def device_label(job: Job) -> str:
    return job.ran_on or job.device or "any"


def result_image_ids(job: Job) -> list[int]:
    ids = (job.result or {}).get("image_ids") if job.state == JobState.SUCCEEDED else None
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def waiting_on_device(job: Job) -> bool:
    """Claimed by a device that has not started it yet (a prompt queued ahead on ComfyUI)."""
    return job.state == JobState.RUNNING and job.started_at is None


def state_chip(job: Job) -> ui.chip:
    text, icon, color = (
        ("waiting", "hourglass_top", STATE_COLOR[JobState.QUEUED])
        if waiting_on_device(job)
        else (job.state.value, STATE_ICON[job.state], STATE_COLOR[job.state])
    )
    return (
        ui.chip(text, icon=icon, color=color)
        .props("dense text-color=white")
        .classes("shrink-0 justify-self-start")
        .mark(f"job-state-{job.id}")
    )


async def cancel_job(studio: Studio, job_id: int, actor: str) -> None:
    """Cancel and say what happened; a job that finished meanwhile is a notice, not an error page."""
    try:
        await studio.jobs.cancel(job_id, actor)
    except (Conflict, NotFound) as exc:
        ui.notify(str(exc), type="warning")
        return
    ui.notify(f"Job {job_id} cancelled", type="info")


async def retry_job(studio: Studio, job_id: int, actor: str) -> None:
    try:
        await studio.jobs.retry(job_id, actor)
    except (Conflict, NotFound) as exc:
        ui.notify(str(exc), type="warning")
        return
    ui.notify(f"Job {job_id} queued again", type="info")


def job_buttons(job: Job, on_cancel: JobAction, on_retry: JobAction) -> None:
    job_id: int = job.id  # type: ignore[assignment]
    if job.state in CANCELLABLE:
        ui.button("Cancel", icon="cancel", on_click=lambda: on_cancel(job_id)).props("flat dense color=negative").mark(
            f"cancel-job-{job_id}"
        )
    if job.state in RETRYABLE:
        ui.button("Retry", icon="replay", on_click=lambda: on_retry(job_id)).props("flat dense color=primary").mark(
            f"retry-job-{job_id}"
        )


@dataclass
class LiveProgress:
    """The elements a progress event updates in place, so a step never re-renders the whole card."""

    bar: ui.linear_progress
    message: ui.label
    preview: ui.image | None = None

    def show(self, event: JobProgressed) -> None:
        self.bar.value = round(event.progress, 3)
        self.message.text = event.message
        src = preview_src(event)
        if src is not None and self.preview is not None:
            self.preview.set_source(src)
            self.preview.set_visibility(True)


def live_progress(job: Job, *, with_preview: bool) -> LiveProgress:
    bar = ui.linear_progress(value=round(job.progress, 3), show_value=False).props("rounded size=8px")
    bar.mark(f"job-progress-{job.id}")
    message = ui.label(job.progress_message or ("waiting for a device" if job.state == JobState.QUEUED else ""))
    message.classes("text-xs opacity-70").mark(f"job-message-{job.id}")
    preview = None
    if with_preview:
        # Hidden until the engine sends its first frame: an empty frame would look like a broken image.
        preview = ui.image("").classes("w-full max-w-[240px] rounded").mark(f"job-preview-{job.id}")
        preview.set_visibility(False)
    return LiveProgress(bar, message, preview)


class JobCard:
    """One job of a batch. `render` redraws it after a state change; `progress` follows a running job."""

    def __init__(self, on_cancel: JobAction, on_retry: JobAction, on_open_image: ImageAction) -> None:
        self.on_cancel, self.on_retry, self.on_open_image = on_cancel, on_retry, on_open_image
        self.job: Job | None = None
        self.live: LiveProgress | None = None
        self.box = ui.card().classes("w-full gap-2 p-3")

    def render(self, job: Job, images: list[DatasetImage]) -> None:
        self.job = job
        self.live = None
        self.box.clear()
        self.box.mark(f"job-{job.id}")
        with self.box:
            with ui.row().classes("w-full items-start no-wrap gap-2"):
                ui.label(job.title or job.kind).classes("font-medium break-words min-w-0")
                ui.space()
                state_chip(job)
            ui.label(f"job {job.id} · device {device_label(job)}").classes("text-xs opacity-60")
            if job.state in CANCELLABLE:
                self.live = live_progress(job, with_preview=True)
            if job.error and job.state in RETRYABLE:
                ui.label(job.error).classes("text-sm text-negative break-words").mark(f"job-error-{job.id}")
            if images:
                with ui.row().classes("gap-2 flex-wrap"):
                    for image in images:
                        ui.image(image_src(image.id)).classes(  # type: ignore[arg-type]
                            "w-28 h-36 rounded cursor-pointer"
                        ).props("fit=cover").on("click", lambda i=image: self.on_open_image(i)).mark(
                            f"thumb-{image.id}"
                        ).tooltip("Show how it was made")
            elif job.state == JobState.SUCCEEDED:
                ui.label("finished without images").classes("text-sm opacity-70")
            with ui.row().classes("gap-1"):
                job_buttons(job, self.on_cancel, self.on_retry)

    def progress(self, event: JobProgressed) -> None:
        if self.live is not None and self.job is not None and self.job.state in CANCELLABLE:
            self.live.show(event)
