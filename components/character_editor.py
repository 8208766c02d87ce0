"""The character editor: a side panel with the design, appearance data, references and prompt preview."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from components.character_loras import character_loras
from components.character_references import problem_text, reference_strip
from components.confirm import throwaway_dialog
from components.form_errors import explain
from components.prompt_preview import prompt_preview
from components.unsaved import UnsavedMarker, close_on_escape, page_edits
from components.voice_editor import voice_editor
from services.bible.schemas import AppearanceData, CharacterChanges
from services.errors import Conflict, Invalid, NotFound
from studio.models import Character, Project
from studio.root import Studio

# The side panel runs from the top of the window to the bottom (Quasar pads minimized dialogs by 24px).
EDITOR_CSS = ".q-dialog__inner:has(> .studio-character-editor) { padding: 0; }"
GENDERS = {"": "not set", "male": "male", "female": "female", "other": "other"}


class AppearanceForm:
    """The editable fields; `changes()` reads them back, `changed()` runs after every edit."""

    def __init__(self, character: Character, changed: Callable[[], None]) -> None:
        self._changed = changed
        self.name = ui.input("Name").classes("w-full").props("outlined dense").mark("edit-name")
        self.design_prompt = (
            ui.textarea("Design prompt")
            .mark("edit-design")
            .classes("w-full")
            .props('outlined autogrow hint="How the character looks, in words; the prompts start from this"')
        )
        with ui.row().classes("w-full gap-3 no-wrap"):
            self.species = (
                ui.input("Species")
                .mark("edit-species")
                .classes("grow")
                .props('outlined dense hint="e.g. human, or turtle (NOT human)"')
            )
            self.gender = (
                ui.select(GENDERS, value="").mark("edit-gender").props('outlined dense label="Gender"').classes("w-36")
            )
        self.body_type = ui.input("Body type").mark("edit-body-type").classes("w-full").props("outlined dense")
        ui.label("Key colours").classes("font-semibold")
        self.colours: list[list[str]] = []
        self.colour_rows()
        ui.button("Add colour", icon="add", on_click=self.add_colour).props("flat dense no-caps").mark("add-colour")
        self.key_features = self.chips("Key features", "what must always be visible")
        self.common_errors = self.chips("Common errors", "what generators tend to get wrong")
        self.negatives = self.chips("Negatives", "added to the negative prompt")
        self.voice = (
            ui.input("Voice")
            .mark("edit-voice")
            .classes("w-full")
            .props('outlined dense hint="a short description, e.g. deep, gravelly"')
        )
        self.load(character)
        for element in (
            self.name,
            self.design_prompt,
            self.species,
            self.gender,
            self.body_type,
            self.key_features,
            self.common_errors,
            self.negatives,
            self.voice,
        ):
            element.on_value_change(changed)

    def load(self, character: Character) -> None:
        """Show the saved character (also how unsaved edits are discarded)."""
        data: dict[str, Any] = character.appearance_data or {}
        self.name.value = character.name
        self.design_prompt.value = character.design_prompt
        self.species.value = str(data.get("species", ""))
        self.gender.value = data.get("gender", "") if data.get("gender", "") in GENDERS else ""
        self.body_type.value = str(data.get("body_type", ""))
        self.colours[:] = [[str(k), str(v)] for k, v in (data.get("key_colors") or {}).items()]
        self.colour_rows.refresh()
        self.key_features.value = [str(v) for v in data.get("key_features") or []]
        self.common_errors.value = [str(v) for v in data.get("common_errors") or []]
        self.negatives.value = [str(v) for v in data.get("negatives") or []]
        self.voice.value = str(data.get("voice", ""))

    @staticmethod
    def chips(label: str, hint: str) -> ui.input_chips:
        return (
            ui.input_chips(label, value=[], new_value_mode="add-unique")
            .mark(f"edit-{label.lower().replace(' ', '-')}")
            .classes("w-full")
            .props(f'outlined dense hint="{hint}; Enter adds"')
        )

    @ui.refreshable_method
    def colour_rows(self) -> None:
        if not self.colours:
            ui.label("No key colours yet.").classes("text-sm opacity-70")
        for index, row in enumerate(self.colours):
            with ui.row().classes("w-full items-center gap-2 no-wrap").mark("colour-row"):
                ui.input("Part", value=row[0], on_change=lambda e, r=row: self.set_cell(r, 0, e.value)).classes(
                    "grow"
                ).props("outlined dense").mark("colour-part")
                ui.input("Colour", value=row[1], on_change=lambda e, r=row: self.set_cell(r, 1, e.value)).classes(
                    "grow"
                ).props("outlined dense").mark("colour-value")
                ui.button(icon="close", on_click=lambda i=index: self.remove_colour(i)).props(
                    'flat round dense aria-label="Remove colour"'
                ).tooltip("Remove this colour").mark(f"remove-colour remove-colour-{index}")

    def set_cell(self, row: list[str], column: int, value: str | None) -> None:
        row[column] = value or ""
        self._changed()

    def add_colour(self) -> None:
        self.colours.append(["", ""])
        self.colour_rows.refresh()
        self._changed()

    def remove_colour(self, index: int) -> None:
        del self.colours[index]
        self.colour_rows.refresh()
        self._changed()

    def snapshot(self) -> tuple:
        """The form's content, to tell whether anything changed since the last save."""
        return (
            self.name.value or "",
            self.design_prompt.value or "",
            self.species.value or "",
            self.gender.value or "",
            self.body_type.value or "",
            tuple(tuple(row) for row in self.colours),
            tuple(self.key_features.value or []),
            tuple(self.common_errors.value or []),
            tuple(self.negatives.value or []),
            self.voice.value or "",
        )

    def changes(self) -> CharacterChanges:
        """What to save. ValueError: a half-filled or repeated colour; ValidationError: any other bad value."""
        colours: dict[str, str] = {}
        for part, colour in self.colours:
            part, colour = part.strip(), colour.strip()
            if not part and not colour:
                continue
            if not part or not colour:
                raise ValueError(f"Key colours: give both the part and the colour ('{part or colour}')")
            if part in colours:
                raise ValueError(f"Key colours: '{part}' is listed twice")
            colours[part] = colour
        return CharacterChanges(
            name=self.name.value or "",
            design_prompt=self.design_prompt.value or "",
            appearance_data=AppearanceData(
                species=self.species.value or "",
                gender=self.gender.value or "",
                body_type=self.body_type.value or "",
                key_colors=colours,
                key_features=list(self.key_features.value or []),
                common_errors=list(self.common_errors.value or []),
                negatives=list(self.negatives.value or []),
                voice=self.voice.value or "",
            ),
        )


async def open_character_editor(
    studio: Studio, project: Project, character: Character, actor: str, on_change: Callable[[], object]
) -> None:
    """Open the editor for `character`; `on_change` runs after a save or a reference change (to refresh cards)."""
    character_id: int = character.id  # type: ignore[assignment]
    # A person may type while the other tabs still load: the marker and buttons follow once they exist.
    built = False

    def mark_dirty() -> None:
        if not built:
            return
        dirty = form.snapshot() != saved
        unsaved.show(dirty)
        save_button.set_enabled(dirty)
        revert_button.set_enabled(dirty)
        if dirty:
            saved_label.text = ""

    dialog = throwaway_dialog().props("position=right persistent full-height")
    with (
        dialog,
        ui.card()
        .classes("p-0 gap-0 no-wrap studio-character-editor")
        .style("width: min(860px, 100vw); max-width: 100vw; height: 100vh; max-height: 100vh")
        .mark("character-editor"),
    ):
        with ui.row().classes("w-full items-center px-4 pt-3 gap-2 no-wrap"):
            title = ui.label(character.name).classes("text-xl font-semibold")
            unsaved = UnsavedMarker(character.name, "unsaved")
            ui.space()
            ui.button(icon="close", on_click=lambda: close()).props('flat round aria-label="Close editor"').mark(
                "close-editor"
            )
            close_on_escape(lambda: close())
        with ui.tabs().classes("w-full px-4").props("align=left dense no-caps inline-label") as tabs:
            details_tab = ui.tab("Details", icon="edit_note")
            ui.tab("References", icon="photo_library")
            ui.tab("LoRA", icon="model_training").mark("lora-tab")
            ui.tab("Prompt preview", icon="manage_search")
            ui.tab("Voice", icon="record_voice_over").mark("voice-tab")
        ui.separator()
        with (
            ui.tab_panels(tabs, value=details_tab, animated=False)
            .classes("w-full")
            .style("flex: 1 1 auto; min-height: 0; overflow-y: auto")
        ):
            with ui.tab_panel("Details").classes("gap-3"):
                errors = ui.column().classes("w-full gap-1").mark("form-errors")
                form = AppearanceForm(character, lambda: mark_dirty())
                saved = form.snapshot()
            with ui.tab_panel("References"):
                await reference_strip(studio, character_id, actor, on_change)
            with ui.tab_panel("LoRA"):
                # The preview is built below; by the time a person changes a LoRA it exists.
                await character_loras(studio, character, actor, lambda: refresh_preview())
            with ui.tab_panel("Prompt preview"):
                refresh_preview = await prompt_preview(studio, project, character_id)
            with ui.tab_panel("Voice").classes("gap-3"):
                voice = await voice_editor(studio, character, actor)
        ui.separator()
        with ui.row().classes("w-full items-center gap-3 px-4 py-2 no-wrap"):
            save_button = ui.button("Save", icon="save", on_click=lambda: save()).mark("save-character")
            revert_button = ui.button("Discard changes", on_click=lambda: revert()).props("flat")
            saved_label = ui.label("").classes("text-sm opacity-70")

    built = True

    def show_errors(lines: list[str]) -> None:
        errors.clear()
        with errors:
            for line in lines:
                ui.label(line).classes("text-negative text-sm").mark("form-error")

    async def save() -> None:
        nonlocal saved, character
        try:
            changes = form.changes()
        except ValidationError as exc:
            show_errors(explain(exc).split("\n"))
            return
        except ValueError as exc:
            show_errors([str(exc)])
            return
        try:
            character = await studio.characters.update(character_id, changes, actor)
        except (Invalid, Conflict, NotFound) as exc:
            show_errors([problem_text(exc)])
            return
        show_errors([])
        saved = form.snapshot()
        title.text = character.name
        mark_dirty()
        saved_label.text = "Saved."
        on_change()
        await refresh_preview()

    def revert() -> None:
        errors.clear()
        with dialog:
            form.load(character)
        mark_dirty()

    async def close() -> None:
        with dialog:
            # The Voice tab saves on its own button: its edits are asked about with the details'.
            if not await page_edits().discard_ok(unsaved, voice.unsaved):
                return
        voice.unsaved.forget()
        dialog.close()

    mark_dirty()
    dialog.open()
