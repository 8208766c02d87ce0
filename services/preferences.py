"""Per-user preferences (dark mode, later: grid sizes, default project...)."""

from __future__ import annotations

from typing import Any

from studio.db import Database
from studio.events import EventBus, PreferenceChanged
from studio.models import UserPreference


class Preferences:
    def __init__(self, db: Database, events: EventBus) -> None:
        self._db = db
        self._events = events

    async def get(self, principal: str, key: str, default: Any = None) -> Any:
        async with self._db.session() as session:
            row = await session.get(UserPreference, (principal, key))
            return default if row is None else row.value

    async def set(self, principal: str, key: str, value: Any) -> None:
        async with self._db.session() as session:
            row = await session.get(UserPreference, (principal, key))
            if row is None:
                session.add(UserPreference(principal=principal, key=key, value=value))
            else:
                row.value = value
                session.add(row)
        await self._events.emit(PreferenceChanged(actor=principal, key=key, value=value))
