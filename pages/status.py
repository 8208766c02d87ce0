"""Status: the studio itself and every configured backend, probed live."""

from __future__ import annotations

import shutil
from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.backend_card import backend_card
from components.shell import Area, frame
from services.backends import BackendStatus
from studio.root import Studio


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB"


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @ui.page("/")
    async def status_page(request: Request) -> None:
        content = await frame(studio, request, "Status", areas)
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
