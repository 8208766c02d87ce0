"""Database engines: SQLite (WAL) by default, PostgreSQL when the URL says so.

Services use the async engine (`Database.session()`); Alembic and the CLI use the sync engine on
the same URL. The password may come from Vault (see studio.secrets) and is never part of the
configured URL string the user sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

_log = logging.getLogger(__name__)

DatabaseKind = Literal["sqlite", "postgresql"]


async def _end(session: AsyncSession, *, commit: bool) -> None:
    try:
        if commit:
            await session.commit()
        else:
            await session.rollback()
    finally:
        await session.close()


def _log_late_failure(ending: asyncio.Future[None]) -> None:
    """A session's end that failed after its caller was cancelled: nobody awaits it any more, so say it here."""
    if not ending.cancelled() and (error := ending.exception()) is not None:
        _log.warning("a cancelled task's transaction could not end cleanly: %s", error)


class DatabaseConfigError(ValueError):
    """The database URL cannot be used; the message names the fix."""


def parse_database_url(url: str, password: str | None = None) -> tuple[DatabaseKind, URL, URL]:
    """(kind, sync URL, async URL) for a configured URL, with the password filled in when given."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"STUDIO_DATABASE_URL '{url}' is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseConfigError("SQLite needs a file path, e.g. sqlite:////srv/studio/studio.db")
        return "sqlite", parsed.set(drivername="sqlite"), parsed.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "psycopg2", "postgresql", ""):
            raise DatabaseConfigError(
                f"PostgreSQL driver '{parsed.get_driver_name()}' is not installed; use postgresql+psycopg://..."
            )
        parsed = parsed.set(drivername="postgresql+psycopg")
        if password and not parsed.password:
            parsed = parsed.set(password=password)
        return "postgresql", parsed, parsed
    raise DatabaseConfigError(
        f"unsupported database '{backend}': use sqlite:///path/to/studio.db or postgresql+psycopg://user@host/db"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the pages read while a worker writes; busy_timeout makes writers wait instead of failing.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """Both engines for one database, plus an async session factory."""

    def __init__(self, url: str, password: str | None = None) -> None:
        self.kind, self.sync_url, self.async_url = parse_database_url(url, password)
        if self.kind == "sqlite":
            assert self.sync_url.database is not None
            Path(self.sync_url.database).parent.mkdir(parents=True, exist_ok=True)
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None

    @property
    def display_url(self) -> str:
        return self.sync_url.render_as_string(hide_password=True)

    @property
    def sync_engine(self) -> Engine:
        if self._sync_engine is None:
            # A ping before each use finds a PostgreSQL connection the server dropped; a SQLite file has none.
            self._sync_engine = create_engine(self.sync_url, pool_pre_ping=self.kind == "postgresql")
            if self.kind == "sqlite":
                event.listen(self._sync_engine, "connect", _sqlite_pragmas)
        return self._sync_engine

    @property
    def async_engine(self) -> AsyncEngine:
        if self._async_engine is None:
            kwargs: dict[str, Any] = {"pool_pre_ping": self.kind == "postgresql"}
            if self.kind == "postgresql":
                kwargs.update(pool_size=10, max_overflow=10, pool_timeout=10, pool_recycle=300)
            self._async_engine = create_async_engine(self.async_url, **kwargs)
            if self.kind == "sqlite":
                event.listen(self._async_engine.sync_engine, "connect", _sqlite_pragmas)
        return self._async_engine

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        if self._sessions is None:
            self._sessions = async_sessionmaker(self.async_engine, class_=AsyncSession, expire_on_commit=False)
        session = self._sessions()
        ok = False
        try:
            yield session
            ok = True
        finally:
            # Ending the transaction and handing the connection back is one step no cancellation may split: a
            # page closed (or a job cancelled) while the connection goes back to the pool would otherwise leave
            # a half-reset connection to the garbage collector, which logs it as an error.
            ending = asyncio.ensure_future(_end(session, commit=ok))
            try:
                await asyncio.shield(ending)
            except asyncio.CancelledError:
                ending.add_done_callback(_log_late_failure)
                raise

    async def ping(self) -> None:
        async with self.async_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        if self._async_engine is not None:
            await self._async_engine.dispose()
        if self._sync_engine is not None:
            self._sync_engine.dispose()
