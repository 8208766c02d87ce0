"""Schema migrations with Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from studio.db import Database

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.sync_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema to `revision` in one transaction; returns the revision now in force."""
    config = alembic_config()
    with db.sync_engine.connect() as conn, _no_cascades_while_rebuilding(conn):
        with conn.begin():
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            _refuse_broken_references(conn)
    now = current_revision(db)
    log.info("database %s at schema revision %s", db.display_url, now)
    return now


@contextmanager
def _no_cascades_while_rebuilding(conn: Connection) -> Iterator[None]:
    """On SQLite, migrate with foreign keys off, as SQLite's own procedure for altering a table says.

    Batch mode changes a table by copying it and dropping the old one, and with foreign keys on, DROP TABLE first
    deletes every row, cascading: rebuilding `projects` would delete every character and image. The pragma
    cannot change inside a transaction, so it is set before one begins, and set back for the pooled connection.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()
    try:
        yield
    finally:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        conn.commit()


def _refuse_broken_references(conn: Connection) -> None:
    """With foreign keys off, SQLite would let a migration leave rows pointing nowhere: check before committing."""
    if conn.dialect.name == "sqlite":
        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            tables = ", ".join(sorted({row[0] for row in broken}))
            raise RuntimeError(f"the migration would leave {len(broken)} row(s) of {tables} pointing nowhere")


def autogenerate(message: str, scratch_dir: Path) -> None:
    """Developer tool: write a new migration from the difference between the models and head.

    Uses a scratch SQLite database brought to head, so nobody's real data is involved; review the
    generated file (SQLite and PostgreSQL both run it) before committing.
    """
    db = Database(f"sqlite:///{scratch_dir / 'scratch.db'}")
    upgrade(db)
    config = alembic_config()
    head = head_revision()
    rev_id = f"{int(head) + 1:04d}" if head and head.isdigit() else None
    with db.sync_engine.begin() as conn:
        config.attributes["connection"] = conn
        script = command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
    db.sync_engine.dispose()
    path = Path(script.path)  # type: ignore[union-attr]
    # Alembic renders JSONB's text type as a bare `Text()` it never imports.
    path.write_text(path.read_text().replace("astext_type=Text()", "astext_type=sa.Text()"))
