"""The Datasets toolbar's tag buttons: "Tag…" (start a tagging job from one of the sources, on the selection or
the whole character), bulk tag edits, and the character's caption rules. They act on the character the grid
shows, so they wait until one is chosen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.form_errors import explain
from components.tag_bulk import bulk_edit_tags
from components.tag_settings import open_tag_settings
from services.errors import Invalid, NotFound
from services.tags.tagging import SourceState
from studio.models import Character
from studio.root import Studio

NO_CHARACTER = "Choose a character first: tags belong to one character's dataset"


class TagTools:
    """`character` and `selection` read the page's current ones; `changed` redraws after tags changed."""

    def __init__(
        self,
        studio: Studio,
        actor: str,
        character: Callable[[], Character | None],
        selection: Callable[[], list[int]],
        suggestions: Callable[[], list[str]],
        changed: Callable[[], Awaitable[None]],
    ) -> None:
        self.studio, self.actor = studio, actor
        self.character, self.selection, self.suggestions, self.changed = character, selection, suggestions, changed
        with ui.button("Tag…", icon="sell").props("outline dense no-caps").mark("tag-menu") as self.tag_button:
            self.menu = ui.menu().mark("tag-sources")
            self.menu.on_value_change(lambda e: self._fill_menu() if e.value else None)
            self.tag_tip = ui.tooltip()  # its text follows the selection (update)
        with ui.button("Edit tags…", icon="edit_note", on_click=self.bulk).props("outline dense no-caps") as edit:
            self.edit_button = edit.mark("bulk-tags")
            self.edit_tip = ui.tooltip()
        self.rules_button = ui.button(icon="rule", on_click=self.rules).props("flat dense round").mark("tag-rules")
        self.rules_button.tooltip("Trigger word and blacklists of the captions")
        self.update()

    def update(self) -> None:
        """Enable the buttons when a character is chosen; say what they will act on."""
        chosen = self.character() is not None
        for button in (self.tag_button, self.edit_button, self.rules_button):
            button.set_enabled(chosen)
        count = len(self.selection())
        scope = f"the {count} selected images" if count else "all of the character's images"
        self.tag_tip.text = f"Tag {scope}" if chosen else NO_CHARACTER
        self.edit_tip.text = f"Add, remove, replace or rename a tag on {scope}" if chosen else NO_CHARACTER

    def _fill_menu(self) -> None:
        """The sources as they stand now: a source that cannot run is shown disabled, with why."""
        self.menu.clear()
        count = len(self.selection())
        with self.menu:
            ui.label(f"Tag the {count} selected images" if count else "Tag all of the character's images").classes(
                "text-xs opacity-70 px-4 pt-2"
            )
            for state in self.studio.tagging.sources():
                item = ui.menu_item(state.label, on_click=lambda _, state=state: self.start(state))
                item.mark(f"tag-source-{state.source.value}")
                if not state.available:
                    item.disable()
                    item.tooltip(state.reason)

    async def start(self, state: SourceState) -> None:
        character = self.character()
        if character is None:
            return
        ids = self.selection() or None
        try:
            jobs = await self.studio.tagging.start(character.id, state.source, ids, self.actor)  # type: ignore[arg-type]
        except (Invalid, NotFound) as exc:
            ui.notify(explain(exc), type="negative", multi_line=True)
            return
        what = f"{len(ids)} selected images" if ids else f"{character.name}'s images"
        noun = "job" if len(jobs) == 1 else "jobs"
        ui.notify(f"Queued {len(jobs)} tagging {noun} for {what}: {state.label}", type="positive")

    async def bulk(self) -> None:
        character = self.character()
        if character is not None:
            await bulk_edit_tags(self.studio, character, self.selection(), self.actor, self.suggestions(), self.changed)

    async def rules(self) -> None:
        character = self.character()
        if character is not None:
            await open_tag_settings(self.studio, character.id, self.actor, self.changed)  # type: ignore[arg-type]
