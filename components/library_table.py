"""The shared table behind model profiles and species rules: built-ins resettable, customs deletable with undo."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Sequence
from typing import Any

from nicegui import ui
from pydantic import BaseModel

from components.confirm import confirm
from components.story_widgets import cell, marker_name, markup_table
from components.undo import offer_undo
from services.errors import StudioError
from studio.root import Studio


class LibraryTable(ABC):
    """One row per library entry; subclasses say what the entries are and how to edit them."""

    noun: str  # "profile", "rule": in markers, buttons and messages
    entity: str  # "model_profile", "species_rule": for PromptLibrary.reset_builtin
    headers: Sequence[str]
    explanation: str
    reset_message: str
    delete_message: str

    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio = studio
        self.actor = actor
        with ui.row().classes("w-full items-center gap-3 no-wrap"):
            ui.label(self.explanation).classes("text-sm opacity-70 grow min-w-0").mark(f"{self.noun}s-explained")
            ui.button(f"New {self.noun}", icon="add", on_click=lambda: self.edit(None)).props("unelevated").classes(
                "shrink-0"
            ).mark(f"{self.noun}-new")
        self.container = ui.column().classes("w-full")
        # Dialogs and the undo bar live here, outside the list that is rebuilt on every change.
        self.anchor = ui.element("div")

    # --- what a subclass provides ----------------------------------------------------------------

    @abstractmethod
    async def load(self) -> list[Any]: ...

    @abstractmethod
    def cells(self, row: Any) -> None:
        """The row's cells before the action buttons."""

    @abstractmethod
    def open_editor(self, row: Any | None) -> None: ...

    @abstractmethod
    def draft(self, row: Any) -> BaseModel:
        """The row as the draft that recreates it (used by Undo after a delete)."""

    @abstractmethod
    def save(self, draft: BaseModel) -> Awaitable[object]: ...

    @abstractmethod
    def remove(self, name: str) -> Awaitable[None]: ...

    # --- shared behaviour --------------------------------------------------------------------------

    async def refresh(self) -> None:
        rows = await self.load()
        if self.container.is_deleted:
            return
        self.container.clear()
        with self.container, markup_table(self.headers, f"{self.noun}-table"):
            for row in rows:
                with ui.element("tr").mark(f"{self.noun}-row-{marker_name(row.name)}"):
                    self.cells(row)
                    with cell(classes="text-right whitespace-nowrap"):
                        self._actions(row)

    def _actions(self, row: Any) -> None:
        key = marker_name(row.name)
        ui.button(icon="edit", on_click=lambda r=row: self.edit(r)).props("flat dense round size=sm").tooltip(
            "Edit"
        ).mark(f"{self.noun}-edit-{key}")
        if row.builtin:
            ui.button(icon="restart_alt", on_click=lambda r=row: self.reset(r)).props(
                "flat dense round size=sm"
            ).tooltip("Reset to built-in").mark(f"{self.noun}-reset-{key}")
        else:
            ui.button(icon="delete", on_click=lambda r=row: self.delete(r)).props(
                "flat dense round size=sm color=negative"
            ).tooltip("Delete").mark(f"{self.noun}-delete-{key}")

    def edit(self, row: Any | None) -> None:
        with self.anchor:
            self.open_editor(row)

    async def ask(self, title: str, message: str, action: str) -> bool:
        with self.anchor:
            return await confirm(title, message, action)

    async def reset(self, row: Any) -> None:
        if await self.ask(f"Reset '{row.name}' to built-in?", self.reset_message, "Reset"):
            await self._act(self.studio.library.reset_builtin(self.entity, row.name, self.actor), "reset")

    async def delete(self, row: Any) -> None:
        if not await self.ask(f"Delete {self.noun} '{row.name}'?", self.delete_message, "Delete"):
            return
        draft = self.draft(row)
        if await self._act(self.remove(row.name), "deleted"):

            async def undo() -> None:
                await self.save(draft)
                await self.refresh()

            with self.anchor:
                offer_undo(f"{self.noun.capitalize()} '{row.name}' deleted", undo)

    async def _act(self, action: Awaitable[None], done: str) -> bool:
        try:
            await action
        except StudioError as exc:
            ui.notify(f"Not {done}: {exc}", type="negative", multi_line=True)
            return False
        ui.notify(f"{self.noun.capitalize()} {done}", type="positive")
        await self.refresh()
        return True
