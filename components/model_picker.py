"""A model file field that offers what the devices' ComfyUI lists, and still takes a typed name."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui


def offer_models(field: ui.input, files: Sequence[str], marker: str) -> None:
    """Adds a drop-down of `files` to `field` (and Tab completion of a typed start); nothing when there are none,
    so a studio without a device keeps the plain input."""
    if not files:
        return
    field.set_autocomplete(list(files))
    with field.add_slot("append"):
        button = ui.button(icon="arrow_drop_down").props("flat dense round").mark(f"{marker}-choices")
        button.tooltip(f"{len(files)} files on the GPU boxes")
        with button, ui.menu().props("max-height=50vh").mark(f"{marker}-menu"):
            for name in files:
                ui.menu_item(name, on_click=lambda n=name: field.set_value(n)).mark(f"{marker}-file")
