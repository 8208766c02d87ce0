"""Connections added in the app: GPU devices and services. Secrets never land here (see studio.secrets)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from studio.models._base import json_field, updated_at_field


class DeviceConnection(SQLModel, table=True):
    """One GPU box added in the app: the `DeviceSettings` fields besides its name."""

    __tablename__ = "device_connections"

    name: str = Field(primary_key=True, max_length=32)
    fields: dict[str, Any] = json_field(dict)
    updated_at: datetime = updated_at_field()


class ServiceConnection(SQLModel, table=True):
    """The non-secret settings of one service (Echo Brain, Jellyfin, voice, Vault) set in the app."""

    __tablename__ = "service_connections"

    service: str = Field(primary_key=True, max_length=32)
    fields: dict[str, Any] = json_field(dict)
    updated_at: datetime = updated_at_field()
