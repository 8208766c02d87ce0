"""Projects: every production, with create, open, edit, archive (undoable), export and import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from nicegui import events, ui
from pydantic import ValidationError
from starlette.requests import Request

from components.confirm import confirm
from components.form_errors import explain
from components.page_level import page_level
from components.project_context import CURRENT_PROJECT_KEY
from components.shell import Area, frame, principal_of, studio_page
from components.undo import offer_undo
from services.bible import ProjectSummary
from services.bible.archive import MAX_ARCHIVE_BYTES
from services.bible.schemas import ProjectChanges, ProjectDraft
from services.demo import SampleRun
from services.errors import StudioError
from studio.models import Project
from studio.root import Studio

RATINGS = ["G", "PG", "PG-13", "R", "NC-17"]
T = TypeVar("T", bound=ui.element)


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/projects")
    async def projects_page(request: Request) -> None:
        actor = principal_of(request).name
        async with frame(studio, request, "Projects", areas) as content:
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    ui.label("Productions").classes("text-xl font-semibold")
                    ui.space()
                    archived = ui.switch("Show archived").props('data-testid="show-archived"')
                    ui.button("Import archive", icon="upload_file", on_click=lambda: import_dialog.open()).props(
                        "outline"
                    )
                    ui.button("New project", icon="add", on_click=lambda: open_editor(None)).mark("new-project")
                sample = SamplePanel(studio, actor)
                grid = ui.element("div").classes("w-full")
                # Handlers run in the context of a card's button; cards are rebuilt, so dialogs and the
                # undo bar are opened from here instead.
                anchor = ui.element("div")

            async def refresh() -> None:
                summaries = await studio.projects.list(include_archived=archived.value)
                grid.clear()
                with grid:
                    if not summaries:
                        _empty_state(lambda: open_editor(None), sample.start, sample.running)
                        return
                    with ui.grid(columns="repeat(auto-fill, minmax(320px, 1fr))").classes("w-full gap-4"):
                        for summary in summaries:
                            _project_card(summary, open_project, open_editor, archive, restore)

            async def open_project(project: Project, path: str) -> None:
                await studio.preferences.set(actor, CURRENT_PROJECT_KEY, project.id)
                ui.navigate.to(f"{path}?project={project.id}")

            async def archive(project: Project) -> None:
                message = "It disappears from the lists; nothing is deleted and you can restore it any time."
                with anchor:
                    if not await confirm(f"Archive '{project.name}'?", message, "Archive"):
                        return
                await studio.projects.archive(project.id, actor)  # type: ignore[arg-type]
                await refresh()
                with anchor:
                    offer_undo(f"'{project.name}' archived", lambda: restore(project))

            async def restore(project: Project) -> None:
                await studio.projects.restore(project.id, actor)  # type: ignore[arg-type]
                with anchor:
                    ui.notify(f"'{project.name}' restored", type="positive")
                await refresh()

            async def open_editor(project: Project | None) -> None:
                styles = [s.name for s in await studio.styles.list()]
                with anchor:
                    _project_dialog(studio, project, styles, actor, on_saved=refresh)

            async def imported(event: events.UploadEventArguments) -> None:
                try:
                    report = await studio.archives.import_archive(event.file.iterate(), actor)
                except StudioError as exc:
                    ui.notify(
                        f"{event.file.name}: {exc}", type="negative", multi_line=True, timeout=0, close_button=True
                    )
                    return
                finally:
                    uploader.reset()
                import_dialog.close()
                renamed = f" as '{report.project.name}' (the name was taken)" if report.renamed_from else ""
                kept = report.styles_kept + report.library_kept
                note = f"; kept this studio's own {', '.join(kept)}" if kept else ""
                ui.notify(
                    f"Imported '{report.renamed_from or report.project.name}'{renamed}{note}",
                    type="positive",
                    multi_line=True,
                )
                await refresh()

            with ui.dialog() as import_dialog, ui.card().classes("w-96"):
                ui.label("Import a project").classes("text-lg font-semibold")
                ui.label("Choose a .bible.zip exported from this or another studio.").classes("opacity-80")
                uploader = (
                    ui.upload(
                        on_upload=imported, auto_upload=True, max_file_size=MAX_ARCHIVE_BYTES, label="Project archive"
                    )
                    .props('accept=".zip,application/zip"')
                    .classes("w-full")
                )
                ui.button("Close", on_click=import_dialog.close).props("flat")

            archived.on_value_change(refresh)
            sample.on_project = refresh
            await refresh()
            sample.watch()


class SamplePanel:
    """The sample production's progress, read from `studio.demo` (so it survives a reload): a bar and the step,
    then a link to the published episode, or the error."""

    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio = studio
        self.actor = actor
        self.on_project: Callable[[], Awaitable[None]] | None = None  # the project list to refresh
        self.shown: SampleRun | None = None
        self.layout: tuple[float, str] | None = None  # (which run, running/failed/done) the card shows
        self.dismissed: float | None = None  # the run whose outcome was closed
        self.bar: ui.linear_progress | None = None
        self.step: ui.label | None = None
        self.card = _tagged(ui.card().classes("w-full gap-2"), "sample-panel")
        self.card.set_visibility(False)
        self.timer_slot = ui.element("div")

    def watch(self) -> None:
        """Follow the sample production: a timer reads its state twice a second."""
        with self.timer_slot:
            ui.timer(0.5, self.tick)

    @property
    def running(self) -> bool:
        state = self.studio.demo.state
        return state is not None and state.running

    async def start(self) -> None:
        try:
            self.studio.demo.start(self.actor)
        except StudioError as exc:
            ui.notify(str(exc), type="warning")
        await self.tick()

    async def tick(self) -> None:
        state = self.studio.demo.state
        if state is self.shown:
            return
        before, self.shown = self.shown, state
        self.show(state)
        project_appeared = state is not None and state.project_id and (before is None or not before.project_id)
        finished = before is not None and before.running and state is not None and not state.running
        if (project_appeared or finished) and self.on_project is not None:
            await self.on_project()

    def show(self, state: SampleRun | None) -> None:
        """Move the bar and change the step text in place; rebuild the card when the run starts or ends."""
        if state is None or state.started_at == self.dismissed:
            self.card.set_visibility(False)
            return
        layout = (state.started_at, "running" if state.running else ("failed" if state.error else "done"))
        if layout != self.layout:
            self.layout = layout
            self.build(state)
        elif self.bar is not None and self.step is not None:
            self.bar.value = state.fraction
            self.step.text = state.message
        self.card.set_visibility(True)

    def build(self, state: SampleRun) -> None:
        self.card.clear()
        self.step = None
        with self.card:
            with ui.row().classes("w-full items-center no-wrap"):
                title = "Making the sample project" if state.running else "The sample project"
                ui.label(title).classes("text-lg font-semibold")
                ui.space()
                if not state.running:
                    ui.button(icon="close", on_click=lambda: self.dismiss(state)).props("flat dense round")
            self.bar = ui.linear_progress(value=state.fraction, show_value=False).props("rounded size=10px")
            _tagged(self.bar, "sample-progress")
            if state.error:
                self.bar.props("color=negative")
                _tagged(ui.label(f"It failed: {state.error}").classes("text-negative"), "sample-error")
                ui.button("Try again", icon="replay", on_click=self.start).props("outline")
            elif state.result is None:
                self.step = _tagged(ui.label(state.message).classes("opacity-80"), "sample-step")
            else:
                result = state.result
                episode = f"/episodes?project={result.project_id}&episode={result.episode_id}"
                _tagged(ui.label(f"Episode 1 of '{result.project_name}' is made and published."), "sample-done")
                _tagged(ui.link("Watch episode 1", episode).classes("text-lg"), "sample-episode-link")
                published = ui.label(f"Published to {result.episode_file}").classes("text-sm opacity-80 break-all")
                _tagged(published, "sample-published")
                ui.label(
                    f"The library folder is {result.library_root}: point a media server such as Jellyfin at it. "
                    f"Made in {result.seconds:.0f} s."
                ).classes("text-xs opacity-70")

    def dismiss(self, state: SampleRun) -> None:
        self.dismissed = state.started_at
        self.card.set_visibility(False)


def _tagged(element: T, name: str) -> T:
    """Findable by tests: a marker for the simulated user, a data-testid for the browser."""
    element.mark(name)
    element.props(f'data-testid="{name}"')
    return element


def _empty_state(on_new, on_sample, sample_running: bool) -> None:
    with ui.card().classes("w-full items-center gap-2 p-10"):
        ui.icon("movie_filter").classes("text-6xl opacity-50")
        ui.label("No projects yet").classes("text-xl")
        ui.label("A project holds a production's story, world, styles and characters.").classes("opacity-70")
        with ui.row().classes("gap-2"):
            ui.button("Create your first project", icon="add", on_click=on_new)
            sample = ui.button("Create sample project", icon="auto_awesome", on_click=on_sample).props("outline")
            _tagged(sample, "create-sample").set_enabled(not sample_running)
        ui.label(
            "The sample draws two characters and a scene of four shots, animates, voices and scores it, and "
            "publishes episode 1 to the library folder, in about a minute without a GPU."
        ).classes("text-sm opacity-70 text-center")


def _project_card(summary: ProjectSummary, open_project, open_editor, archive, restore) -> None:
    project = summary.project
    with (
        ui.card()
        .classes("gap-2" + (" opacity-60" if project.archived_at else ""))
        .props(f'data-testid="project-{project.id}"')
    ):
        with ui.row().classes("w-full items-start no-wrap"):
            with ui.column().classes("gap-0"):
                ui.label(project.name).classes("text-lg font-semibold")
                details = " · ".join(p for p in (project.genre, project.content_rating) if p)
                ui.label(details).classes("text-sm opacity-70")
            ui.space()
            if project.archived_at:
                ui.badge("archived", color="grey")
        if project.premise:
            ui.label(project.premise).classes("text-sm line-clamp-3")
        counts = f"{summary.characters} character" + ("" if summary.characters == 1 else "s")
        style = f" · style {project.default_style}" if project.default_style else " · no default style yet"
        ui.label(counts + style).classes("text-xs opacity-70")
        with ui.row().classes("gap-1"):
            if project.archived_at:
                ui.button("Restore", icon="unarchive", on_click=lambda: restore(project)).props("flat dense")
                return
            ui.button("Story & World", on_click=lambda: open_project(project, "/story")).props("flat dense")
            ui.button("Characters", on_click=lambda: open_project(project, "/characters")).props("flat dense")
            ui.space()
            with ui.button(icon="more_vert").props("flat dense round").mark(f"project-menu-{project.id}"):
                with ui.menu():
                    ui.menu_item("Edit details", on_click=lambda: open_editor(project))
                    ui.menu_item(
                        "Export archive",
                        on_click=lambda: ui.download.from_url(f"/api/projects/{project.id}/export"),
                    )
                    ui.menu_item("Archive", on_click=lambda: archive(project)).mark(f"archive-{project.id}")


def _project_dialog(studio: Studio, project: Project | None, styles: list[str], actor: str, on_saved) -> None:
    with page_level(), ui.dialog() as dialog, ui.card().classes("w-[36rem] gap-2"):
        ui.label("New project" if project is None else f"Edit '{project.name}'").classes("text-lg font-semibold")
        name = ui.input("Name", value=project.name if project else "").classes("w-full").mark("project-name")
        with ui.row().classes("w-full no-wrap"):
            genre = ui.input("Genre", value=project.genre if project else "").classes("flex-grow")
            rating = ui.select(RATINGS, value=project.content_rating if project else "PG-13", label="Rating")
        premise = ui.textarea("Premise", value=project.premise if project else "").classes("w-full")
        description = ui.textarea("Description", value=project.description if project else "").classes("w-full")
        default_style = ui.select(
            {"": "(none yet)", **{s: s for s in styles}},
            value=(project.default_style or "") if project else "",
            label="Default generation style",
        ).classes("w-full")
        with ui.row().classes("w-full no-wrap"):
            width = ui.number("Frame width", value=project.frame_width if project else 1280, step=2, format="%d")
            height = ui.number("Frame height", value=project.frame_height if project else 720, step=2, format="%d")
            fps = ui.number("Frames per second", value=project.frame_rate if project else 24.0, step=1)
        error = ui.label().classes("text-negative")

        async def save() -> None:
            values = {
                "name": name.value,
                "genre": genre.value,
                "content_rating": rating.value,
                "premise": premise.value,
                "description": description.value,
                "default_style": default_style.value or None,
                "frame_width": int(width.value or 0),
                "frame_height": int(height.value or 0),
                "frame_rate": float(fps.value or 0),
            }
            try:
                if project is None:
                    saved = await studio.projects.create(ProjectDraft(**values), actor)
                else:
                    saved = await studio.projects.update(project.id, ProjectChanges(**values), actor)  # type: ignore[arg-type]
            except (ValidationError, StudioError) as exc:
                error.text = explain(exc)
                return
            dialog.close()
            ui.notify(f"'{saved.name}' saved", type="positive")
            await on_saved()

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Create" if project is None else "Save", on_click=save).mark("save-project")
    dialog.open()
