"""Changing settings from the app: checked by the Settings model itself, stored in the data folder
(studio/settings_file.py), audited, and applied at once to the running studio when the setting is live.

The studio's services all hold the one Settings object the studio was built with, so a live setting is
applied by assigning the new value on it. A setting that needs a restart is only stored: the next start
reads it, and until then `restart_needed` names it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.errors import Conflict, Invalid, NotFound
from studio.config import (
    ENV_PREFIX,
    RESTART_SETTINGS,
    SETTING_GROUPS,
    Settings,
    in_app_values,
    setting_edit,
    setting_sources,
)
from studio.events import EventBus, SettingChanged
from studio.settings_file import write_in_app


@dataclass(frozen=True)
class SettingChange:
    """What a change did, so a page can offer to take it back."""

    name: str
    previous: Any  # the value stored in the app before, or None when there was none (the default applied)
    had_previous: bool
    live: bool


class SettingsEditor:
    def __init__(self, settings: Settings, events: EventBus) -> None:
        self._settings = settings
        self._events = events
        self._lock = asyncio.Lock()  # two people saving at once must not lose one of the file's changes
        # The values the running studio was built with, to tell which stored restart settings are pending.
        self._started = settings.model_dump(mode="json", include=set(RESTART_SETTINGS))

    def stored(self) -> dict[str, Any]:
        """The values set in the app (what the next start reads)."""
        return in_app_values(self._settings.data_dir)

    def restart_needed(self) -> list[str]:
        """Settings changed in the app that the running studio does not use yet, in name order."""
        stored, sources = self.stored(), setting_sources(self._settings)
        pending = []
        for name in sorted(RESTART_SETTINGS):
            if sources.get(name) in (None, "set in the app"):
                next_start = stored.get(name, _default(name))  # plain JSON values: a level, a count, a mode
                if next_start != self._started[name]:
                    pending.append(name)
        return pending

    async def change(self, name: str, value: Any, actor: str) -> SettingChange:
        """Set `name` to `value` (JSON form, as typed or sent); a bad value raises Invalid and changes nothing."""
        self._editable(name)
        applied, stored = self._checked(name, value)
        return await self._store(name, stored, applied, actor)

    async def reset(self, name: str, actor: str) -> SettingChange:
        """Forget the value set in the app: the default applies (at once when live)."""
        self._editable(name)
        applied, _ = self._checked(name, _default(name))
        return await self._store(name, None, applied, actor)

    async def restore(self, change: SettingChange, actor: str) -> None:
        """Take a change back (Undo): the value stored before it, or the default when there was none."""
        if change.had_previous:
            await self.change(change.name, change.previous, actor)
        else:
            await self.reset(change.name, actor)

    def _editable(self, name: str) -> None:
        if name not in Settings.model_fields:
            raise NotFound(f"there is no setting '{name}'; GET /api/settings lists them")
        if name in SETTING_GROUPS["Connections"]:
            raise Conflict(
                f"{name} is a connection: change it on Settings → Connections (PUT /api/connections/{{service}} "
                "or /api/devices/{name})"
            )
        if setting_edit(name) == "fixed":
            raise Conflict(
                f"{name} is set only where the studio starts: {ENV_PREFIX}{name.upper()} in the environment, "
                "`.env` or the TOML file, then restart"
            )
        source = setting_sources(self._settings).get(name)
        if source not in (None, "set in the app"):
            raise Conflict(f"{name} is set by the {source}, which wins over the app; change it there and restart")

    def _checked(self, name: str, value: Any) -> tuple[Any, Any]:
        """The value as the studio uses it and in JSON form, once the Settings model (bounds, validators,
        cross-checks with the other settings) accepted it."""
        candidate = {**self._settings.model_dump(), name: value}
        try:
            checked = Settings.model_validate(candidate)
        except ValidationError as exc:
            raise Invalid(name, exc.errors()[0]["msg"]) from exc
        return getattr(checked, name), checked.model_dump(mode="json", include={name})[name]

    async def _store(self, name: str, value: Any, applied: Any, actor: str) -> SettingChange:
        """Write `value` (None: forget) to the file, apply `applied` when live, and audit it."""
        async with self._lock:
            stored = self.stored()
            change = SettingChange(name, stored.get(name), name in stored, setting_edit(name) == "live")
            if value is None:
                stored.pop(name, None)
            else:
                stored[name] = value
            await asyncio.to_thread(write_in_app, self._settings.data_dir, stored)
            if change.live:
                setattr(self._settings, name, applied)
        await self._events.emit(
            SettingChanged(actor=actor, setting=name, value=value, previous=change.previous, live=change.live)
        )
        return change


def _default(name: str) -> Any:
    return Settings.model_fields[name].get_default(call_default_factory=True)
