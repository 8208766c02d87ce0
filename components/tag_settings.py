"""The caption rules of a character and its project, edited from the Datasets toolbar: the trigger word every
caption of the character starts with, the tags left out of the character's captions, and the tags left out
of every caption in the project.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.form_errors import explain
from components.page_level import page_level
from components.story_widgets import chips, editor_dialog, error_label, show_error
from components.unsaved import EditorGuard
from services.errors import Conflict, Invalid, NotFound
from studio.root import Studio


async def open_tag_settings(
    studio: Studio, character_id: int, actor: str, saved: Callable[[], Awaitable[None]]
) -> None:
    """Open the dialog with the values stored now; `saved` runs after a save (captions may have changed)."""
    try:
        character = await studio.characters.get(character_id)
        project = await studio.projects.get(character.project_id)
    except NotFound as exc:
        ui.notify(explain(exc), type="warning")
        return
    layout = page_level()
    with layout:
        dialog, body = editor_dialog(f"Caption rules for {character.name}", "tag-settings-dialog", "560px")
    with body:
        trigger = (
            ui.input("Trigger word", value=character.trigger_word)
            .props("outlined dense hint='Always first in every caption of this character; empty: none'")
            .classes("w-full")
            .mark("trigger-word")
        )
        character_list = chips(f"Never in {character.name}'s captions", character.tag_blacklist, "character-blacklist")
        project_list = chips(f"Never in any caption of {project.name}", project.tag_blacklist, "project-blacklist")
        error = error_label("tag-settings-error")
        with ui.row().classes("w-full justify-end items-center gap-2"):
            guard = EditorGuard(dialog, f"the caption rules of {character.name}", "tag-settings-unsaved")
            ui.button("Cancel", on_click=guard.close).props("flat").mark("tag-settings-cancel")
            save_button = ui.button("Save", icon="save").props("unelevated").mark("tag-settings-save")
    guard.unsaved.watch(trigger, character_list, project_list)

    async def save() -> None:
        show_error(error, None)
        try:
            if (trigger.value or "").strip() != character.trigger_word:
                await studio.tags.set_trigger(character_id, trigger.value or "", actor)
            if list(character_list.value or []) != character.tag_blacklist:
                await studio.tags.set_character_blacklist(character_id, list(character_list.value or []), actor)
            if list(project_list.value or []) != project.tag_blacklist:
                await studio.tags.set_blacklist(character.project_id, list(project_list.value or []), actor)
        except (Conflict, Invalid, NotFound) as exc:
            show_error(error, explain(exc))
            return
        guard.saved()
        with layout:  # the dialog (and the Save button's context) is gone now
            ui.notify(f"Caption rules of {character.name} saved", type="positive")
            await saved()

    save_button.on_click(save)
