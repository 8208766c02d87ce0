"""The notice beside an assembled video that no longer matches what it was made from (scenes and episodes)."""

from __future__ import annotations

from nicegui import ui


def out_of_date_notice(reasons: list[str], marker: str) -> None:
    """Say why the video is out of date and what brings it up to date; nothing when there is no reason."""
    if not reasons:
        return
    with ui.column().classes("w-full gap-0 p-2 rounded bg-amber-1 text-amber-10").mark(marker):
        ui.label("The assembled video is out of date; press Assemble again to bring it up to date:").classes(
            "text-sm font-medium"
        )
        for reason in reasons:
            ui.label(f"• {reason[:1].upper()}{reason[1:]}").classes("text-sm studio-wrap")
