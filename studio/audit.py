"""The audit trail: one row per emitted event, readable newest first."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import col, select

from studio.db import Database
from studio.events import StudioEvent
from studio.models import AuditRecord


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    # Events may carry datetimes, paths or UUIDs; store their text form.
    return json.loads(json.dumps(data, default=str))


class AuditTrail:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, event: StudioEvent) -> None:
        subject_type, subject_id = event.subject()
        row = AuditRecord(
            event=event.name,
            actor=event.actor,
            subject_type=subject_type,
            subject_id=subject_id,
            summary=event.summary()[:1000],
            data=_jsonable(event.data()),
        )
        async with self._db.session() as session:
            session.add(row)

    async def recent(self, limit: int = 100, event_prefix: str | None = None) -> list[AuditRecord]:
        query = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(limit)
        if event_prefix:
            query = query.where(col(AuditRecord.event).startswith(event_prefix))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())
