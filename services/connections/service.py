"""Connections set in the app: GPU devices and services, stored in the database, applied to the running studio.

The settings the studio started with (environment, `.env`, TOML) are the baseline and always win: what they
set is shown as "set by the environment" and cannot be changed here. The effective settings are the baseline
plus what the app stored, written onto the one `Settings` object every service reads, so most consumers see
a change on their next call; the few that keep state (device workers, publishing libraries, Vault's secrets)
are told through `apply`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import SecretStr, ValidationError
from sqlmodel import select

from services.connections.events import ConnectionChanged
from services.errors import BackendUnavailable, Conflict, Invalid, NotFound
from services.jobs import DeviceWorkers
from studio.config import DeviceSettings, Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import DeviceConnection, ServiceConnection
from studio.secrets import AppSecret, SecretStore, VaultError

log = logging.getLogger(__name__)

DEVICE_FIELDS = tuple(name for name in DeviceSettings.model_fields if name != "name")


@dataclass(frozen=True)
class ServiceSpec:
    label: str
    fields: tuple[str, ...]  # plain settings, stored in the database
    secrets: tuple[AppSecret, ...]  # stored in Vault or the data folder


SERVICES: dict[str, ServiceSpec] = {
    "echo_brain": ServiceSpec("Echo Brain", ("echo_brain_url",), ("echo_brain_token",)),
    "jellyfin": ServiceSpec("Jellyfin", ("jellyfin_url",), ("jellyfin_api_key",)),
    "voice": ServiceSpec("Voice service", ("voice_service_url", "voice_service_api"), ()),
    # The key every OpenAI-compatible LLM server of the devices is sent.
    "llm": ServiceSpec("LLM API key", (), ("llm_api_key",)),
    "vault": ServiceSpec(
        "Vault", ("vault_addr", "vault_role_id", "vault_mount", "vault_path"), ("vault_token", "vault_secret_id")
    ),
}


@dataclass(frozen=True)
class DeviceView:
    device: DeviceSettings
    source: Literal["environment", "app"]
    busy: int  # jobs its workers run now


@dataclass(frozen=True)
class ServiceView:
    service: str
    label: str
    values: dict[str, str | None]
    secrets: dict[str, bool]  # set or not: the value itself never leaves the studio
    environment: tuple[str, ...]  # the fields and secrets the environment sets (read-only here)


class Connections:
    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        db: Database,
        events: EventBus,
        workers: DeviceWorkers,
        on_applied: Callable[[], None],
    ) -> None:
        self._settings = settings
        # What the environment and TOML set, before anything from the app was written onto `settings`.
        self._baseline = settings.model_copy(deep=True)
        self._from_environment = frozenset(settings.model_fields_set)
        self._secrets = secrets
        self._db = db
        self._events = events
        self._workers = workers
        self._on_applied = on_applied
        self._lock = asyncio.Lock()  # one change at a time: each checks the state the previous one left

    def set_by_environment(self, field: str) -> bool:
        return field in self._from_environment

    # --- start-up --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Lay the stored connections over the baseline. Before the workers start: they are built from it."""
        async with self._db.session() as session:
            devices = list((await session.exec(select(DeviceConnection))).all())
            services = list((await session.exec(select(ServiceConnection))).all())
        for row in services:
            for field, value in row.fields.items():
                if value is not None and field in SERVICES[row.service].fields and not self.set_by_environment(field):
                    setattr(self._settings, field, value)
        for name, value in (await asyncio.to_thread(self._secrets.app_secrets)).items():
            if not self.set_by_environment(name) and name in _APP_SECRETS:
                setattr(self._settings, name, SecretStr(value))
        if any(row.service == "vault" for row in services):
            await asyncio.to_thread(self._secrets.refresh)
        await self._apply_devices(self._merged(devices))

    def _merged(self, rows: list[DeviceConnection]) -> list[DeviceSettings]:
        devices = list(self._baseline.devices)
        taken = {device.name for device in devices}
        for row in sorted(rows, key=lambda r: r.name):
            if row.name in taken:
                log.warning("device %s is set by the environment; the one added in the app is not used", row.name)
                continue
            devices.append(DeviceSettings(name=row.name, **row.fields))
        return devices

    # --- devices ---------------------------------------------------------------------------------

    def devices(self) -> list[DeviceView]:
        environment = {device.name for device in self._baseline.devices}
        return [
            DeviceView(device, "environment" if device.name in environment else "app", self._workers.busy(device.name))
            for device in self._settings.devices
        ]

    def device(self, name: str) -> DeviceView:
        found = next((view for view in self.devices() if view.device.name == name), None)
        if found is None:
            raise NotFound(f"no device named '{name}'; the devices are: {self._names() or 'none yet'}")
        return found

    @staticmethod
    def validate_device(name: str, fields: dict[str, Any]) -> DeviceSettings:
        """A device from a form or request body, or Invalid naming the field to fix."""
        try:
            return DeviceSettings(name=name, **fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"]) or "name"
            raise Invalid(field, error["msg"].removeprefix("Value error, ")) from exc

    async def add_device(self, actor: str, device: DeviceSettings) -> DeviceView:
        async with self._lock:
            if any(d.name == device.name for d in self._settings.devices):
                raise Conflict(f"a device named '{device.name}' already exists: pick another name or edit that one")
            async with self._db.session() as session:
                session.add(DeviceConnection(name=device.name, fields=_device_fields(device)))
            await self._apply_devices([*self._settings.devices, device])
            await self._events.emit(
                ConnectionChanged(actor=actor, connection=f"device {device.name}", change="added", fields=())
            )
        return self.device(device.name)

    async def update_device(self, actor: str, device: DeviceSettings) -> DeviceView:
        async with self._lock:
            current = self._changeable(device.name, "change")
            changed = tuple(f for f in DEVICE_FIELDS if getattr(current, f) != getattr(device, f))
            async with self._db.session() as session:
                row = await session.get(DeviceConnection, device.name)
                assert row is not None  # _changeable found it among the app's devices
                row.fields = _device_fields(device)
                session.add(row)
            await self._apply_devices([device if d.name == device.name else d for d in self._settings.devices])
            await self._events.emit(
                ConnectionChanged(actor=actor, connection=f"device {device.name}", change="changed", fields=changed)
            )
        return self.device(device.name)

    async def remove_device(self, actor: str, name: str) -> DeviceSettings:
        """Remove a device added in the app; returns it, so an Undo can add it again."""
        async with self._lock:
            current = self._changeable(name, "remove")
            async with self._db.session() as session:
                row = await session.get(DeviceConnection, name)
                await session.delete(row)
            await self._apply_devices([d for d in self._settings.devices if d.name != name])
            await self._events.emit(
                ConnectionChanged(actor=actor, connection=f"device {name}", change="removed", fields=())
            )
        return current

    def _changeable(self, name: str, verb: str) -> DeviceSettings:
        current = self.device(name)
        if current.source == "environment":
            raise Conflict(
                f"device '{name}' is set by the environment (STUDIO_DEVICES or the TOML file): {verb} it there "
                "and restart the studio"
            )
        if current.busy:
            # Stopping its workers now would leave the backend rendering jobs nobody collects.
            raise Conflict(
                f"device '{name}' is running {current.busy} job(s): wait until they end or cancel them on the Jobs "
                f"page, then {verb} it"
            )
        return current.device

    async def _apply_devices(self, devices: list[DeviceSettings]) -> None:
        self._settings.devices = devices
        await self._workers.apply()
        self._on_applied()

    def _names(self) -> str:
        return ", ".join(d.name for d in self._settings.devices)

    # --- services --------------------------------------------------------------------------------

    def services(self) -> list[ServiceView]:
        return [self.service(name) for name in SERVICES]

    def service(self, service: str) -> ServiceView:
        spec = _spec(service)
        return ServiceView(
            service=service,
            label=spec.label,
            values={field: _shown(getattr(self._settings, field)) for field in spec.fields},
            secrets={name: self._secrets_set(name) for name in spec.secrets},
            environment=tuple(f for f in (*spec.fields, *spec.secrets) if self.set_by_environment(f)),
        )

    def _secrets_set(self, name: AppSecret) -> bool:
        return bool(self._secrets.vault_values.get(name)) or getattr(self._settings, name) is not None

    async def update_service(self, actor: str, service: str, changes: dict[str, str | None]) -> ServiceView:
        """Set fields and secrets of a service; a field left out keeps its value, None clears it."""
        spec = _spec(service)
        async with self._lock:
            plain = {f: v for f, v in changes.items() if f in spec.fields}
            secrets = {f: v for f, v in changes.items() if f in spec.secrets}
            unknown = sorted(set(changes) - set(plain) - set(secrets))
            if unknown:
                allowed = ", ".join((*spec.fields, *spec.secrets))
                raise Invalid(unknown[0], f"{spec.label} has no such setting; it has: {allowed}")
            fixed = [f for f in changes if self.set_by_environment(f)]
            if fixed:
                raise Conflict(
                    f"{fixed[0]} is set by the environment (STUDIO_{fixed[0].upper()} or the TOML file): change "
                    "it there and restart the studio"
                )
            values = self._validated(plain)
            async with self._db.session() as session:
                row = await session.get(ServiceConnection, service) or ServiceConnection(service=service)
                # A cleared field is stored as None: the baseline's value then, even after the baseline changes.
                row.fields = {**row.fields, **{f: None if _blank(plain[f]) else _stored(v) for f, v in values.items()}}
                session.add(row)
            for field, value in values.items():
                setattr(self._settings, field, value)
            for name, secret in secrets.items():
                await self._store_secret(name, secret)  # type: ignore[arg-type]
            if service == "vault":
                await asyncio.to_thread(self._secrets.refresh)
            self._on_applied()
            await self._events.emit(
                ConnectionChanged(actor=actor, connection=f"service {service}", change="changed", fields=tuple(changes))
            )
        return self.service(service)

    def _validated(self, plain: dict[str, str | None]) -> dict[str, Any]:
        """Each value checked as the settings check it; an empty one falls back to the baseline's."""
        trial = self._settings.model_copy()
        out: dict[str, Any] = {}
        for field, value in plain.items():
            if _blank(value):
                out[field] = getattr(self._baseline, field)
                continue
            try:
                Settings.__pydantic_validator__.validate_assignment(trial, field, value)
            except ValidationError as exc:
                raise Invalid(field, exc.errors()[0]["msg"].removeprefix("Value error, ")) from exc
            out[field] = getattr(trial, field)
        return out

    async def _store_secret(self, name: AppSecret, value: str | None) -> None:
        value = value.strip() if value else None
        try:
            where = await asyncio.to_thread(self._secrets.store, name, value or None)
        except VaultError as exc:
            raise BackendUnavailable(name, f"{exc}; the secret was not saved") from exc
        log.info("secret %s %s (kept in the %s)", name, "saved" if value else "cleared", where)


_APP_SECRETS = frozenset(name for spec in SERVICES.values() for name in spec.secrets)


def _spec(service: str) -> ServiceSpec:
    if service not in SERVICES:
        raise NotFound(f"no service named '{service}'; the services are: {', '.join(SERVICES)}")
    return SERVICES[service]


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


def _device_fields(device: DeviceSettings) -> dict[str, Any]:
    return device.model_dump(mode="json", include=set(DEVICE_FIELDS))  # paths as text: a JSON column


def _shown(value: Any) -> str | None:
    return None if value is None else str(value)


def _stored(value: Any) -> Any:
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)
