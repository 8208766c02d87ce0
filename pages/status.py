"""Status: the studio itself and every configured backend, probed live."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.backend_card import backend_card
from components.device_capabilities import device_capabilities
from components.shell import Area, frame, studio_page
from services.backends import BackendStatus
from services.connections import ConnectionChanged
from studio.root import Studio

PATH = "/status"


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def status_page(request: Request) -> None:
        async with frame(studio, request, "Status", areas) as content:
            with content:
                _studio_card(studio)
                with ui.row().classes("w-full items-center"):
                    ui.label("Backends").classes("text-xl font-semibold")
                    ui.space()
                    checked = ui.label().classes("text-sm opacity-70")
                    check_button = ui.button("Check now", icon="refresh").props("outline")

                @ui.refreshable
                def cards(rows: list[BackendStatus]) -> None:
                    with ui.grid(columns="repeat(auto-fill, minmax(330px, 1fr))").classes("w-full gap-4"):
                        for row in rows:
                            backend_card(row)

                cards(studio.backends.configured())

            refresh_every = studio.settings.status_refresh_seconds

            async def show(max_age: float) -> None:
                check_button.props("loading")
                try:
                    rows = await studio.backends.current(max_age=max_age)
                finally:
                    check_button.props(remove="loading")
                cards.refresh(rows)
                if studio.backends.last_probed_at is not None:
                    checked.text = f"checked {studio.backends.last_probed_at:%H:%M:%S} UTC"

            check_button.on_click(lambda: show(max_age=0))
            # A probe another tab made moments ago is as good as a new one.
            ui.timer(0.05, lambda: show(max_age=refresh_every / 2), once=True)
            ui.timer(refresh_every, lambda: show(max_age=refresh_every / 2))
            with content:
                section = ui.column().classes("w-full gap-4 p-0")

            def draw_capabilities() -> None:
                section.clear()
                if studio.settings.comfyui_devices:
                    with section:
                        _capabilities_section(studio)

            async def connections_changed(_event: ConnectionChanged) -> None:
                """A box connected or removed in Settings → Connections (any tab): show it without a reload."""
                if not section.is_deleted:
                    draw_capabilities()
                    await show(max_age=0)

            draw_capabilities()
            ui.context.client.on_delete(studio.events.subscribe(ConnectionChanged, connections_changed))


def _capabilities_section(studio: Studio) -> None:
    """What each ComfyUI device can run. Loaded after the page shows: it asks every server for its nodes."""
    with ui.row().classes("w-full items-center"):
        ui.label("What each ComfyUI device can run").classes("text-xl font-semibold")
        ui.space()
        again = ui.button("Check again", icon="refresh").props("outline").mark("check-capabilities")
    host = ui.column().classes("w-full gap-4").mark("capabilities")

    async def load(max_age: float) -> None:
        again.props("loading")
        if not host.is_deleted:
            host.clear()
            with host, ui.row().classes("items-center gap-2").mark("capabilities-loading"):
                ui.spinner(size="md")
                ui.label("Asking each ComfyUI server which nodes and models it has…").classes("opacity-70")
        try:
            preflights = await studio.device_preflights(max_age=max_age)
        finally:
            again.props(remove="loading")
        if host.is_deleted:
            return
        host.clear()
        with host:
            for preflight in preflights:
                device_capabilities(preflight)

    again.on_click(lambda: load(max_age=0))
    ui.timer(0.05, lambda: load(max_age=30), once=True)


def _studio_card(studio: Studio) -> None:
    usage = shutil.disk_usage(studio.settings.data_dir)
    facts = [
        ("Version", studio.version),
        ("Database", f"{studio.db.kind} · {studio.db.display_url}"),
        ("Schema revision", studio.schema_revision or "not migrated"),
        ("Data folder", f"{studio.settings.data_dir} ({_gib(usage.free)} free of {_gib(usage.total)})"),
    ]
    for tool in studio.media_tools:
        facts.append((tool.name, f"{tool.version} ({tool.path})" if tool.available else "missing: install ffmpeg"))
    with ui.card().classes("w-full"):
        ui.label("Studio").classes("text-xl font-semibold")
        with ui.grid(columns="max-content 1fr").classes("gap-x-6 gap-y-1"):
            for name, value in facts:
                ui.label(name).classes("opacity-70")
                ui.label(value).classes("break-all")
