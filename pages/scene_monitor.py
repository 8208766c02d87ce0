"""Generation monitor: one scene's shots as they render, live; generate, cancel, regenerate one shot, promote."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.form_errors import explain
from components.generate_again import generate_again_ok
from components.job_progress import CANCELLABLE, LiveProgress, live_progress, state_chip, with_latest_preview
from components.shell import Area, frame, principal_of, studio_page
from components.shot_attempts import ShotActions, ShotCard, ShotState
from services.errors import Conflict, Invalid, NotFound
from services.jobs import FINISHED_STATES, JobChanged, JobProgressed
from services.scenes import SCENE_JOB, VIDEO_JOB, SceneChanged, ShotProgressed
from services.scenes.generation import DONE
from studio.models import Job, Scene, Shot
from studio.root import Studio

# Events only mark what changed; the page rereads and redraws at most this often.
REDRAW_SECONDS = 0.25
# The scene job's row says finished a moment before its walk has reset the scene and its shots, and that
# reset announces nothing: the page rereads until the scene leaves "generating", for at most this long.
SETTLE_SECONDS = 10.0
# Progress of jobs the page cannot place yet (a GPU job whose attempt is not written yet), newest kept.
UNPLACED_PROGRESS = 16
SCENE_STATUS = {
    "draft": ("grey-7", "edit_note"),
    "generating": ("primary", "autorenew"),
    "completed": ("positive", "check_circle"),
    "partial": ("warning", "rule"),
    "failed": ("negative", "error"),
}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/scenes/{scene_id}/monitor")
    async def scene_monitor_page(request: Request, scene_id: str) -> None:
        async with frame(studio, request, "Generation monitor", areas) as content:
            with content:
                monitor = SceneMonitor(studio, scene_id, principal_of(request).name)
                monitor.build()
            await monitor.reload()


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def scenes_link(scene: Scene | None) -> str:
    return f"/scenes?project={scene.project_id}" if scene is not None else "/scenes"


class SceneMonitor:
    def __init__(self, studio: Studio, scene_id: str, actor: str) -> None:
        self.studio, self.asked, self.actor = studio, scene_id, actor
        self.scene_id = _uuid(scene_id)
        self.scene: Scene | None = None
        self.job: Job | None = None
        self.cards: dict[uuid.UUID, ShotCard] = {}
        self.order: list[uuid.UUID] | None = None  # the shots the cards show, in order (None: none drawn)
        self.child_jobs: dict[int, uuid.UUID] = {}  # GPU job -> the shot whose attempt it renders
        self.header_signature = ""
        self.header_live: LiveProgress | None = None
        self.messages: dict[str, str] = {}  # shot id -> its latest progress message
        self.progress: dict[int, JobProgressed] = {}  # not shown yet
        self.latest: dict[int, JobProgressed] = {}  # shown; re-applied when a card is redrawn
        self.unplaced: dict[int, JobProgressed] = {}
        self.dirty = False
        self.settle_until: float | None = None
        self.lock = asyncio.Lock()
        self.actions = ShotActions(regenerate=self.regenerate, promote=self.promote, cancel_shot=self.cancel_shot)

    def build(self) -> None:
        self.header_host = ui.column().classes("w-full gap-2")
        self.problems = ui.column().classes("w-full gap-1")
        self.shots_host = ui.column().classes("w-full gap-3").mark("shots")
        if self.scene_id is None:
            return
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(ShotProgressed, self.shot_progressed))
        client.on_delete(self.studio.events.subscribe(SceneChanged, self.scene_changed))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        client.on_delete(self.studio.events.subscribe(JobProgressed, self.job_progressed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    # --- reading and drawing ------------------------------------------------------------------------

    async def reload(self) -> None:
        async with self.lock:
            scene = await self._scene()
            if scene is None or scene.deleted_at is not None:
                if not self.header_host.is_deleted:
                    self._gone(scene)
                return
            shots = await self.studio.scenes.shots(scene.id)
            job = await self._job(scene.generation_job_id)
            pending = {a["job_id"] for s in shots for a in s.attempts if a.get("pending") and a.get("job_id")}
            jobs = {job_id: found for job_id in pending if (found := await self._job(job_id)) is not None}
            if self.header_host.is_deleted:
                return
            self.scene, self.job = scene, job
            self._settle(scene, job)
            self._header(scene, shots, job)
            self._shots(shots, job, jobs)

    async def _scene(self) -> Scene | None:
        if self.scene_id is None:
            return None
        try:
            return await self.studio.scenes.get(self.scene_id)
        except NotFound:
            return None

    async def _job(self, job_id: int | None) -> Job | None:
        if job_id is None:
            return None
        try:
            return await self.studio.jobs.get(job_id)
        except NotFound:
            return None

    def _settle(self, scene: Scene, job: Job | None) -> None:
        if job is None or job.state not in FINISHED_STATES or scene.generation_status != "generating":
            self.settle_until = None
        elif self.settle_until is None:
            self.settle_until = time.monotonic() + SETTLE_SECONDS

    def _running(self, job: Job | None) -> bool:
        return job is not None and job.kind == SCENE_JOB and job.state in CANCELLABLE

    def _gone(self, scene: Scene | None) -> None:
        self.header_host.clear()
        self.shots_host.clear()
        self.cards, self.order, self.header_signature, self.header_live = {}, None, "", None
        with self.header_host, ui.card().classes("w-full items-start gap-2 p-6").mark("scene-missing"):
            if scene is None:
                ui.label(f"There is no scene {self.asked}: it was removed, or the address is wrong.")
            else:
                ui.label(
                    f"Scene {scene.scene_number} “{scene.title or 'untitled'}” is deleted. "
                    "Restore it on the Scenes page to see or generate its shots."
                )
            ui.link("Back to scenes", scenes_link(scene)).mark("back-to-scenes")

    def _header(self, scene: Scene, shots: list[Shot], job: Job | None) -> None:
        running = self._running(job)
        done = sum(1 for s in shots if s.status in DONE)
        signature = repr(
            (scene.scene_number, scene.title, scene.generation_status, done, len(shots), job and job.id)
            + ((job.state, job.error, job.created_by) if job else ())
        )
        if signature == self.header_signature:
            return
        self.header_signature, self.header_live = signature, None
        self.header_host.clear()
        with self.header_host, ui.card().classes("w-full gap-2").mark("scene-header"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label(f"Scene {scene.scene_number} · {scene.title or 'untitled'}").classes(
                    "text-xl font-semibold"
                ).mark("scene-title")
                color, icon = SCENE_STATUS.get(scene.generation_status, ("grey-7", "help"))
                ui.chip(scene.generation_status, icon=icon, color=color).props("dense text-color=white").mark(
                    "scene-status"
                )
                ui.space()
                ui.link("All scenes", scenes_link(scene)).mark("back-to-scenes")
            ui.label(f"{done} of {len(shots)} shots rendered").classes("opacity-80").mark("scene-count")
            if job is None:
                ui.label("Not generated yet.").classes("opacity-70").mark("scene-job")
            else:
                with ui.row().classes("items-center gap-2").mark("scene-job"):
                    ui.label(f"Generation job {job.id} · {job.title} · started by {job.created_by}")
                    state_chip(job)
                if job.state in CANCELLABLE:
                    self.header_live = live_progress(job, with_preview=False)
                if job.error:
                    ui.label(job.error).classes("text-sm text-negative break-words").mark("scene-job-error")
            with ui.row().classes("gap-2"):
                ui.button("Generate scene", icon="movie", on_click=self.generate).mark("generate-scene").set_enabled(
                    not running and bool(shots)
                )
                if running:
                    ui.button("Cancel generation", icon="cancel", on_click=self.cancel).props(
                        "outline color=negative"
                    ).mark("cancel-scene")

    def _shots(self, shots: list[Shot], job: Job | None, jobs: dict[int, Job]) -> None:
        running = self._running(job)
        wanted = set((job.payload or {}).get("shot_ids") or []) if running and job else set()
        run = (job.payload or {}).get("run") if running and job else None
        if [s.id for s in shots] != self.order:
            self.shots_host.clear()
            self.cards, self.order = {}, [s.id for s in shots]
            with self.shots_host:
                if not shots:
                    with ui.card().classes("w-full items-start gap-2 p-6").mark("no-shots"):
                        ui.label("This scene has no shots yet: add them on the Scenes page, then generate.")
                        ui.link("Go to scenes", scenes_link(self.scene))
                for shot in shots:
                    self.cards[shot.id] = ShotCard(self.actions)
        self.child_jobs = {}
        for shot in shots:
            mine = {a["job_id"]: jobs[a["job_id"]] for a in shot.attempts if a.get("job_id") in jobs}
            self.child_jobs.update({job_id: shot.id for job_id in mine})
            state = ShotState(
                shot=shot,
                run=run if str(shot.id) in wanted else None,
                jobs=mine,
                busy=running,
                in_run=running and str(shot.id) in wanted,
                message=self.messages.get(str(shot.id), ""),
            )
            card = self.cards[shot.id]
            if state.signature() != card.signature:
                card.render(state)
                if card.live_job in self.latest:
                    card.progress(self.latest[card.live_job])
        for job_id in self.child_jobs.keys() & self.unplaced.keys():
            self.progress.setdefault(job_id, self.unplaced.pop(job_id))

    # --- live updates -------------------------------------------------------------------------------

    def shot_progressed(self, event: ShotProgressed) -> None:
        if event.scene_id == str(self.scene_id):
            if event.message:
                self.messages[event.shot_id] = event.message
            self.dirty = True

    def scene_changed(self, event: SceneChanged) -> None:
        if event.scene_id == str(self.scene_id):
            self.dirty = True

    def job_changed(self, event: JobChanged) -> None:
        ours = (self.job is not None and event.job_id == self.job.id) or event.job_id in self.child_jobs
        # A generation started elsewhere, or a GPU job an attempt is about to name.
        related = event.kind in (SCENE_JOB, VIDEO_JOB) and self.scene is not None
        if ours or (related and event.project_id == self.scene.project_id):  # type: ignore[union-attr]
            self.dirty = True
        if event.state in {s.value for s in FINISHED_STATES}:
            self.latest.pop(event.job_id, None)
            self.unplaced.pop(event.job_id, None)

    def job_progressed(self, event: JobProgressed) -> None:
        if (self.job is not None and event.job_id == self.job.id) or event.job_id in self.child_jobs:
            self.progress[event.job_id] = with_latest_preview(event, self.progress.get(event.job_id))
            return
        self.unplaced[event.job_id] = with_latest_preview(event, self.unplaced.pop(event.job_id, None))
        while len(self.unplaced) > UNPLACED_PROGRESS:
            self.unplaced.pop(next(iter(self.unplaced)))

    async def redraw(self) -> None:
        if self.settle_until is not None and time.monotonic() < self.settle_until:
            self.dirty = True
        if self.dirty:
            self.dirty = False
            await self.reload()
        progress, self.progress = self.progress, {}
        for job_id, event in progress.items():
            self.latest[job_id] = event = with_latest_preview(event, self.latest.get(job_id))
            if self.job is not None and job_id == self.job.id and self.header_live is not None:
                self.header_live.show(event)
            elif job_id in self.child_jobs and self.child_jobs[job_id] in self.cards:
                self.cards[self.child_jobs[job_id]].progress(event)

    # --- actions ------------------------------------------------------------------------------------

    async def generate(self) -> None:
        assert self.scene_id is not None
        if await generate_again_ok(self.studio, self.scene_id):
            await self._start(None, "Scene generation queued")

    async def regenerate(self, shot: Shot) -> None:
        await self._start([shot.id], f"Shot {shot.shot_number} queued to render again")

    async def _start(self, shot_ids: list[uuid.UUID] | None, done: str) -> None:
        assert self.scene_id is not None
        self.problems.clear()
        try:
            job = await self.studio.scene_generation.start(self.scene_id, self.actor, shot_ids)
        except (Conflict, Invalid, NotFound) as exc:
            self._problem(explain(exc))
            return
        ui.notify(f"{done} (job {job.id})", type="positive")
        self.dirty = True

    async def cancel(self) -> None:
        assert self.scene_id is not None
        try:
            await self.studio.scene_generation.cancel(self.scene_id, self.actor)
        except (Conflict, NotFound) as exc:
            ui.notify(explain(exc), type="warning")
            self.dirty = True
            return
        ui.notify("Generation cancelled; shots already rendered keep their videos", type="info")
        self.dirty = True

    async def cancel_shot(self, shot: Shot) -> None:
        try:
            await self.studio.scene_generation.cancel_shot(shot.id, self.actor)  # type: ignore[arg-type]
        except (Conflict, NotFound) as exc:
            ui.notify(explain(exc), type="warning")
            self.dirty = True
            return
        ui.notify(f"Shot {shot.shot_number} cancelled; the other shots go on", type="info")
        self.dirty = True

    async def promote(self, shot: Shot, attempt: int) -> None:
        self.problems.clear()
        try:
            await self.studio.scene_generation.promote(shot.id, attempt, self.actor)
        except (Invalid, NotFound) as exc:
            self._problem(explain(exc))
            return
        ui.notify(f"Shot {shot.shot_number} now uses attempt {attempt}", type="positive")
        self.dirty = True

    def _problem(self, text: str) -> None:
        with self.problems:
            ui.label(text).classes("text-negative text-sm break-words").mark("monitor-problem")
        ui.notify(text, type="negative")
