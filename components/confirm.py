"""Ask before doing something destructive, in a dialog that removes itself once answered."""

from __future__ import annotations

from nicegui import ui

from components.page_level import page_level


def throwaway_dialog() -> ui.dialog:
    """A dialog that deletes itself (and everything in it) once closed, so closed dialogs never pile up."""
    with page_level():
        dialog = ui.dialog()
    dialog.on_value_change(lambda e: None if e.value or dialog.is_deleted else dialog.delete())
    return dialog


async def confirm(title: str, message: str, action: str, *, danger: bool = True) -> bool:
    """True only when the person clicked `action`; Cancel, Escape or a click outside mean no."""
    with throwaway_dialog() as dialog, ui.card().classes("min-w-[360px] gap-3").mark("confirm-dialog"):
        ui.label(title).classes("text-lg font-semibold")
        if message:
            ui.label(message).classes("opacity-80")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(False)).props("flat").mark("confirm-cancel")
            ui.button(action, on_click=lambda: dialog.submit(True)).props(
                f"unelevated color={'negative' if danger else 'primary'}"
            ).mark("confirm")
    return bool(await dialog)
