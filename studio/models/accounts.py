"""Studio accounts and per-user preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field, updated_at_field


class UserAccount(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    password_hash: str = Field(max_length=255)
    disabled: bool = False
    # Carried in every API token and page session; raising it ends all of them issued before.
    access_generation: int = 0
    last_login_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()


class UserPreference(SQLModel, table=True):
    """A preference of one principal (an account name, or `local` for login-free local use)."""

    __tablename__ = "user_preferences"

    principal: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=64)
    value: Any = json_field(dict)
    updated_at: datetime = updated_at_field()
