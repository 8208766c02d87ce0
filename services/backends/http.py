"""One GET of JSON from a backend, with every way it can fail turned into a sentence a person can act on."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from services.backends.targets import Target
from services.unreachable import why_unreachable
from studio.secrets import SecretStore


class ProbeFailure(Exception):
    """The backend could not be used; `detail` says why and what to do about it."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True)
class ProbeContext:
    """Everything one probe needs: the shared client, the target, secrets and the timeout (for messages)."""

    client: httpx.AsyncClient
    target: Target
    secrets: SecretStore
    timeout: float

    @property
    def base_url(self) -> str:
        assert self.target.url is not None  # only configured targets are probed
        return self.target.url

    async def get_json(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth_hint: str | None = None,
        accept_status: Collection[int] = (),
    ) -> tuple[int, Any]:
        """GET base_url + path, decode JSON. 2xx and `accept_status` pass; anything else is a ProbeFailure."""
        response = await self.get(path, headers=headers, auth_hint=auth_hint, accept_status=accept_status)
        try:
            return response.status_code, response.json()
        except ValueError as exc:
            raise ProbeFailure(
                f"{response.url} answered HTTP {response.status_code} but not with JSON — is "
                f"{self.target.service} really at {self.base_url}?"
            ) from exc

    async def get(
        self,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth_hint: str | None = None,
        accept_status: Collection[int] = (),
    ) -> httpx.Response:
        """GET base_url + path. 2xx and `accept_status` pass; anything else is a ProbeFailure."""
        url = self.base_url + path
        try:
            response = await self.client.get(url, headers=dict(headers or {}))
        except httpx.TimeoutException as exc:
            raise ProbeFailure(self.timeout_detail()) from exc
        except httpx.ConnectError as exc:
            raise ProbeFailure(self._connect_detail(exc)) from exc
        except httpx.HTTPError as exc:
            # The connection opened but broke (reset, garbled HTTP): usually a different service on that port.
            reason = str(exc) or "no details"
            raise ProbeFailure(
                f"{type(exc).__name__} talking to {url}: {reason} — is {self.target.service} really at {self.base_url}?"
            ) from exc
        if not (response.is_success or response.status_code in accept_status):
            raise ProbeFailure(self._status_detail(response, url, auth_hint))
        return response

    def shape_error(self, path: str, what: str) -> ProbeFailure:
        """A failure for JSON lacking what the protocol promises (wrong service or incompatible version)."""
        return ProbeFailure(
            f"{self.base_url}{path} answered JSON without {what} — is {self.target.service} really there, "
            "and a supported version?"
        )

    def timeout_detail(self) -> str:
        return (
            f"no answer from {self.base_url} within {self.timeout:g} s (timed out) — is "
            f"{self.target.service} overloaded or the address wrong? (STUDIO_BACKEND_TIMEOUT_SECONDS "
            "sets the limit)"
        )

    def _connect_detail(self, exc: httpx.ConnectError) -> str:
        why = why_unreachable(exc)
        if why.kind == "refused":
            return f"connection refused at {self.base_url} — is {self.target.service} running?"
        if why.kind == "unknown_host":
            host = httpx.URL(self.base_url).host
            return f"cannot resolve the host name {host!r} of {self.base_url} — is the address right?"
        return (
            f"cannot connect to {self.base_url} ({why.reason}) — is {self.target.service} running and the "
            "address right?"
        )

    def _status_detail(self, response: httpx.Response, url: str, auth_hint: str | None) -> str:
        code = response.status_code
        if code in (401, 403):
            hint = auth_hint or "the server wants credentials the studio does not have"
            return f"HTTP {code} from {url}: {hint}"
        if code == 404:
            return f"HTTP 404 from {url} — is {self.target.service} really at {self.base_url}?"
        return f"HTTP {code} from {url} — see the log of {self.target.service}"


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty dict (so `.get` chains stay simple)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_or_none(value: Any) -> str | None:
    """A version-like field as text; numbers are accepted because some servers send them unquoted."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
