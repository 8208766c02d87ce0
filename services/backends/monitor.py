"""Probe every configured backend at once and announce when one becomes reachable or unreachable."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import UTC, datetime

import httpx

from services.backends.http import ProbeContext, ProbeFailure
from services.backends.probes import PROBES, ProbeResult
from services.backends.status import BackendState, BackendStatus
from services.backends.targets import Target, device_targets, plan_targets
from studio.config import DeviceSettings, Settings
from studio.events import BackendReachabilityChanged, EventBus
from studio.secrets import SecretStore

log = logging.getLogger(__name__)

# A probe makes at most two sequential requests; this caps a server that trickles bytes forever,
# which httpx's per-read timeout alone would not catch.
_REQUESTS_PER_PROBE = 2


class BackendMonitor:
    """Live reachability, version and GPU memory of every backend the settings name.

    Every backend is optional: an unreachable one is a row in state "down" and a warning in the log,
    never an exception, so the status page and the rest of the studio keep working.
    """

    def __init__(self, settings: Settings, secrets: SecretStore, events: EventBus) -> None:
        self._settings = settings
        self._secrets = secrets
        self._events = events
        self._last: list[BackendStatus] = []
        self._last_probed_at: datetime | None = None
        self._states: dict[str, BackendState] = {}  # state per key at the previous probe
        self._last_probed_monotonic: float | None = None
        self._in_flight: asyncio.Future[list[BackendStatus]] | None = None

    @property
    def last(self) -> list[BackendStatus]:
        """The result of the latest probe_all (empty before the first one)."""
        return list(self._last)

    @property
    def last_probed_at(self) -> datetime | None:
        """When the latest probe_all finished (UTC), or None."""
        return self._last_probed_at

    def targets(self) -> list[Target]:
        return plan_targets(self._settings)

    def configured(self) -> list[BackendStatus]:
        """Every row without probing, to render instantly: not_configured, or down with "not probed yet"."""
        return [self._without_probe(target) for target in self.targets()]

    async def probe_all(self) -> list[BackendStatus]:
        """Probe all configured backends concurrently; never raises for a backend's failure."""
        async with self._client() as client:
            results = await asyncio.gather(*(self._probe(client, target) for target in self.targets()))
        self._last = list(results)
        self._last_probed_at = datetime.now(UTC)
        self._last_probed_monotonic = time.monotonic()
        await self._announce(self._changes(self._last))
        return list(self._last)

    async def probe_device(self, device: DeviceSettings) -> list[BackendStatus]:
        """Probe one device's services now, whether or not it is configured (Test before Save); nothing is
        remembered or announced."""
        async with self._client() as client:
            return list(await asyncio.gather(*(self._probe(client, target) for target in device_targets(device))))

    async def current(self, max_age: float) -> list[BackendStatus]:
        """The latest probe if it is at most `max_age` seconds old, else a new one.

        Every open status page refreshes on a timer; callers arriving together share one probe, so
        ten open tabs (or kiosk screens) do not probe every backend ten times.
        """
        if self._last_probed_monotonic is not None and time.monotonic() - self._last_probed_monotonic <= max_age:
            return list(self._last)
        if self._in_flight is None:
            self._in_flight = asyncio.ensure_future(self.probe_all())
            self._in_flight.add_done_callback(self._probe_finished)
        return list(await asyncio.shield(self._in_flight))

    def _probe_finished(self, _future: asyncio.Future[list[BackendStatus]]) -> None:
        self._in_flight = None

    # --- probing ---------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        # trust_env=False: the backends are LAN services; a desktop's HTTP(S)_PROXY would misroute them.
        return httpx.AsyncClient(
            timeout=self._settings.backend_timeout_seconds, trust_env=False, headers={"User-Agent": "anime-studio"}
        )

    def _without_probe(self, target: Target) -> BackendStatus:
        status = target.unprobed()
        if target.kind == "vault" and self._secrets.vault_error:
            # Known without asking the server: the secrets could not be read at start-up.
            return dataclasses.replace(status, state="down", detail=self._secrets.vault_error)
        return status

    async def _probe(self, client: httpx.AsyncClient, target: Target) -> BackendStatus:
        if target.url is None:
            return self._without_probe(target)
        timeout = self._settings.backend_timeout_seconds
        context = ProbeContext(client=client, target=target, secrets=self._secrets, timeout=timeout)
        status = await self._run_probe(context)
        if target.kind == "vault" and self._secrets.vault_error:
            # Whatever the server says now, the studio could not read its secret: that is what to fix.
            status = dataclasses.replace(status, state="down", detail=self._secrets.vault_error)
        return status

    async def _run_probe(self, context: ProbeContext) -> BackendStatus:
        target = context.target
        started = time.perf_counter()
        try:
            async with asyncio.timeout(context.timeout * _REQUESTS_PER_PROBE + 0.5):
                result = await PROBES[target.kind](context)
        except ProbeFailure as exc:
            return target.status(state="down", detail=exc.detail)
        except TimeoutError:
            return target.status(state="down", detail=context.timeout_detail())
        except Exception as exc:
            # A bug or an answer too odd to parse; one backend must not break the whole status page.
            log.warning("probing %s at %s failed unexpectedly", target.key, target.url, exc_info=True)
            return target.status(
                state="down",
                detail=f"unexpected answer from {target.url} ({type(exc).__name__}: {exc}) — "
                f"is {target.service} really there?",
            )
        return self._with_result(target, result, latency_ms=(time.perf_counter() - started) * 1000)

    @staticmethod
    def _with_result(target: Target, result: ProbeResult, *, latency_ms: float) -> BackendStatus:
        return dataclasses.replace(
            target.status(state=result.state, detail=result.detail),
            version=result.version,
            gpus=result.gpus,
            loaded_models=result.loaded_models,
            previews=result.previews,
            latency_ms=round(latency_ms, 1),
        )

    # --- announcing ------------------------------------------------------------------------------

    def _changes(self, results: list[BackendStatus]) -> list[BackendReachabilityChanged]:
        """Events for state changes since the previous probe, updating the remembered states.

        Runs without awaiting, so concurrent probe_all calls cannot both announce the same change.
        The first probe of a backend announces only "down": a backend that is fine at start-up is
        not news, one that is unreachable is. not_configured rows are not reachability and never
        announce.
        """
        events = []
        for status in results:
            if status.state == "not_configured":
                continue
            previous = self._states.get(status.key)
            self._states[status.key] = status.state
            if status.state == previous or (previous is None and status.state == "ok"):
                continue
            events.append(
                BackendReachabilityChanged(
                    actor="studio",
                    backend=status.key,
                    url=status.url,
                    state=status.state,
                    previous=previous,
                    detail=status.detail,
                )
            )
        return events

    async def _announce(self, events: list[BackendReachabilityChanged]) -> None:
        for event in events:
            # Warning, not error: every backend is optional and being down is an expected condition.
            if event.state == "down":
                log.warning("%s is down: %s", event.backend, event.detail)
            else:
                log.info("%s is %s again (%s)", event.backend, event.state, event.detail)
            try:
                await self._events.emit(event)
            except Exception:
                # A failing audit sink must not turn a status refresh into an error page.
                log.warning("could not record %s for %s", event.name, event.backend, exc_info=True)
