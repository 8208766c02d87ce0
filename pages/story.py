"""Story & World: a project's storyline and world, the generation styles and the prompt library."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.library_profiles import ProfileList
from components.library_rules import RuleList
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.story_forms import StorylineForm, WorldForm
from components.style_list import StyleList
from services.bible import BibleChanged
from studio.root import Studio

# (tab name, label, icon)
TABS = (
    ("storyline", "Storyline", "auto_stories"),
    ("world", "World", "public"),
    ("styles", "Generation styles", "palette"),
    ("profiles", "Model profiles", "memory"),
    ("rules", "Species rules", "pets"),
)


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/story")
    async def story_page(request: Request) -> None:
        actor = principal_of(request).name
        async with frame(studio, request, "Story & World", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3"):
                    await project_picker(studio, project, "/story")
                    if project is not None:
                        ui.label(project.name).classes("text-xl font-semibold").mark("story-project-name")
                        if project.genre:
                            ui.chip(project.genre).props("outline dense")
                if project is None:
                    no_project_yet()
                    return
                assert project.id is not None
                storyline = await studio.projects.storyline(project.id)
                world = await studio.projects.world(project.id)

                wanted = request.query_params.get("tab", "storyline")
                opened = wanted if wanted in {t[0] for t in TABS} else "storyline"
                tabs = ui.tabs(
                    value=opened,
                    # The address keeps the open tab, so a reload or a shared link shows the same section.
                    on_change=lambda e: ui.navigate.history.replace(f"/story?project={project.id}&tab={e.value}"),
                )
                tabs.classes("w-full").props("align=left dense inline-label no-caps")
                with tabs:
                    for name, label, icon in TABS:
                        ui.tab(name, label, icon).mark(f"tab-{name}")
                with ui.tab_panels(tabs, value=opened, animated=False).classes("w-full bg-transparent"):
                    with ui.tab_panel("storyline").classes("p-0 pt-2"):
                        StorylineForm(studio, project.id, actor, storyline)
                    with ui.tab_panel("world").classes("p-0 pt-2"):
                        WorldForm(studio, project.id, actor, world)
                    with ui.tab_panel("styles").classes("p-0 pt-2 gap-2"):
                        styles = StyleList(studio, project, actor)
                    with ui.tab_panel("profiles").classes("p-0 pt-2 gap-2"):
                        profiles = ProfileList(studio, actor)
                    with ui.tab_panel("rules").classes("p-0 pt-2 gap-2"):
                        rules = RuleList(studio, actor)
            await styles.refresh()
            await profiles.refresh()
            await rules.refresh()

            async def changed_elsewhere(event: BibleChanged) -> None:
                # Lists follow changes from other tabs and the API; the forms keep what the user is typing.
                if event.entity in ("style", "model_profile") or (
                    event.entity == "project" and event.project_id == project.id
                ):
                    await styles.refresh()
                if event.entity == "model_profile":
                    await profiles.refresh()
                if event.entity == "species_rule":
                    await rules.refresh()

            unsubscribe = studio.events.subscribe(BibleChanged, changed_elsewhere)
            ui.context.client.on_delete(unsubscribe)
