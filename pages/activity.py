"""Activity: the audit trail of everything that happened, newest first, updated live."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.shell import Area, frame, studio_page
from studio.events import StudioEvent
from studio.root import Studio

COLUMNS = [
    {"name": "at", "label": "When (UTC)", "field": "at", "align": "left"},
    {"name": "event", "label": "Event", "field": "event", "align": "left"},
    {"name": "actor", "label": "Who", "field": "actor", "align": "left"},
    {"name": "summary", "label": "What happened", "field": "summary", "align": "left"},
]


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/activity")
    async def activity_page(request: Request) -> None:
        async with frame(studio, request, "Activity", areas) as content:
            with content:
                with ui.row().classes("w-full items-center"):
                    ui.label("Recent activity").classes("text-xl font-semibold")
                    ui.space()
                    kind = ui.select(
                        {
                            "": "All events",
                            "studio.": "Studio",
                            "auth.": "Logins",
                            "backend.": "Backends",
                            "user.": "Users",
                            "preference.": "Preferences",
                        },
                        value="",
                        label="Show",
                    ).classes("w-48")
                table = ui.table(columns=COLUMNS, rows=[], row_key="id", pagination=25).classes("w-full")

            async def load() -> None:
                records = await studio.audit.recent(limit=500, event_prefix=kind.value or None)
                table.rows = [
                    {
                        "id": r.id,
                        "at": f"{r.at:%Y-%m-%d %H:%M:%S}",
                        "event": r.event,
                        "actor": r.actor,
                        "summary": r.summary,
                    }
                    for r in records
                ]
                table.update()

            kind.on_value_change(load)
            await load()
            unsubscribe = studio.events.subscribe(StudioEvent, lambda _event: load())
            ui.context.client.on_delete(unsubscribe)
