"""An undo bar: after a soft delete or archive, a few seconds to take it back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.page_level import page_level

UNDO_SECONDS = 10.0


def offer_undo(message: str, undo: Callable[[], Awaitable[None]], seconds: float = UNDO_SECONDS) -> None:
    """Show `message` with an Undo button at the bottom of the page for `seconds`."""
    with page_level(), ui.element("div").classes("fixed bottom-6 left-1/2 -translate-x-1/2 z-50") as holder:
        with (
            ui.card()
            .classes("flex-row items-center gap-4 px-4 py-2 bg-grey-9 text-white")
            .props('data-testid="undo-bar"')
        ):
            ui.label(message)

            async def take_back() -> None:
                if not holder.is_deleted:
                    holder.delete()
                await undo()

            ui.button("Undo", on_click=take_back).props("flat color=amber").mark("undo")
    ui.timer(seconds, lambda: None if holder.is_deleted else holder.delete(), once=True)
