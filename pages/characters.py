"""Characters: the project's cast, their design and references, and the exact prompts they produce."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import background_tasks, ui
from pydantic import ValidationError
from starlette.requests import Request

from components.character_card import character_card
from components.character_editor import EDITOR_CSS, open_character_editor
from components.character_references import problem_text
from components.confirm import confirm, throwaway_dialog
from components.form_errors import explain
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.undo import offer_undo
from services.bible.characters import CharacterCard
from services.bible.events import BibleChanged
from services.bible.schemas import CharacterChanges, CharacterDraft
from services.errors import Conflict, Invalid, NotFound
from studio.models import Character, Project
from studio.root import Studio

STATUSES = {"active": "Active", "deleted": "Deleted"}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/characters")
    async def characters_page(request: Request) -> None:
        async with frame(studio, request, "Characters", areas) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3") as top:
                    await project_picker(studio, project, "/characters")
                    ui.space()
                if project is None:
                    no_project_yet()
                    return
                view = CastView(studio, project, principal_of(request).name, content)
                view.build(top)
            await view.reload()
            # ?character=ID opens that character's editor: the assistant's sources link here.
            wanted = request.query_params.get("character", "")
            if wanted.isdigit():
                await view.edit_by_id(int(wanted))


class CastView:
    """Filters, the card grid, and the dialogs that create, edit, delete and restore characters."""

    def __init__(self, studio: Studio, project: Project, actor: str, host: ui.column) -> None:
        self.studio, self.project, self.actor, self.host = studio, project, actor, host
        self.latest = 0  # a reload started later wins over one that finishes later

    def build(self, top: ui.row) -> None:
        with top:
            ui.button("New character", icon="person_add", on_click=self.new_character).mark("new-character")
        ui.add_css(EDITOR_CSS)
        if self.project.archived_at is not None:
            ui.label(
                f"{self.project.name} is archived: restore it on the Projects page before adding characters."
            ).classes("text-warning").mark("archived-project")
        with ui.row().classes("w-full items-end gap-3"):
            self.search = (
                ui.input("Search names", on_change=self.reload)
                .props("outlined dense clearable debounce=250")
                .classes("w-56")
                .mark("name-search")
            )
            self.species = (
                ui.input("Species contains", on_change=self.reload)
                .props("outlined dense clearable debounce=250")
                .classes("w-56")
                .mark("species-filter")
            )
            self.status = ui.toggle(STATUSES, value="active", on_change=self.reload).mark("status-filter")
            ui.space()
            self.count = ui.label().classes("opacity-70").mark("character-count")
        self.grid_host = ui.column().classes("w-full")
        with self.grid_host:
            self.grid([])
        unsubscribe = self.studio.events.subscribe(BibleChanged, self.changed_elsewhere)
        ui.context.client.on_delete(unsubscribe)

    # --- the grid -----------------------------------------------------------------------------------

    async def reload(self) -> None:
        self.latest += 1
        mine = self.latest
        deleted = self.status.value == "deleted"
        try:
            cards = await self.studio.characters.cards(
                self.project.id,  # type: ignore[arg-type]
                species=(self.species.value or "").strip() or None,
                include_deleted=deleted,
            )
        except NotFound:
            cards = []
        if mine != self.latest or self.grid_host.is_deleted:
            return
        cards = [c for c in cards if (c.character.deleted_at is not None) == deleted]
        needle = (self.search.value or "").strip().lower()
        if needle:
            cards = [c for c in cards if needle in c.character.name.lower()]
        await self.grid.refresh(cards)

    def refresh_soon(self) -> None:
        background_tasks.create(self.reload(), name="characters grid")

    async def changed_elsewhere(self, event: BibleChanged) -> None:
        """Another tab or an API client changed this project's cast: show it."""
        if event.project_id == self.project.id and event.entity in ("character", "reference"):
            self.refresh_soon()

    @ui.refreshable_method
    def grid(self, cards: list[CharacterCard]) -> None:
        filtered = bool((self.search.value or "").strip() or (self.species.value or "").strip())
        deleted = self.status.value == "deleted"
        noun = "character" if len(cards) == 1 else "characters"
        self.count.text = f"{len(cards)} {'deleted ' if deleted else ''}{noun}"
        if not cards:
            with ui.card().classes("w-full items-center gap-2 p-8").mark("no-characters"):
                ui.icon("face").classes("text-5xl opacity-60")
                if filtered:
                    ui.label("No character matches these filters.").classes("text-lg")
                elif deleted:
                    ui.label("No deleted characters.").classes("text-lg")
                else:
                    ui.label(f"{self.project.name} has no characters yet.").classes("text-lg")
                    ui.button("New character", icon="person_add", on_click=self.new_character)
            return
        with ui.grid(columns="repeat(auto-fill, minmax(240px, 1fr))").classes("w-full gap-4"):
            for card in cards:
                character = card.character
                character_card(
                    card,
                    on_edit=lambda c=character: self.edit(c),
                    on_delete=lambda c=character: self.delete(c),
                    on_restore=lambda c=character: self.restore(c),
                )

    # --- actions ------------------------------------------------------------------------------------

    def new_character(self) -> None:
        with self.host, throwaway_dialog() as dialog, ui.card().classes("w-[560px] max-w-full gap-3"):
            ui.label("New character").classes("text-xl font-semibold")
            name = ui.input("Name").classes("w-full").props("outlined dense autofocus").mark("new-name")
            design = (
                ui.textarea("Design prompt")
                .classes("w-full")
                .props('outlined autogrow hint="How the character looks; you can refine it later"')
                .mark("new-design")
            )
            problems = ui.column().classes("gap-1")

            async def create() -> None:
                problems.clear()
                try:
                    draft = CharacterDraft(name=name.value or "", design_prompt=design.value or "")
                    character = await self.studio.characters.create(self.project.id, draft, self.actor)  # type: ignore[arg-type]
                except ValidationError as exc:
                    lines = explain(exc).split("\n")
                except (Conflict, Invalid, NotFound) as exc:
                    lines = [problem_text(exc)]
                else:
                    ui.notify(f"{character.name} created", type="positive")
                    dialog.close()
                    await self.reload()
                    return
                with problems:
                    for line in lines:
                        ui.label(line).classes("text-negative text-sm").mark("new-problem")

            name.on("keydown.enter", create)
            with ui.row().classes("w-full justify-end"):
                ui.button("Cancel", on_click=dialog.close).props("flat")
                ui.button("Create", icon="person_add", on_click=create).mark("create-character")
        dialog.open()

    async def edit(self, character: Character) -> None:
        await self.edit_by_id(character.id)  # type: ignore[arg-type]

    async def edit_by_id(self, character_id: int) -> None:
        try:
            fresh = await self.studio.characters.get(character_id)
        except NotFound:
            await self.reload()
            return
        if fresh.project_id != self.project.id:
            return
        with self.host:
            await open_character_editor(self.studio, self.project, fresh, self.actor, self.refresh_soon)

    async def delete(self, character: Character) -> None:
        with self.host:
            sure = await confirm(
                f"Delete {character.name}?",
                "It disappears from the cast; Undo, or the Deleted filter, brings it back with everything it had.",
                "Delete",
            )
        if not sure:
            return
        try:
            await self.studio.characters.delete(character.id, self.actor)  # type: ignore[arg-type]
        except NotFound:
            pass
        await self.reload()

        async def undo() -> None:
            await self.restore(character)

        with self.host:
            offer_undo(f"{character.name} deleted", undo)

    async def restore(self, character: Character) -> None:
        try:
            await self.studio.characters.update(character.id, CharacterChanges(deleted=False), self.actor)  # type: ignore[arg-type]
        except (NotFound, Conflict) as exc:
            with self.host:
                ui.notify(str(exc), type="negative")
        await self.reload()
