"""Column helpers shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator
from sqlmodel import Column, Field

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JsonType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both databases (SQLite drops the zone; we put it back)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use studio.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def json_field(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JsonType, nullable=False))


def optional_json_field() -> Any:
    return Field(default=None, sa_column=Column(JsonType, nullable=True))


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(timezone=True), nullable=False))


def updated_at_field() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UtcDateTime(timezone=True), nullable=False, onupdate=utcnow))


def optional_time_field() -> Any:
    return Field(default=None, sa_column=Column(UtcDateTime(timezone=True), nullable=True))
