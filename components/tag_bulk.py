"""Bulk tag edits on the Datasets page: add, remove or replace a tag on the selection (or every image of the
character), or rename a tag across the character. The dialog says how many images the edit will touch before
it is applied; afterwards a notice says what changed, with Undo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from nicegui import ui

from components.confirm import throwaway_dialog
from components.form_errors import explain
from components.image_tags import normalised
from components.undo import offer_undo
from services.errors import Conflict, Invalid, NotFound
from services.tags.store import BulkEdit, BulkResult
from studio.models import Character
from studio.root import Studio

Operation = Literal["add", "remove", "replace", "rename"]
OPERATIONS: dict[str, str] = {
    "add": "Add",
    "remove": "Remove",
    "replace": "Replace",
    "rename": "Rename across the character",
}
SELECTION, EVERY = "selection", "all"


def one_tag(text: str | None) -> str:
    """The single tag a field holds, written as the store keeps it ("" when it holds none or several)."""
    tags = normalised(text or "")
    return tags[0] if len(tags) == 1 else ""


async def images_touched(studio: Studio, character_id: int, edit: BulkEdit) -> int:
    """How many images `edit` would change: those in its scope with the tag, or for "add" those without."""
    with_tag = set(await studio.tags.image_ids(character_id, edit.tag))
    if edit.image_ids is None or edit.operation == "rename":
        scope = set(await studio.tags.image_ids(character_id)) if edit.operation == "add" else with_tag
    else:
        scope = set(edit.image_ids)
    return len(scope - with_tag) if edit.operation == "add" else len(scope & with_tag)


async def ask_bulk_edit(
    studio: Studio, character: Character, selected: Sequence[int], suggestions: list[str]
) -> BulkEdit | None:
    """The bulk edit a person set up and confirmed, or None (cancelled)."""
    everyone = f"All of {character.name}'s images"
    scopes = {SELECTION: f"The {len(selected)} selected image{'' if len(selected) == 1 else 's'}", EVERY: everyone}
    with throwaway_dialog() as dialog, ui.card().classes("min-w-[420px] gap-3").mark("bulk-tags-dialog"):
        ui.label(f"Edit tags of {character.name}'s images").classes("text-lg font-semibold")
        operation = ui.toggle(OPERATIONS, value="add").props("no-caps dense").mark("bulk-operation")
        tag = ui.input("Tag", autocomplete=suggestions).props("outlined dense").classes("w-full").mark("bulk-tag")
        new_tag = ui.input("New tag", autocomplete=suggestions).props("outlined dense").classes("w-full")
        new_tag.mark("bulk-new-tag")
        scope = ui.radio(scopes if selected else {EVERY: everyone}, value=SELECTION if selected else EVERY)
        scope.mark("bulk-scope")
        touched = ui.label().classes("text-sm").mark("bulk-touches")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat").mark("bulk-cancel")
            apply = ui.button("Apply", icon="done_all").props("unelevated").mark("bulk-apply")
    latest = [0]
    planned: list[BulkEdit | None] = [None]

    def edit_of() -> BulkEdit | str:
        """The edit the fields describe, or why they describe none."""
        op: Operation = operation.value
        old, new = one_tag(tag.value), one_tag(new_tag.value)
        if not old:
            return "Name one tag."
        if op in ("replace", "rename") and not new:
            return "Name the new tag."
        if op in ("replace", "rename") and new == old:
            return "The new tag is the same as the old one."
        ids = tuple(selected) if scope.value == SELECTION and op != "rename" else None
        return BulkEdit(operation=op, tag=old, new_tag=new if op in ("replace", "rename") else None, image_ids=ids)

    async def plan() -> None:
        new_tag.set_visibility(operation.value in ("replace", "rename"))
        scope.set_enabled(operation.value != "rename")  # a rename always covers the character
        latest[0] += 1
        mine = latest[0]
        edit = edit_of()
        planned[0] = None
        apply.set_enabled(False)
        if isinstance(edit, str):
            touched.text = edit
            return
        count = await images_touched(studio, character.id, edit)  # type: ignore[arg-type]
        if mine != latest[0] or dialog.is_deleted:
            return
        noun = "image" if count == 1 else "images"
        merge = ""
        if edit.operation == "rename" and edit.new_tag and await studio.tags.image_ids(character.id, edit.new_tag):  # type: ignore[arg-type]
            merge = f"; '{edit.new_tag}' already exists, so the two merge"
        if mine != latest[0] or dialog.is_deleted:
            return
        touched.text = f"This changes {count} {noun}{merge}." if count else "No image would change."
        planned[0] = edit if count else None
        apply.set_enabled(count > 0)

    for field in (operation, tag, new_tag, scope):
        field.on_value_change(plan)
    apply.on_click(lambda: dialog.submit(planned[0]))
    await plan()
    return await dialog


async def bulk_edit_tags(
    studio: Studio,
    character: Character,
    selected: Sequence[int],
    actor: str,
    suggestions: list[str],
    after: Callable[[], Awaitable[None]],
) -> None:
    """Ask for a bulk edit, apply it, say what changed and offer Undo; `after` redraws what it changed."""
    layout = ui.context.client.layout
    edit = await ask_bulk_edit(studio, character, selected, suggestions)
    if edit is None:
        return
    try:
        result = await studio.tags.bulk(character.id, edit, actor)  # type: ignore[arg-type]
    except (Conflict, Invalid, NotFound) as exc:
        ui.notify(explain(exc), type="negative", multi_line=True)
        return
    offer_bulk_undo(studio, result, actor, after, layout)
    await after()


def offer_bulk_undo(
    studio: Studio, result: BulkResult, actor: str, after: Callable[[], Awaitable[None]], layout: ui.element
) -> None:
    if result.undo_token is None:  # nothing changed: nothing to take back
        ui.notify(result.message, type="info")
        return
    token = result.undo_token

    async def undo() -> None:
        # The undo bar that calls this is gone by now: notices and redraws belong to the page.
        with layout:
            try:
                undone = await studio.tags.undo(token, actor)
            except (Conflict, Invalid, NotFound) as exc:
                ui.notify(explain(exc), type="warning", multi_line=True)
                return
            ui.notify(undone.message, type="info")
            await after()

    offer_undo(result.message, undo)
