"""One backend on the status page: state, version, GPU memory, loaded models and what to do."""

from __future__ import annotations

from nicegui import ui

from services.backends import BackendStatus
from studio.config import CONNECTIONS_URL

STATE_LABEL = {"ok": "reachable", "down": "unreachable", "not_configured": "not configured"}
STATE_ICON = {"ok": "check_circle", "down": "error", "not_configured": "radio_button_unchecked"}


def backend_card(status: BackendStatus) -> None:
    with ui.card().classes("gap-2").props(f'data-testid="backend-{status.key}"'):
        with ui.row().classes("items-center w-full no-wrap"):
            ui.icon(STATE_ICON[status.state]).classes(f"text-2xl state-{status.state}")
            with ui.column().classes("gap-0"):
                ui.label(status.label).classes("text-lg font-semibold")
                if status.device:
                    ui.label(f"device {status.device}").classes("text-xs opacity-70")
            ui.space()
            ui.label(STATE_LABEL[status.state]).classes(f"text-sm state-{status.state}")
        if status.url:
            ui.label(status.url).classes("text-xs font-mono opacity-80 break-all")
        line = " · ".join(
            part
            for part in (
                f"version {status.version}" if status.version else "",
                f"{status.latency_ms:.0f} ms" if status.latency_ms is not None else "",
            )
            if part
        )
        if line:
            ui.label(line).classes("text-sm")
        if status.detail:
            ui.label(status.detail).classes("text-sm opacity-80 studio-wrap")
        if status.state == "not_configured":
            ui.link("Connect it on Settings → Connections", CONNECTIONS_URL).classes("text-sm").mark(
                f"connect-{status.key}"
            )
        for gpu in status.gpus:
            if gpu.used_bytes is not None and gpu.total_bytes:
                # The detail line names each GPU's free memory; the bar shows how full it is at a glance.
                ui.linear_progress(gpu.used_bytes / gpu.total_bytes, show_value=False).props(
                    "rounded size=8px"
                ).tooltip(f"{gpu.name}: {gpu.used_bytes / 1024**3:.1f} GiB in use")
        if status.loaded_models:
            ui.label("Loaded: " + ", ".join(status.loaded_models)).classes("text-sm")
