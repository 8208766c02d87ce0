"""Jobs: every queued, running and finished job, filtered by project, state, kind and device, live, with cancel
and retry, each named in words with its duration, progress bar and the scene, episode or character it is for;
and each device worker."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from nicegui import ui
from starlette.requests import Request

from components.job_kinds import duration_text, job_subject, kind_name
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
from components.shell import Area, frame, principal_of, studio_page
from services.connections import ConnectionChanged
from services.jobs import CPU_DEVICE, JobChanged, JobFilter, JobProgressed
from studio.models import Job, JobState
from studio.root import Studio

ALL = ""
LIMIT = 200
HEADERS = ("ID", "Job", "State", "Device", "Progress", "Duration", "Attempts", "When (UTC)", "Error", "")
COLUMNS = (
    "max-content minmax(150px, 1.5fr) max-content max-content minmax(110px, 1fr) max-content max-content "
    "max-content minmax(160px, 2fr) max-content"
)
REDRAW_SECONDS = 0.25
# Worker state (connected, in flight) lives in memory and changes without an event of its own; reading it
# costs nothing, so the header rereads it this often.
WORKERS_SECONDS = 3.0


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/jobs")
    async def jobs_page(request: Request) -> None:
        async with frame(studio, request, "Jobs", areas) as content:
            with content:
                view = JobsView(studio, principal_of(request).name)
                view.build({s.project.id: s.project.name for s in await studio.projects.list()})  # type: ignore[misc]
            await view.reload()


class JobsView:
    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio, self.actor = studio, actor
        self.kinds: set[str] = set()
        self.live: dict[int, LiveProgress] = {}
        self.dirty = False
        self.progress: dict[int, JobProgressed] = {}
        self.latest = 0  # a reload started later wins over one that finishes later

    def build(self, projects: dict[int, str]) -> None:
        self.workers_host = ui.row().classes("w-full items-center gap-2").mark("workers")
        self.workers()
        with ui.row().classes("w-full items-end gap-3"):
            self.project = (
                ui.select({ALL: "All projects", **projects}, value=ALL, label="Project", on_change=self.reload)
                .props("outlined dense")
                .classes("w-56")
                .mark("project-filter")
            )
            self.state = (
                ui.select(
                    {s.value: s.value for s in JobState},
                    value=[],
                    multiple=True,
                    label="State",
                    on_change=self.reload,
                )
                .props("outlined dense use-chips clearable")
                .classes("w-72")
                .mark("state-filter")
            )
            self.kind = (
                ui.select({ALL: "All kinds"}, value=ALL, label="Kind", on_change=self.reload)
                .props("outlined dense")
                .classes("w-56")
                .mark("kind-filter")
            )
            self.device = (
                ui.select(self.device_options(), value=ALL, label="Device", on_change=self.reload)
                .props("outlined dense")
                .classes("w-48")
                .mark("device-filter")
            )
            ui.space()
            self.count = ui.label().classes("opacity-70").mark("job-count")
        self.table_host = ui.element("div").classes("w-full overflow-x-auto")
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        client.on_delete(self.studio.events.subscribe(ConnectionChanged, self.devices_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)
        ui.timer(WORKERS_SECONDS, self.workers)

    def device_options(self) -> dict[str, str]:
        devices = [d.name for d in self.studio.settings.devices] + [CPU_DEVICE]
        return {ALL: "All devices", **{d: d for d in devices}}

    def devices_changed(self, _event: ConnectionChanged) -> None:
        """A device added or removed in Settings → Connections: the filter offers it without a reload (a removed
        device stays while it is chosen: its jobs are still listed)."""
        if self.device.is_deleted:
            return
        options = self.device_options()
        if self.device.value not in options:
            options[self.device.value] = self.device.value
        self.device.set_options(options, value=self.device.value)

    def workers(self) -> None:
        if self.workers_host.is_deleted:
            return
        self.workers_host.clear()
        with self.workers_host:
            ui.label("Workers").classes("font-semibold")
            for worker in self.studio.workers.states():
                up = worker.connected
                text = f"{worker.device}: {'connected' if up else 'not connected'} · {worker.in_flight} in flight"
                chip = ui.chip(text, icon="check_circle" if up else "error", color="positive" if up else "negative")
                chip.props("outline dense").mark(f"worker-{worker.device}")
                if worker.url:
                    chip.tooltip(worker.url)
                if worker.last_error:
                    ui.label(worker.last_error).classes("text-xs text-negative").mark(f"worker-error-{worker.device}")

    async def reload(self) -> None:
        self.latest += 1
        mine = self.latest
        jobs = await self.studio.jobs.list(
            JobFilter(
                states=[JobState(s) for s in self.state.value or []],
                project_id=self.project.value or None,
                kind=self.kind.value or None,
                device=self.device.value or None,
                limit=LIMIT,
            )
        )
        if mine != self.latest or self.table_host.is_deleted:
            return
        self.kinds.update(job.kind for job in jobs)
        options = {ALL: "All kinds", **{k: kind_name(k) for k in sorted(self.kinds, key=kind_name)}}
        if options != self.kind.options:
            self.kind.set_options(options, value=self.kind.value)
        self.count.text = f"{len(jobs)} job{'' if len(jobs) == 1 else 's'}" + (
            " (newest)" if len(jobs) == LIMIT else ""
        )
        self.table_host.clear()
        self.live = {}
        with self.table_host:
            if not jobs:
                with ui.card().classes("w-full items-center p-6").mark("no-jobs"):
                    filtered = bool(self.project.value or self.state.value or self.kind.value or self.device.value)
                    ui.label("No job matches these filters." if filtered else "No jobs yet.").classes("opacity-70")
                return
            now = self.studio.clock.now()
            with ui.grid(columns=COLUMNS).classes("w-full gap-x-4 gap-y-2 items-center text-sm"):
                for header in HEADERS:
                    ui.label(header).classes("font-semibold opacity-70")
                for job in jobs:
                    self._row(job, now)

    def _row(self, job: Job, now: datetime) -> None:
        # `display: contents` lets one element hold a row's cells while the grid lays the cells out.
        with ui.element("div").style("display: contents").mark(f"job-row-{job.id}"):
            ui.label(str(job.id))
            with ui.column().classes("gap-0 min-w-0"):
                ui.label(job.title or kind_name(job.kind)).classes("break-words")
                with ui.row().classes("gap-2 items-baseline"):
                    ui.label(kind_name(job.kind)).classes("text-xs opacity-60").mark(f"job-kind-{job.id}")
                    subject = job_subject(job)
                    if subject is not None:
                        ui.link(f"open {subject.label}", subject.address).classes("text-xs").mark(f"job-link-{job.id}")
            state_chip(job)
            ui.label(device_label(job))
            with ui.column().classes("gap-0 w-full"):
                if job.state in CANCELLABLE:
                    self.live[job.id] = live_progress(job, with_preview=False)  # type: ignore[index]
                else:
                    ui.linear_progress(value=round(job.progress, 3), show_value=False).props("rounded size=8px").mark(
                        f"job-progress-{job.id}"
                    )
                    ui.label(f"{job.progress:.0%}").classes("text-xs opacity-70")
            ui.label(duration_text(job, now)).classes("whitespace-nowrap").mark(f"job-duration-{job.id}")
            ui.label(f"{job.attempts}/{job.max_attempts}")
            with ui.column().classes("gap-0 text-xs whitespace-nowrap"):
                for word, at in (
                    ("created", job.created_at),
                    ("started", job.started_at),
                    ("finished", job.finished_at),
                ):
                    if at is not None:
                        ui.label(f"{word} {at:%m-%d %H:%M:%S}")
            ui.label(job.error or "").classes("text-negative break-words min-w-0").mark(f"job-error-{job.id}")
            with ui.row().classes("gap-0 no-wrap"):
                job_buttons(job, self.cancel, self.retry)

    # --- live updates ---------------------------------------------------------------------------------

    def job_changed(self, event: JobChanged) -> None:
        self.dirty = True
        self.kinds.add(event.kind)

    def job_progressed(self, event: JobProgressed) -> None:
        # Kept even for a row not drawn yet: a reload under way may draw it from older data, and the next
        # redraw brings it up to date (only rows on the page are touched).
        self.progress[event.job_id] = event

    async def redraw(self) -> None:
        progress, self.progress = self.progress, {}
        if self.dirty:
            self.dirty = False
            await self.reload()
            self.workers()
        for job_id, event in progress.items():
            if job_id in self.live:
                self.live[job_id].show(event)

    # --- actions --------------------------------------------------------------------------------------

    async def cancel(self, job_id: int) -> None:
        await cancel_job(self.studio, job_id, self.actor)

    async def retry(self, job_id: int) -> None:
        await retry_job(self.studio, job_id, self.actor)
