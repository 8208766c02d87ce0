"""Settings: every setting by group, with its effective value (secrets masked) and where it came from; the
ones safe to change live are edited here and apply at once, a few more are kept for the next start (a
*Restart needed* banner says so until then), and the rest are set where the studio starts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, get_args, get_origin

from nicegui import ui
from starlette.requests import Request

from components.connections import connections_section
from components.shell import Area, frame, principal_of, studio_page
from components.undo import offer_undo
from components.unsaved import UnsavedMarker
from services.errors import StudioError
from services.settings_editor import SettingChange
from studio.auth import Principal
from studio.config import CONFIG_FILE_ENV, SETTING_GROUPS, Settings, settings_view
from studio.root import Studio
from studio.secrets import SECRET_NAMES

WHEN = {
    "live": "applies at once",
    "restart": "applies at the next start",
    "fixed": "changed only in the environment, .env or TOML, then restart",
}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/settings")
    async def settings_page(request: Request) -> None:
        principal = principal_of(request)
        async with frame(studio, request, "Settings", areas) as content:
            with content:
                ui.markdown(
                    "Settings come from the environment (`STUDIO_*`), `.env`, the TOML file named by "
                    f"`{CONFIG_FILE_ENV}`, or this page; the first three win over the page and are read-only "
                    "here. The full reference is in `docs/settings.md`."
                ).classes("opacity-80")
                SettingsEditorView(studio, principal).build()
                _secrets_card(studio)


class SettingsEditorView:
    """The groups of settings. Saving one rebuilds only its own line, so edits typed in another line stay."""

    def __init__(self, studio: Studio, principal: Principal) -> None:
        self.studio = studio
        self.principal = principal
        self.actor = principal.name
        self.lines: dict[str, ui.element] = {}
        self.unsaved: dict[str, UnsavedMarker] = {}
        self.cards: dict[str, ui.card] = {}

    def build(self) -> None:
        ui.input("Filter", on_change=lambda e: self._filter(e.value or "")).props("clearable dense").classes(
            "w-64"
        ).mark("settings-filter")
        self.banner()
        rows = {row["name"]: row for row in settings_view(self.studio.settings)}
        for group, names in SETTING_GROUPS.items():
            with ui.card().classes("w-full gap-0").mark(f"settings-group-{group}") as card:
                self.cards[group] = card
                ui.label(group).classes("text-xl font-semibold")
                if group == "Connections":  # devices and services have their own editor, in force once saved
                    connections_section(self.studio, self.principal)
                    continue
                for name in names:
                    self.lines[name] = ui.element("div").classes("w-full")
                    self._line(rows[name])

    @ui.refreshable_method
    def banner(self) -> None:
        pending = self.studio.settings_editor.restart_needed()
        if pending:
            with ui.row().classes("w-full items-center gap-2 p-3 rounded bg-amber-1 text-amber-10"):
                ui.icon("restart_alt")
                ui.label(
                    f"Restart needed: {', '.join(pending)} changed here and apply when the studio starts again."
                ).mark("restart-banner")

    def _filter(self, text: str) -> None:
        """Hide what does not match (hidden lines keep what was typed in them)."""
        wanted = text.lower()
        matching = {
            row["name"]
            for row in settings_view(self.studio.settings)
            if wanted in " ".join((row["env"], row["group"], row["description"], row["value"])).lower()
        }
        for name, line in self.lines.items():
            line.visible = name in matching
        for group, card in self.cards.items():
            card.visible = not matching.isdisjoint(SETTING_GROUPS[group])

    def _refresh(self, name: str) -> None:
        self._line(next(row for row in settings_view(self.studio.settings) if row["name"] == name))
        self.banner.refresh()

    def _line(self, row: dict[str, str]) -> None:
        name = row["name"]
        if name in self.unsaved:
            self.unsaved.pop(name).forget()
        line = self.lines[name]
        line.clear()
        with (
            line,
            ui.row().classes("w-full items-start gap-4 py-2 border-b border-gray-500/20").mark(f"setting-{name}"),
        ):
            with ui.column().classes("gap-0 flex-1 min-w-64"):
                ui.label(row["env"]).classes("font-mono text-sm")
                ui.label(row["description"]).classes("text-sm opacity-70 whitespace-normal")
            with ui.column().classes("gap-1 w-96"):
                if row["editable"]:
                    self._editor(row)
                else:
                    ui.label(row["value"] or "(unset)").classes("break-all").mark(f"value-{name}")
                default = f" · default {row['default']}" if row["default"] and row["source"] != "default" else ""
                when = WHEN[row["edit"]] if row["editable"] or row["edit"] == "fixed" else "wins over this page"
                ui.label(f"{row['source']} · {when}{default}").classes("text-xs opacity-70").mark(f"source-{name}")

    def _editor(self, row: dict[str, str]) -> None:
        name = row["name"]
        choices = _choices(name)
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            if choices:
                widget: ui.select | ui.input = ui.select(choices, value=getattr(self.studio.settings, name))
            else:
                widget = ui.input(value=_as_text(self.studio.settings, name))
                widget.on("keydown.enter", lambda: self._save(name, widget.value))
            widget.props("dense").classes("flex-1").mark(f"edit-{name}")
            ui.button(icon="save", on_click=lambda: self._save(name, widget.value)).props("flat dense").mark(
                f"save-{name}"
            ).tooltip("Save")
            if row["source"] == "set in the app":
                ui.button(icon="settings_backup_restore", on_click=lambda: self._reset(name)).props("flat dense").mark(
                    f"reset-{name}"
                ).tooltip("Back to the default")
        self.unsaved[name] = UnsavedMarker(name, f"unsaved-{name}")
        self.unsaved[name].watch(widget)

    async def _save(self, name: str, typed: Any) -> None:
        try:
            change = await self.studio.settings_editor.change(name, _parsed(name, typed), self.actor)
        except (StudioError, ValueError) as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self._changed(change, f"{name} saved")

    async def _reset(self, name: str) -> None:
        try:
            change = await self.studio.settings_editor.reset(name, self.actor)
        except StudioError as exc:
            ui.notify(str(exc), type="negative", multi_line=True)
            return
        self._changed(change, f"{name} is back to its default")

    def _changed(self, change: SettingChange, message: str) -> None:
        when = "now in force" if change.live else "in force from the next start"

        async def undo() -> None:
            await self.studio.settings_editor.restore(change, self.actor)
            self._refresh(change.name)

        # Before the line is rebuilt: the clicked button, whose slot this handler runs in, goes with it.
        offer_undo(f"{message}, {when}", undo)
        self._refresh(change.name)


def _choices(name: str) -> list[str] | None:
    """The allowed values of a setting with a fixed set of them (a Literal), else None."""
    annotation = Settings.model_fields[name].annotation
    return list(get_args(annotation)) if get_origin(annotation) is Literal else None


def _as_text(settings: Settings, name: str) -> str:
    value = settings.model_dump(mode="json", include={name})[name]
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, dict) else str(value)


def _parsed(name: str, typed: Any) -> Any:
    """What the field holds, from what was typed: objects as JSON, an empty box as unset; the Settings model
    turns text into numbers and checks the rest."""
    if isinstance(typed, str) and typed.strip() == "":
        return None
    if isinstance(typed, str) and isinstance(Settings.model_fields[name].get_default(call_default_factory=True), dict):
        try:
            return json.loads(typed)
        except ValueError as exc:
            raise ValueError(f'{name}: write a JSON object such as {{"G": 0.15, "PG": 0.3, ...}}') from exc
    return typed.strip() if isinstance(typed, str) else typed


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
