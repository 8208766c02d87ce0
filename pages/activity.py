"""Activity: the audit trail of everything that happened, newest first, updated live; above it, the characters
whose generations are drifting (open drift alerts), so a falling approval rate is seen wherever one looks."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.shell import Area, frame, studio_page
from services.autonomy import DriftDetected
from services.autonomy.drift import DriftAlertView
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
                drift_host = ui.column().classes("w-full gap-1").mark("drift-alerts")
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
                            "autonomy.": "Autopilot decisions",
                            "drift.": "Drift alerts",
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

            async def load_drift() -> None:
                alerts = await studio.autonomy.drift.alerts()
                if not drift_host.is_deleted:
                    _drift_banner(drift_host, alerts)

            kind.on_value_change(load)
            await load()
            await load_drift()
            unsubscribe = studio.events.subscribe(StudioEvent, lambda _event: load())
            ui.context.client.on_delete(unsubscribe)
            ui.context.client.on_delete(studio.events.subscribe(DriftDetected, lambda _event: load_drift()))


def _drift_banner(host: ui.column, alerts: list[DriftAlertView]) -> None:
    """One line per open drift alert; nothing when no character drifts."""
    host.clear()
    with host:
        for alert in alerts:
            with (
                ui.row()
                .classes("w-full items-center gap-2 rounded p-2 text-sm bg-orange-1 text-orange-10")
                .mark(f"drift-{alert.character_id}")
            ):
                ui.icon("trending_down")
                ui.label(f"Drift: {alert.character_name}: {alert.reason}").classes("font-medium")
                ui.label(f"since {alert.detected_at:%Y-%m-%d %H:%M} UTC").classes("opacity-70")
                ui.space()
                ui.link("Autopilot", f"/autopilot?project={alert.project_id}")
