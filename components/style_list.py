"""The generation styles table: which is the project's default, make default, create, edit, copy, delete."""

from __future__ import annotations

from typing import Literal

from nicegui import ui

from components.confirm import confirm
from components.story_widgets import cell, marker_name, markup_table
from components.style_editor import open_style_editor, profile_line
from components.undo import offer_undo
from services.bible.schemas import ProjectChanges, StyleDraft
from services.errors import StudioError
from services.prompts import match_profile
from studio.models import GenerationStyle, Project
from studio.root import Studio

HEADERS = ("", "Name", "Checkpoint", "Model profile", "Size", "CFG", "Steps", "Sampler", "")


def draft_of(style: GenerationStyle) -> StyleDraft:
    return StyleDraft(**{name: getattr(style, name) for name in StyleDraft.model_fields})


class StyleList:
    """Every generation style of the studio, seen from one project (whose default is starred)."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio = studio
        self.project = project
        self.actor = actor
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(
                "Styles are shared by all projects. The project's default style is used for new characters "
                "and scenes unless they name another."
            ).classes("text-sm opacity-70")
            ui.space()
            ui.button("New style", icon="add", on_click=lambda: self.edit(None)).props("unelevated").classes(
                "shrink-0"
            ).mark("style-new")
        self.container = ui.column().classes("w-full gap-2")
        # Dialogs and the undo bar live here, outside the list that is rebuilt on every change.
        self.anchor = ui.element("div")

    async def refresh(self) -> None:
        styles = await self.studio.styles.list()
        profiles = await self.studio.library.model_profiles()
        self.project = await self.studio.projects.get(self.project.id)  # type: ignore[arg-type]
        if self.container.is_deleted:
            return
        self.container.clear()
        with self.container:
            if not styles:
                with ui.row().classes("items-center gap-2 opacity-70 p-4"):
                    ui.icon("palette")
                    ui.label("No generation styles yet. Create one to tell ComfyUI how to draw this project.")
                return
            if self.project.default_style is None:
                ui.label("This project has no default style yet: pick one with 'Make default'.").classes(
                    "text-sm text-warning"
                ).mark("style-no-default")
            with markup_table(HEADERS, "style-table"):
                for style in styles:
                    try:
                        profile = profile_line(match_profile(style.checkpoint_model, profiles)[0])
                    except ValueError:
                        profile = "no matching profile"
                    self._row(style, profile)

    def _row(self, style: GenerationStyle, profile: str) -> None:
        is_default = style.name == self.project.default_style
        with ui.element("tr").mark(f"style-row-{marker_name(style.name)}"):
            with cell(classes="w-8"):
                if is_default:
                    ui.icon("star", color="amber").tooltip("This project's default style").mark(
                        f"style-default-{marker_name(style.name)}"
                    )
            with cell(classes="whitespace-nowrap"), ui.row().classes("items-center gap-1 no-wrap"):
                ui.label(style.name).classes("font-medium")
                if is_default:
                    ui.badge("default", color="amber").props("outline")
            with cell(style.checkpoint_model, "break-all"):
                if style.vae:
                    ui.label(f"VAE {style.vae}").classes("text-xs opacity-70").mark(
                        f"style-vae-{marker_name(style.name)}"
                    )
            cell(profile, "text-xs")
            cell(f"{style.width} x {style.height}", "whitespace-nowrap")
            cell(f"{style.cfg_scale:g}")
            cell(str(style.steps))
            cell(style.sampler + (f" / {style.scheduler}" if style.scheduler else ""))
            with cell(classes="text-right whitespace-nowrap"):
                if not is_default:
                    ui.button("Make default", on_click=lambda s=style: self.make_default(s)).props(
                        "flat dense no-caps size=sm"
                    ).mark(f"style-make-default-{marker_name(style.name)}")
                ui.button(icon="edit", on_click=lambda s=style: self.edit(s)).props("flat dense round size=sm").tooltip(
                    "Edit"
                ).mark(f"style-edit-{marker_name(style.name)}")
                ui.button(icon="content_copy", on_click=lambda s=style: self.copy(s)).props(
                    "flat dense round size=sm"
                ).tooltip("Copy into a new style").mark(f"style-copy-{marker_name(style.name)}")
                ui.button(icon="delete", on_click=lambda s=style: self.delete(s)).props(
                    "flat dense round size=sm color=negative"
                ).tooltip("Delete").mark(f"style-delete-{marker_name(style.name)}")

    def tell(self, message: str, kind: Literal["positive", "negative"]) -> None:
        # The clicked row is usually rebuilt by then (the change's own event refreshes the list), and a
        # notification sent from a removed element raises instead of showing: send it from the anchor.
        with self.anchor:
            ui.notify(message, type=kind, multi_line=True)

    async def ask(self, title: str, message: str, action: str) -> bool:
        with self.anchor:
            return await confirm(title, message, action)

    async def saved(self, _name: str) -> None:
        await self.refresh()

    async def edit(self, style: GenerationStyle | None) -> None:
        with self.anchor:
            await open_style_editor(self.studio, self.actor, self.saved, style=style)

    async def copy(self, style: GenerationStyle) -> None:
        template = style.model_copy(update={"name": f"{style.name} copy"})
        with self.anchor:
            await open_style_editor(self.studio, self.actor, self.saved, template=template)

    async def make_default(self, style: GenerationStyle) -> None:
        try:
            await self.studio.projects.update(
                self.project.id,  # type: ignore[arg-type]
                ProjectChanges(default_style=style.name),
                self.actor,
            )
        except StudioError as exc:
            self.tell(str(exc), "negative")
            return
        self.tell(f"'{style.name}' is now the default style of {self.project.name}", "positive")
        await self.refresh()

    async def delete(self, style: GenerationStyle) -> None:
        if not await self.ask(
            f"Delete style '{style.name}'?", "Characters and scenes that name it will need another style.", "Delete"
        ):
            return
        try:
            await self.studio.styles.delete(style.name, self.actor)
        except StudioError as exc:
            self.tell(f"Not deleted: {exc}", "negative")
            return
        await self.refresh()
        draft = draft_of(style)

        async def undo() -> None:
            await self.studio.styles.create(draft, self.actor)
            await self.refresh()

        with self.anchor:
            offer_undo(f"Style '{style.name}' deleted", undo)
