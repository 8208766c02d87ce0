"""The audit trail, written from typed events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = created_at_field()
    event: str = Field(max_length=100, index=True)
    actor: str = Field(max_length=100)
    subject_type: str | None = Field(default=None, max_length=50)
    subject_id: str | None = Field(default=None, max_length=100)
    summary: str = Field(default="", max_length=1000)
    data: dict[str, Any] = json_field(dict)
