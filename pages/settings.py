"""Settings: the effective configuration (secrets masked) and where each secret comes from."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.shell import Area, frame, studio_page
from studio.config import CONFIG_FILE_ENV, settings_view
from studio.root import Studio
from studio.secrets import SECRET_NAMES

COLUMNS = [
    {"name": "env", "label": "Setting", "field": "env", "align": "left", "sortable": True},
    {"name": "value", "label": "Effective value", "field": "value", "align": "left"},
    {"name": "source", "label": "From", "field": "source", "align": "left"},
    {"name": "default", "label": "Default", "field": "default", "align": "left"},
    {
        "name": "description",
        "label": "What it does",
        "field": "description",
        "align": "left",
        "classes": "whitespace-normal",
        "style": "min-width: 320px",
    },
]


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/settings")
    async def settings_page(request: Request) -> None:
        async with frame(studio, request, "Settings", areas) as content:
            with content:
                ui.markdown(
                    "Settings are read at start-up from the environment (`STUDIO_*`), `.env`, or the TOML file "
                    f"named by `{CONFIG_FILE_ENV}`. Change them there and restart the studio. "
                    "The full reference is in `docs/settings.md`."
                ).classes("opacity-80")
                ui.input("Filter", on_change=lambda e: table.set_filter(e.value)).props("clearable dense").classes(
                    "w-64"
                )
                table = ui.table(columns=COLUMNS, rows=settings_view(studio.settings), row_key="env").classes("w-full")
                table.props("wrap-cells :pagination='{rowsPerPage: 0}' hide-pagination")
                _secrets_card(studio)


def _secrets_card(studio: Studio) -> None:
    with ui.card().classes("w-full"):
        ui.label("Secrets").classes("text-xl font-semibold")
        if studio.settings.vault_addr:
            if studio.secrets.vault_error:
                ui.label(f"Vault: {studio.secrets.vault_error}").classes("text-negative")
            else:
                ui.label(
                    f"Vault at {studio.settings.vault_addr}, secret "
                    f"{studio.settings.vault_mount}/{studio.settings.vault_path}"
                )
        else:
            ui.label("Vault is not configured: secrets come from settings (STUDIO_VAULT_ADDR to use Vault).")
        rows = []
        for name in SECRET_NAMES:
            source = studio.secrets.source(name)  # type: ignore[arg-type]
            if name == "jwt_secret" and source is None:
                source = "generated key in the data folder"
            rows.append({"name": name, "source": source or "not set"})
        ui.table(
            columns=[
                {"name": "name", "label": "Secret", "field": "name", "align": "left"},
                {"name": "source", "label": "Comes from", "field": "source", "align": "left"},
            ],
            rows=rows,
            row_key="name",
        ).props("flat dense hide-pagination")
