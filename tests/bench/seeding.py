"""Bulk rows for benchmarks: thousands of approved dataset images and their tags, inserted in a few statements
(going through the services would measure the seeding, not the work under test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from studio.models import DatasetImage, ImageTag

_IMAGES = DatasetImage.__table__  # type: ignore[attr-defined]
_TAGS = ImageTag.__table__  # type: ignore[attr-defined]
_BATCH = 20_000


def insert_approved_images(
    conn: Connection,
    project_id: int,
    character_id: int,
    count: int,
    now: datetime,
    *,
    side: int = 512,
    folder: str = "images",
) -> list[int]:
    """`count` approved images of a character, files `<folder>/<n>.png` (the caller writes them when it needs
    them); returns their ids in order."""
    rows = [
        {
            "project_id": project_id,
            "character_id": character_id,
            "file_path": f"{folder}/{n}.png",
            "content_hash": f"{n:064d}",
            "width": side,
            "height": side,
            "source": "generated",
            "source_ref": "",
            "approval_state": "APPROVED",
            "provenance": {},
            "triage": {},
            "review": {},
            "triage_flags": "",
            "vision_status": "NONE",
            "rejection_categories": [],
            "version": 1,
            "caption": "",
            "caption_source": "",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    conn.execute(sa.insert(_IMAGES), rows)
    query = sa.select(_IMAGES.c.id).where(_IMAGES.c.character_id == character_id).order_by(_IMAGES.c.id)
    return list(conn.execute(query).scalars())


def insert_tags(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Image tag rows (image_id, tag, character_id, source, confidence, category), in batches."""
    for start in range(0, len(rows), _BATCH):
        conn.execute(sa.insert(_TAGS), [{"removed": False, **row} for row in rows[start : start + _BATCH]])


def on_scratch_postgres(run: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """`run(url)` on a throwaway database of the server `STUDIO_TEST_POSTGRES_URL` names, dropped afterwards; a
    "skipped" entry saying why when there is no such server."""
    admin = os.environ.get("STUDIO_TEST_POSTGRES_URL")
    if not admin:
        return {"skipped": "set STUDIO_TEST_POSTGRES_URL (bash scripts/test-postgres-url.sh) to measure PostgreSQL"}
    libpq = make_url(admin).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"studio_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(libpq, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        return {"skipped": f"PostgreSQL at {make_url(admin).render_as_string()} is not reachable: {exc}"}
    try:
        return run(make_url(admin).set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(libpq, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
