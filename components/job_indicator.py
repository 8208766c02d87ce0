"""The header's jobs indicator: how many jobs run and wait, live; a side drawer with them, their progress and
Cancel; and a notice when a long job of yours ends, whichever page you are on."""

from __future__ import annotations

from datetime import timedelta

from nicegui import ui

from components.job_progress import (
    CANCELLABLE,
    LiveProgress,
    cancel_job,
    device_label,
    job_buttons,
    live_progress,
    retry_job,
    state_chip,
)
from components.page_level import page_level
from components.unsaved import leave_to
from services.jobs import JobChanged, JobFilter, JobProgressed
from studio.models import Job, JobState
from studio.root import Studio

# Events only mark what changed; the indicator reads the queue again at most this often.
REDRAW_SECONDS = 0.5
# Counted from the click, not from the start: a job that waited long for its device is as easy to lose sight of
# as one that ran long. Shorter jobs end while the person still watches them.
LONG_JOB = timedelta(seconds=10)
# The drawer lists this many; the badge counts them all up to it ("100+").
SHOWN = 100
ENDINGS = {"succeeded": "positive", "failed": "negative"}


class JobIndicator:
    """Built into the header at the first paint; `load` reads the queue once the page has its content."""

    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio, self.actor = studio, actor
        self.dirty = False
        self.ended: list[int] = []  # jobs that finished since the last redraw: maybe a long one of ours
        self.progress: dict[int, JobProgressed] = {}
        self.live: dict[int, LiveProgress] = {}
        self.loaded = False
        self.drawer: ui.dialog | None = None
        self.list_host: ui.column

    def build(self) -> None:
        self.button = ui.button(icon="work_history", on_click=self.open).props(
            'flat round dense color=white aria-label="Jobs in flight"'
        )
        self.button.mark("job-indicator")
        with self.button:
            self.badge = ui.badge("", color="orange-8").props("floating").mark("job-indicator-count")
            self.tip = ui.tooltip("Jobs in flight")
        self.badge.set_visibility(False)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def load(self) -> None:
        jobs = await self.studio.jobs.list(JobFilter(states=(JobState.RUNNING, JobState.QUEUED), limit=SHOWN))
        self.loaded = True
        if self.button.is_deleted:
            return
        running = sum(1 for job in jobs if job.state == JobState.RUNNING)
        queued = len(jobs) - running
        more = "+" if len(jobs) == SHOWN else ""
        self.badge.text = f"{len(jobs)}{more}"
        self.badge.props(f"color={'primary' if running else 'orange-8'}")
        self.badge.set_visibility(bool(jobs))
        self.tip.text = f"{running} running, {queued}{more} queued" if jobs else "No jobs in flight"
        if self.drawer is not None and self.drawer.value:
            self._draw(jobs)

    async def open(self) -> None:
        if self.drawer is None:
            self.drawer = self._drawer()
        self.drawer.open()
        await self.load()

    def _drawer(self) -> ui.dialog:
        """Made at the first click: most pages never open it. Its list is drawn only while it is open."""
        with page_level(), ui.dialog().props("position=right full-height") as drawer:
            with ui.card().classes("h-full w-[420px] max-w-[100vw] gap-2 no-wrap").mark("job-drawer"):
                with ui.row().classes("w-full items-center no-wrap"):
                    ui.label("Jobs in flight").classes("text-lg font-semibold")
                    ui.space()
                    ui.button("All jobs", on_click=lambda: leave_to("/jobs")).props("flat dense no-caps")
                    ui.button(icon="close", on_click=drawer.close).props('flat round dense aria-label="Close"')
                self.list_host = ui.column().classes("w-full gap-2 overflow-y-auto")
        drawer.on_value_change(lambda e: self.list_host.clear() if not e.value else None)
        return drawer

    def _draw(self, jobs: list[Job]) -> None:
        self.list_host.clear()
        self.live = {}
        with self.list_host:
            if not jobs:
                ui.label("Nothing runs or waits.").classes("opacity-70").mark("job-drawer-empty")
            for job in jobs:
                with ui.card().classes("w-full gap-1 p-3").props("flat bordered").mark(f"job-drawer-{job.id}"):
                    with ui.row().classes("w-full items-start no-wrap gap-2"):
                        ui.label(job.title or job.kind).classes("font-medium break-words min-w-0")
                        ui.space()
                        state_chip(job)
                    ui.label(f"job {job.id} · {job.kind} · device {device_label(job)}").classes("text-xs opacity-60")
                    if job.state in CANCELLABLE:
                        self.live[job.id] = live_progress(job, with_preview=False)  # type: ignore[index]
                    with ui.row().classes("gap-1"):
                        job_buttons(job, self.cancel, self.retry)

    # --- live updates ---------------------------------------------------------------------------------

    def job_changed(self, event: JobChanged) -> None:
        self.dirty = True
        if event.change in ENDINGS:
            self.ended.append(event.job_id)

    def job_progressed(self, event: JobProgressed) -> None:
        self.progress[event.job_id] = event  # a row a reload under way has not drawn yet is updated next time

    async def redraw(self) -> None:
        if not self.loaded:  # the page's own content loads first
            return
        progress, self.progress = self.progress, {}
        ended, self.ended = self.ended, []
        if self.dirty:
            self.dirty = False
            await self.load()
        for job_id, event in progress.items():
            if job_id in self.live:
                self.live[job_id].show(event)
        for job_id in ended:
            await self._tell_if_long_and_ours(job_id)

    async def _tell_if_long_and_ours(self, job_id: int) -> None:
        job = await self.studio.jobs.get(job_id)
        if job.created_by != self.actor or job.finished_at is None or job.state.value not in ENDINGS:
            return
        if job.finished_at - job.created_at < LONG_JOB:
            return
        what = job.title or job.kind
        text = f"{what} finished" if job.state == JobState.SUCCEEDED else f"{what} failed: {job.error or 'no reason'}"
        ui.notify(text, type=ENDINGS[job.state.value], multi_line=True, close_button=True, timeout=15000)

    # --- actions --------------------------------------------------------------------------------------

    async def cancel(self, job_id: int) -> None:
        await cancel_job(self.studio, job_id, self.actor)

    async def retry(self, job_id: int) -> None:
        await retry_job(self.studio, job_id, self.actor)
