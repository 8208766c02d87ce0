"""Which project a page works on: `?project=ID`, else the user's last one, else none yet."""

from __future__ import annotations

from nicegui import events, ui
from starlette.requests import Request

from components.principal import principal_of
from components.unsaved import leave_to
from services.errors import NotFound
from studio.models import Project
from studio.root import Studio

CURRENT_PROJECT_KEY = "current_project"


async def project_for_page(studio: Studio, request: Request) -> Project | None:
    """The project named in the address (remembered for next time), or the remembered one."""
    principal = principal_of(request)
    wanted = request.query_params.get("project")
    if wanted and wanted.isdigit():
        try:
            project = await studio.projects.get(int(wanted))
        except NotFound:
            return None
        # Following a link is not choosing a setting: remembered, not audited.
        await studio.preferences.set(principal.name, CURRENT_PROJECT_KEY, project.id, announce=False)
        return project
    remembered = await studio.preferences.get(principal.name, CURRENT_PROJECT_KEY)
    if isinstance(remembered, int):
        try:
            project = await studio.projects.get(remembered)
        except NotFound:
            return None
        return None if project.archived_at else project
    return None


async def project_picker(studio: Studio, current: Project | None, path: str) -> None:
    """A select of active projects that reopens `path` for the chosen one."""
    picker = await project_switcher(studio, current, path, label="Project")
    picker.classes("w-64").props('outlined dense data-testid="project-picker"').mark("project-picker")


async def project_switcher(studio: Studio, current: Project | None, path: str, *, label: str) -> ui.select:
    """A select of active projects (and `current`, even archived) that reopens `path` for the chosen one."""
    options = {s.project.id: s.project.name for s in await studio.projects.list()}
    if current is not None and current.id not in options:
        options[current.id] = f"{current.name} (archived)"

    async def switch(event: events.ValueChangeEventArguments) -> None:
        if not event.value or (current is not None and event.value == current.id):
            return
        await leave_to(f"{path}?project={event.value}")
        # Still here: the person kept their unsaved edits, so the picker shows the project they are in again.
        picker.set_value(current.id if current else None)

    picker = ui.select(options, value=current.id if current else None, label=label, on_change=switch)
    return picker


def no_project_yet() -> None:
    """What a project page shows before any project exists or is chosen."""
    with ui.card().classes("w-full items-center gap-2 p-8"):
        ui.icon("movie_filter").classes("text-5xl opacity-60")
        ui.label("Choose a project first").classes("text-lg")
        ui.button("Go to Projects", on_click=lambda: ui.navigate.to("/projects"))
