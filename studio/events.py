"""Typed events: every state change another part of the studio cares about.

An event is a frozen dataclass. `EventBus.emit` first writes an audit record (so the trail never
misses an event because a subscriber failed), then calls the subscribers of that event type.
Subscribers may be sync or async; a failing subscriber is logged with its traceback and counted,
and never stops the others.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class StudioEvent:
    """Base of all events. `actor` says who caused it: a user name, `local`, or `studio` for the system."""

    name: ClassVar[str] = "event"
    # High-frequency events (job progress, preview frames) reach subscribers but not the audit trail.
    audited: ClassVar[bool] = True
    actor: str = "studio"

    def subject(self) -> tuple[str | None, str | None]:
        """(subject type, subject id) for the audit trail; None when the event is about the studio itself."""
        return None, None

    def data(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "actor"}

    def summary(self) -> str:
        """One human sentence for the activity page."""
        return self.name


E = TypeVar("E", bound=StudioEvent)
Handler = Callable[[E], Awaitable[None] | None]


class AuditSink(Protocol):
    async def record(self, event: StudioEvent) -> None: ...


class EventBus:
    """In-process publish/subscribe keyed by event class (subclasses reach base-class subscribers)."""

    def __init__(self, audit: AuditSink | None = None) -> None:
        self._audit = audit
        self._handlers: dict[type[StudioEvent], list[Handler[Any]]] = defaultdict(list)
        self.handler_failures = 0

    def attach_audit(self, audit: AuditSink) -> None:
        self._audit = audit

    def subscribe(self, event_type: type[E], handler: Handler[E]) -> Callable[[], None]:
        """Call `handler` for every emitted `event_type`; returns a function that unsubscribes."""
        self._handlers[event_type].append(handler)

        def unsubscribe() -> None:
            if handler in self._handlers[event_type]:
                self._handlers[event_type].remove(handler)

        return unsubscribe

    async def emit(self, event: StudioEvent) -> None:
        if self._audit is not None and event.audited:
            await self._audit.record(event)
        handlers = [h for cls in type(event).__mro__ if cls in self._handlers for h in list(self._handlers[cls])]
        if not handlers:
            return
        results = await asyncio.gather(*(self._call(h, event) for h in handlers), return_exceptions=True)
        for handler, result in zip(handlers, results, strict=True):
            if isinstance(result, BaseException):
                self.handler_failures += 1
                log.error("event handler %r failed for %s", handler, event.name, exc_info=result)

    @staticmethod
    async def _call(handler: Handler[Any], event: StudioEvent) -> None:
        result = handler(event)
        if inspect.isawaitable(result):
            await result


# --- the foundation's events ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StudioStarted(StudioEvent):
    name: ClassVar[str] = "studio.started"
    version: str
    database: str
    revision: str | None

    def summary(self) -> str:
        return f"Studio {self.version} started on {self.database} (schema {self.revision})"


@dataclass(frozen=True, kw_only=True)
class UserAdded(StudioEvent):
    name: ClassVar[str] = "user.added"
    user: str

    def subject(self) -> tuple[str | None, str | None]:
        return "user", self.user

    def summary(self) -> str:
        return f"User {self.user} was added"


@dataclass(frozen=True, kw_only=True)
class UserAccessChanged(StudioEvent):
    name: ClassVar[str] = "user.access_changed"
    user: str
    change: Literal["disabled", "enabled", "deleted", "signed out everywhere"]

    def subject(self) -> tuple[str | None, str | None]:
        return "user", self.user

    def summary(self) -> str:
        return f"User {self.user}: {self.change}"


@dataclass(frozen=True, kw_only=True)
class LoginSucceeded(StudioEvent):
    name: ClassVar[str] = "auth.login_succeeded"
    user: str
    client: str
    via: str  # "page" or "api"

    def subject(self) -> tuple[str | None, str | None]:
        return "user", self.user

    def summary(self) -> str:
        return f"{self.user} logged in from {self.client} ({self.via})"


@dataclass(frozen=True, kw_only=True)
class LoginFailed(StudioEvent):
    name: ClassVar[str] = "auth.login_failed"
    user: str
    client: str
    via: str

    def subject(self) -> tuple[str | None, str | None]:
        return "user", self.user

    def summary(self) -> str:
        return f"Failed login for {self.user!r} from {self.client} ({self.via})"


@dataclass(frozen=True, kw_only=True)
class BackendReachabilityChanged(StudioEvent):
    name: ClassVar[str] = "backend.reachability_changed"
    backend: str  # e.g. "comfyui@rtx3060"
    url: str | None
    state: str  # "ok" | "down"
    previous: str | None
    detail: str

    def subject(self) -> tuple[str | None, str | None]:
        return "backend", self.backend

    def summary(self) -> str:
        return f"{self.backend} is {self.state}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, kw_only=True)
class SettingChanged(StudioEvent):
    """A setting changed in the app (never a secret: the app changes none). `value` None: back to its default."""

    name: ClassVar[str] = "setting.changed"
    setting: str
    value: Any
    previous: Any
    live: bool

    def subject(self) -> tuple[str | None, str | None]:
        return "setting", self.setting

    def summary(self) -> str:
        to = "its default" if self.value is None else repr(self.value)
        return f"{self.actor} set {self.setting} to {to}" + ("" if self.live else " (from the next start)")


@dataclass(frozen=True, kw_only=True)
class PreferenceChanged(StudioEvent):
    name: ClassVar[str] = "preference.changed"
    key: str
    value: Any

    def subject(self) -> tuple[str | None, str | None]:
        return "preference", self.key

    def summary(self) -> str:
        return f"{self.actor} set {self.key} to {self.value!r}"
