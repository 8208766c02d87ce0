"""Projects: every production, with create, open, edit, archive (undoable), export and import."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import events, ui
from starlette.requests import Request

from components.confirm import confirm
from components.project_context import CURRENT_PROJECT_KEY
from components.project_dialog import project_dialog
from components.sample_panel import SamplePanel, tagged
from components.shell import Area, frame, principal_of, studio_page
from components.undo import offer_undo
from services.bible import ProjectSummary
from services.bible.archive import MAX_ARCHIVE_BYTES
from services.errors import StudioError
from studio.models import Project
from studio.root import Studio


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
                    project_dialog(studio, project, styles, actor, on_saved=refresh)

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


def _empty_state(on_new, on_sample, sample_running: bool) -> None:
    with ui.card().classes("w-full items-center gap-2 p-10"):
        ui.icon("movie_filter").classes("text-6xl opacity-50")
        ui.label("No projects yet").classes("text-xl")
        ui.label("A project holds a production's story, world, styles and characters.").classes("opacity-70")
        with ui.row().classes("gap-2"):
            ui.button("Create your first project", icon="add", on_click=on_new)
            sample = ui.button("Create sample project", icon="auto_awesome", on_click=on_sample).props("outline")
            tagged(sample, "create-sample").set_enabled(not sample_running)
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
