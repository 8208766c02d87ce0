"""The project details dialog (new project, or edit one), shared by Home and Projects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.page_level import page_level
from services.bible.schemas import ProjectChanges, ProjectDraft
from services.errors import StudioError
from studio.models import Project
from studio.root import Studio

RATINGS = ["G", "PG", "PG-13", "R", "NC-17"]


def project_dialog(
    studio: Studio,
    project: Project | None,
    styles: list[str],
    actor: str,
    on_saved: Callable[[], Awaitable[None]],
) -> None:
    """Open the dialog; `on_saved` runs after the project was created or changed."""
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
