"""Home: a fresh studio's welcome with the three ways to start, then the current project's production overview.

The overview is what a director checks first: every scene's shots as a grid of states (the production overview
known from Kitsu), what waits for review, the jobs in flight and the last published episode, kept current by
the studio's events. Status is one click away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nicegui import ui
from starlette.requests import Request

from components.job_progress import state_chip
from components.project_context import project_for_page
from components.project_dialog import project_dialog
from components.sample_panel import SamplePanel
from components.shell import Area, frame, principal_of, studio_page
from components.shot_attempts import SHOT_STATUS
from components.unsaved import leave_to
from pages.status import PATH as STATUS
from services.bible import ProjectSummary
from services.datasets import ImageAdded, ImageDecided, ImagesReassigned
from services.episodes import EpisodeChanged
from services.jobs import JobChanged, JobFilter
from services.scenes import SceneChanged, SceneSummary, ShotProgressed, scene_heading
from studio.config import CONNECTIONS_URL
from studio.events import StudioEvent
from studio.models import Episode, Job, JobState, Project, Shot
from studio.root import Studio

PATH = "/"
# Events only mark the overview stale; it is read again at most this often.
REDRAW_SECONDS = 1.0
JOBS_LISTED = 5
# What changes the overview: a job, a scene or shot, an image arriving or decided, an episode.
WATCHED = (JobChanged, SceneChanged, ShotProgressed, ImageAdded, ImageDecided, ImagesReassigned, EpisodeChanged)


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def home_page(request: Request) -> None:
        actor = principal_of(request).name
        async with frame(studio, request, "Home", areas) as content:
            project = await project_for_page(studio, request)
            if project is not None:
                with content:
                    overview = ProjectOverview(studio, project)
                    overview.build()
                await overview.load()
                return
            summaries = await studio.projects.list()
            with content:
                if summaries:
                    _choose_project(summaries)
                else:
                    _welcome(studio, actor)


def _welcome(studio: Studio, actor: str) -> None:
    """A studio without projects: the three ways to start."""

    async def new_project() -> None:
        styles = [s.name for s in await studio.styles.list()]
        project_dialog(studio, None, styles, actor, on_saved=open_newest)

    async def open_newest() -> None:
        # The dialog says nothing of what it saved; the project just made is the newest one.
        newest = max((s.project for s in await studio.projects.list()), key=lambda p: p.id or 0, default=None)
        if newest is not None:
            ui.navigate.to(f"{PATH}?project={newest.id}")

    with ui.column().classes("w-full items-center gap-1 pt-4").mark("welcome"):
        ui.icon("movie_filter").classes("text-6xl text-deep-purple-5")
        ui.label("Welcome to Anime Studio").classes("text-2xl font-semibold")
        ui.label("Make anime on your own machines, from story to published episode. Start with one of these.").classes(
            "opacity-70 text-center"
        )
    sample = SamplePanel(studio, actor)
    with ui.grid(columns="repeat(auto-fit, minmax(260px, 1fr))").classes("w-full gap-4"):
        _start_tile(
            "auto_awesome",
            "Create sample project",
            "Two characters and a scene of four shots, animated, voiced, scored and published to the library folder: "
            "about a minute, no GPU needed. The quickest way to see the whole studio.",
            sample.start,
            "welcome-sample",
        )
        _start_tile(
            "dns",
            "Connect a GPU box",
            "Add a machine that runs ComfyUI (images and video), an LLM server, ACE-Step or FramePack. Test it, save "
            "it, and it is used at once.",
            lambda: leave_to(CONNECTIONS_URL),
            "welcome-connect",
        )
        _start_tile(
            "add",
            "New project",
            "Start your own production: its story and world, its characters, its look.",
            new_project,
            "welcome-new-project",
        )
    opened = ui.row().classes("w-full justify-center")

    async def sample_moved_on() -> None:
        state = studio.demo.state
        if state is None or state.result is None or opened.is_deleted:
            return
        address = f"{PATH}?project={state.result.project_id}"
        opened.clear()
        with opened:
            ui.button("Open the sample project", icon="arrow_forward", on_click=lambda: ui.navigate.to(address)).mark(
                "open-sample"
            )

    sample.on_project = sample_moved_on
    sample.watch()


def _start_tile(icon: str, title: str, text: str, on_click: Callable[[], Awaitable[None] | None], marker: str) -> None:
    with ui.card().classes("gap-2 items-start"):
        ui.icon(icon).classes("text-4xl text-deep-purple-5")
        ui.label(title).classes("text-lg font-semibold")
        ui.label(text).classes("text-sm opacity-80")
        ui.space()
        ui.button(title, on_click=on_click).props("no-caps").mark(marker)


def _choose_project(summaries: list[ProjectSummary]) -> None:
    """Projects exist, but this person has not opened one yet."""
    ui.label("Which project do you work on?").classes("text-xl font-semibold")
    with ui.grid(columns="repeat(auto-fill, minmax(240px, 1fr))").classes("w-full gap-3").mark("choose-project"):
        for summary in summaries:
            project = summary.project
            with (
                ui.card()
                .classes("cursor-pointer gap-1")
                .on("click", lambda p=project: ui.navigate.to(f"{PATH}?project={p.id}"))
                .mark(f"choose-project-{project.id}")
            ):
                ui.label(project.name).classes("text-lg font-semibold")
                ui.label(project.premise or project.genre or "").classes("text-sm opacity-70 line-clamp-2")


@dataclass(frozen=True)
class Overview:
    """What the home shows of a project, read in one go."""

    scenes: list[tuple[SceneSummary, list[Shot]]]
    pending_review: int
    jobs: list[Job]
    published: Episode | None


class ProjectOverview:
    """The current project at a glance; events mark it stale and a timer reads it again."""

    def __init__(self, studio: Studio, project: Project) -> None:
        self.studio, self.project = studio, project
        self.project_id: int = project.id  # type: ignore[assignment]
        self.scene_ids: set[str] = set()
        self.dirty = False

    def build(self) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            with ui.column().classes("gap-0 min-w-0"):
                ui.label(self.project.name).classes("text-2xl font-semibold").mark("overview-project")
                if self.project.premise:
                    ui.label(self.project.premise).classes("opacity-70 line-clamp-2")
            ui.space()
            ui.button("Scenes", icon="movie", on_click=lambda: leave_to(self._at("/scenes"))).props("outline no-caps")
            ui.button("Status", icon="monitor_heart", on_click=lambda: leave_to(STATUS)).props("outline no-caps").mark(
                "open-status"
            )
        self.host = ui.column().classes("w-full gap-4")
        client = ui.context.client
        for event in WATCHED:
            client.on_delete(self.studio.events.subscribe(event, self.changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    def _at(self, path: str) -> str:
        return f"{path}?project={self.project_id}"

    def changed(self, event: StudioEvent) -> None:
        if isinstance(event, ShotProgressed):
            self.dirty = self.dirty or event.scene_id in self.scene_ids
        else:
            self.dirty = self.dirty or getattr(event, "project_id", None) == self.project_id

    async def redraw(self) -> None:
        if self.dirty:
            self.dirty = False
            await self.load()

    async def read(self) -> Overview:
        summaries = await self.studio.scenes.list(self.project_id)
        scenes = [(summary, await self.studio.scenes.shots(summary.scene.id)) for summary in summaries]
        counts = await self.studio.datasets.counts(self.project_id)
        jobs = await self.studio.jobs.list(
            JobFilter(states=(JobState.RUNNING, JobState.QUEUED), project_id=self.project_id, limit=100)
        )
        published = [e for e in await self.studio.episodes.list(self.project_id) if e.published_at is not None]
        last = max(published, key=lambda e: e.published_at, default=None)  # type: ignore[arg-type, return-value]
        return Overview(scenes, counts.pending, jobs, last)

    async def load(self) -> None:
        overview = await self.read()
        if self.host.is_deleted:
            return
        self.scene_ids = {str(summary.scene.id) for summary, _ in overview.scenes}
        self.host.clear()
        with self.host:
            with ui.grid(columns="repeat(auto-fit, minmax(260px, 1fr))").classes("w-full gap-4"):
                self._review(overview.pending_review)
                self._jobs(overview.jobs)
                self._published(overview.published)
            self._shots(overview.scenes)

    # --- the sections ---------------------------------------------------------------------------------

    def _review(self, pending: int) -> None:
        with ui.card().classes("gap-2").mark("overview-review"):
            ui.label("Waiting for review").classes("text-sm opacity-70")
            ui.label(str(pending)).classes("text-3xl font-semibold").mark("overview-pending")
            ui.label("image waits" if pending == 1 else "images wait").classes("text-sm opacity-70")
            with ui.row().classes("gap-1"):
                ui.button("Review station", icon="fullscreen", on_click=lambda: leave_to(self._at("/kiosk"))).props(
                    "flat dense no-caps"
                ).set_enabled(pending > 0)
                pending_images = self._at("/datasets") + "&state=pending"
                ui.button("Datasets", icon="photo_library", on_click=lambda: leave_to(pending_images)).props(
                    "flat dense no-caps"
                )

    def _jobs(self, jobs: list[Job]) -> None:
        with ui.card().classes("gap-2").mark("overview-jobs"):
            ui.label("Jobs in flight").classes("text-sm opacity-70")
            running = sum(1 for job in jobs if job.state == JobState.RUNNING)
            ui.label(str(len(jobs))).classes("text-3xl font-semibold").mark("overview-job-count")
            ui.label(f"{running} running, {len(jobs) - running} queued").classes("text-sm opacity-70")
            for job in jobs[:JOBS_LISTED]:
                with ui.row().classes("w-full items-center no-wrap gap-2"):
                    state_chip(job)
                    ui.label(job.title or job.kind).classes("text-sm ellipsis min-w-0")
            ui.button("Jobs", icon="work_history", on_click=lambda: leave_to("/jobs")).props("flat dense no-caps")

    def _published(self, episode: Episode | None) -> None:
        with ui.card().classes("gap-2").mark("overview-published"):
            ui.label("Last published episode").classes("text-sm opacity-70")
            if episode is None:
                ui.label("Nothing published yet").classes("text-lg").mark("overview-nothing-published")
                ui.button("Episodes", icon="live_tv", on_click=lambda: leave_to(self._at("/episodes"))).props(
                    "flat dense no-caps"
                )
                return
            ui.label(f"{episode.episode_number}. {episode.title or 'untitled'}").classes("text-lg font-semibold").mark(
                "overview-episode"
            )
            ui.label(f"published {episode.published_at:%Y-%m-%d %H:%M} UTC").classes("text-sm opacity-70")
            address = self._at("/episodes") + f"&episode={episode.id}"
            ui.button("Open", icon="play_circle", on_click=lambda: leave_to(address)).props("flat dense no-caps")

    def _shots(self, scenes: list[tuple[SceneSummary, list[Shot]]]) -> None:
        with ui.card().classes("w-full gap-3").mark("overview-shots"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label("Scenes and shots").classes("text-lg font-semibold")
                ui.space()
                for color, _icon, words, meaning in SHOT_STATUS.values():
                    with ui.row().classes("items-center gap-1 no-wrap"):
                        ui.element("div").classes(f"w-3 h-3 rounded-sm bg-{color}")
                        ui.label(words).classes("text-xs opacity-80").tooltip(meaning)
            if not scenes:
                with ui.row().classes("items-center gap-2").mark("overview-no-scenes"):
                    ui.label("No scenes yet: plan them from the story or add them by hand.").classes("opacity-70")
                    ui.button("Scenes", on_click=lambda: leave_to(self._at("/scenes"))).props("flat dense no-caps")
                return
            with ui.grid(columns="minmax(120px, 240px) 1fr").classes("w-full gap-x-4 gap-y-2 items-center"):
                for summary, shots in scenes:
                    self._scene_row(summary, shots)

    def _scene_row(self, summary: SceneSummary, shots: list[Shot]) -> None:
        scene = summary.scene
        address = self._at("/scenes") + f"&scene={scene.id}"
        ui.link(scene_heading(scene), address).classes("text-sm ellipsis").mark(f"overview-scene-{scene.id}")
        with ui.row().classes("gap-1 items-center"):
            if not shots:
                ui.label("no shots yet").classes("text-xs opacity-60")
            for shot in shots:
                _shot_cell(shot, address)


def _shot_cell(shot: Shot, address: str) -> None:
    color, _icon, words, _meaning = SHOT_STATUS.get(shot.status, ("grey-5", "", shot.status, ""))
    what = f": {shot.description}" if shot.description else ""
    cell = ui.element("div").classes(f"w-7 h-7 rounded bg-{color} cursor-pointer studio-shot-cell")
    cell.props(f'data-state="{shot.status}" role="link" aria-label="Shot {shot.shot_number}, {words}"')
    cell.on("click", lambda: leave_to(address)).mark(f"overview-shot-{shot.id}")
    cell.tooltip(f"Shot {shot.shot_number} · {words}{what[:120]}")
