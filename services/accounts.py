"""Studio accounts: create users, check passwords, slow down password guessing."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import defaultdict, deque
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from studio.auth import hash_password, verify_password
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus, LoginFailed, LoginSucceeded, UserAccessChanged, UserAdded
from studio.models import UserAccount

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
RESERVED_NAMES = frozenset({"local", "studio"})


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class LoginThrottled(AccountError):
    pass


class LoginThrottle:
    """At most `limit` failed logins per client in `window` seconds."""

    def __init__(self, clock: Clock, limit: int = 5, window: float = 300.0) -> None:
        self._clock = clock
        self._limit = limit
        self._window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _prune(self, client: str) -> deque[float]:
        failures = self._failures[client]
        cutoff = self._clock.monotonic() - self._window
        while failures and failures[0] < cutoff:
            failures.popleft()
        return failures

    def check(self, client: str) -> None:
        failures = self._prune(client)
        if not failures:
            del self._failures[client]  # forget clients that stopped failing, or the map only grows
            return
        if len(failures) >= self._limit:
            wait = int(failures[0] + self._window - self._clock.monotonic()) + 1
            raise LoginThrottled(f"too many failed logins from {client}; try again in {wait} s")

    def failed(self, client: str) -> None:
        self._prune(client).append(self._clock.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


class Accounts:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self.throttle = LoginThrottle(clock)

    async def add(self, name: str, password: str, actor: str = "studio") -> UserAccount:
        """Create a user. AccountError: bad name, short password, or the name is taken."""
        if not _USER_NAME.match(name) or name.lower() in RESERVED_NAMES:
            raise AccountError(
                "user names are 2-64 letters, digits, '.', '_' or '-', start with a letter or digit, "
                f"and are not one of: {', '.join(sorted(RESERVED_NAMES))}"
            )
        try:
            # scrypt is deliberately slow: keep it off the event loop.
            password_hash = await asyncio.to_thread(hash_password, password)
        except ValueError as exc:
            raise AccountError(str(exc)) from exc
        # A fresh account starts at a random token generation: tokens issued to an earlier, deleted
        # account of the same name must not come back to life.
        account = UserAccount(name=name, password_hash=password_hash, access_generation=secrets.randbelow(2**30))
        try:
            async with self._db.session() as session:
                session.add(account)
        except IntegrityError as exc:
            raise AccountError(f"a user named '{name}' already exists") from exc
        await self._events.emit(UserAdded(actor=actor, user=name))
        return account

    async def get(self, name: str) -> UserAccount | None:
        async with self._db.session() as session:
            return (await session.exec(select(UserAccount).where(UserAccount.name == name))).first()

    async def list(self) -> list[UserAccount]:
        async with self._db.session() as session:
            return list((await session.exec(select(UserAccount).order_by(UserAccount.name))).all())

    async def authenticate(self, name: str, password: str, client: str, via: str) -> UserAccount | None:
        """The account when name and password match; None otherwise. LoginThrottled when guessing."""
        self.throttle.check(client)
        account = await self.get(name)
        usable = account is not None and not account.disabled
        # The password is checked even for unknown or disabled names, so the time a login takes does
        # not tell which accounts exist.
        ok = await asyncio.to_thread(verify_password, password, account.password_hash if usable else None)
        if not ok or account is None:
            self.throttle.failed(client)
            await self._events.emit(LoginFailed(actor=name or "?", user=name, client=client, via=via))
            return None
        self.throttle.succeeded(client)
        async with self._db.session() as session:
            account.last_login_at = self._clock.now()
            session.add(account)
        await self._events.emit(LoginSucceeded(actor=name, user=name, client=client, via=via))
        return account

    async def admits(self, name: str, access_generation: int) -> bool:
        """Whether a token or page session of `name` from `access_generation` still lets its holder in:
        the account exists, is enabled and has not been signed out since. Asked on every request that
        is not from a trusted network: one indexed lookup, never cached, so a change holds at once in
        every studio process sharing the database."""
        query = select(UserAccount.id).where(
            UserAccount.name == name,
            col(UserAccount.disabled).is_(False),
            UserAccount.access_generation == access_generation,
        )
        async with self._db.session() as session:
            return (await session.exec(query)).first() is not None

    async def revoke(self, name: str, actor: str) -> None:
        """Sign `name` out everywhere: every API token and page session so far ends. AccountError: no such user."""
        await self._change(
            name, {"access_generation": UserAccount.access_generation + 1}, "signed out everywhere", actor
        )

    async def disable(self, name: str, actor: str) -> None:
        """Lock `name` out at once: sessions and tokens end, and stay ended if it is enabled again.
        AccountError: no such user."""
        changes = {"disabled": True, "access_generation": UserAccount.access_generation + 1}
        await self._change(name, changes, "disabled", actor)

    async def enable(self, name: str, actor: str) -> None:
        """Let `name` log in again. AccountError: no such user."""
        await self._change(name, {"disabled": False}, "enabled", actor)

    async def delete(self, name: str, actor: str) -> None:
        """Remove the account; its sessions and tokens stop working at once. AccountError: no such user."""
        async with self._db.session() as session:
            result = await session.exec(  # type: ignore[call-overload]
                delete(UserAccount).where(col(UserAccount.name) == name)
            )
        if not result.rowcount:
            raise AccountError(f"there is no user named '{name}'")
        await self._events.emit(UserAccessChanged(actor=actor, user=name, change="deleted"))

    async def _change(
        self,
        name: str,
        values: dict[str, object],
        change: Literal["disabled", "enabled", "signed out everywhere"],
        actor: str,
    ) -> None:
        # One UPDATE: the generation is raised in the database, so two processes revoking at once
        # both take effect.
        async with self._db.session() as session:
            result = await session.exec(  # type: ignore[call-overload]
                update(UserAccount).where(col(UserAccount.name) == name).values(values)
            )
        if not result.rowcount:
            raise AccountError(f"there is no user named '{name}'")
        await self._events.emit(UserAccessChanged(actor=actor, user=name, change=change))
