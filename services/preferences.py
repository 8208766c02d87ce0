"""Per-user preferences (dark mode, later: grid sizes, default project...)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

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

    async def set(self, principal: str, key: str, value: Any, *, announce: bool = True) -> None:
        """Save one preference. Tabs saving the same new one at once all succeed; the last write wins.

        Only a change is written and announced (audited). `announce=False` remembers a value the person did not
        choose as a setting, such as the project of a page they opened by its address.
        """
        try:
            changed = await self._save(principal, key, value)
        except IntegrityError:  # another tab inserted it between our read and our insert: now it is an update
            changed = await self._save(principal, key, value)
        if changed and announce:
            await self._events.emit(PreferenceChanged(actor=principal, key=key, value=value))

    async def _save(self, principal: str, key: str, value: Any) -> bool:
        async with self._db.session() as session:
            row = await session.get(UserPreference, (principal, key))
            if row is None:
                session.add(UserPreference(principal=principal, key=key, value=value))
            elif row.value == value:
                return False
            else:
                row.value = value
                session.add(row)
        return True
