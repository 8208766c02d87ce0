"""Secrets from Vault/OpenBao KV v2 (through hvac), with the settings as fallback.

The studio reads one KV v2 secret (`vault_mount`/`vault_path`) once at start-up; each key in it
overrides the setting of the same name. A missing JWT key is generated once into
`<data_dir>/secrets/jwt.key` with mode 0600, so tokens survive restarts without any hard-coded key.

Secrets typed in the app (Settings → Connections) are written to that Vault secret when Vault is in use,
otherwise to `<data_dir>/secrets/connections.json` (mode 0600). Vault's own credentials always go to the
file: they are what opens Vault.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import hvac
import hvac.exceptions
import requests.exceptions
from pydantic import SecretStr

from studio.config import Settings

log = logging.getLogger(__name__)

SECRET_NAMES = ("database_password", "jwt_secret", "jellyfin_api_key", "llm_api_key", "echo_brain_token")
SecretName = Literal["database_password", "jwt_secret", "jellyfin_api_key", "llm_api_key", "echo_brain_token"]
# Secrets a person may type in the app; the Vault credentials among them never go to Vault itself.
AppSecret = Literal["jellyfin_api_key", "llm_api_key", "echo_brain_token", "vault_token", "vault_secret_id"]
_VAULT_CREDENTIALS = ("vault_token", "vault_secret_id")
APP_SECRETS_FILE = Path("secrets") / "connections.json"


class VaultError(RuntimeError):
    """Vault is configured but could not be read; the message says what to fix."""


def read_vault_secret(settings: Settings, timeout: float = 5.0) -> dict[str, str]:
    """Log in (token or AppRole) and read the studio's KV v2 secret. Raises VaultError with a fix."""
    with _vault_errors(settings):
        response = _vault_client(settings, timeout).secrets.kv.v2.read_secret_version(
            path=settings.vault_path, mount_point=settings.vault_mount, raise_on_deleted_version=True
        )
    data = response["data"]["data"] or {}
    return {str(k): str(v) for k, v in data.items()}


def write_vault_secret(settings: Settings, name: str, value: str | None, timeout: float = 5.0) -> None:
    """Set (or, for None, remove) one key of the studio's KV v2 secret, keeping the others."""
    with _vault_errors(settings, "write"):
        kv = _vault_client(settings, timeout).secrets.kv.v2
        try:
            current = (
                kv.read_secret_version(
                    path=settings.vault_path, mount_point=settings.vault_mount, raise_on_deleted_version=True
                )["data"]["data"]
                or {}
            )
        except hvac.exceptions.InvalidPath:
            current = {}  # the first secret the studio writes creates it
        if value is None:
            current.pop(name, None)
        else:
            current[name] = value
        kv.create_or_update_secret(path=settings.vault_path, secret=current, mount_point=settings.vault_mount)


def _vault_client(settings: Settings, timeout: float) -> hvac.Client:
    addr = settings.vault_addr
    assert addr is not None
    client = hvac.Client(url=addr, timeout=timeout)
    if settings.vault_token is not None:
        client.token = settings.vault_token.get_secret_value()
    elif settings.vault_role_id and settings.vault_secret_id is not None:
        client.auth.approle.login(role_id=settings.vault_role_id, secret_id=settings.vault_secret_id.get_secret_value())
    else:
        raise VaultError(
            f"Vault at {addr} is configured but no credentials are: set STUDIO_VAULT_TOKEN, "
            "or STUDIO_VAULT_ROLE_ID and STUDIO_VAULT_SECRET_ID for AppRole"
        )
    return client


@contextlib.contextmanager
def _vault_errors(settings: Settings, verb: str = "read") -> Iterator[None]:
    """Turn hvac's and requests' exceptions into a VaultError that says what to fix."""
    addr = settings.vault_addr
    try:
        yield
    except hvac.exceptions.InvalidPath as exc:
        raise VaultError(
            f"Vault at {addr} has no secret at {settings.vault_mount}/{settings.vault_path}: "
            f"create it with `bao kv put -mount={settings.vault_mount} {settings.vault_path} jwt_secret=...`"
        ) from exc
    except hvac.exceptions.Forbidden as exc:
        raise VaultError(
            f"Vault at {addr} refused to {verb} {settings.vault_mount}/{settings.vault_path}: "
            f"the token or AppRole lacks a {verb} policy for it"
        ) from exc
    except hvac.exceptions.VaultError as exc:
        raise VaultError(f"Vault at {addr} answered with an error: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise VaultError(f"Vault at {addr} is unreachable ({type(exc).__name__}); is the server running?") from exc


@dataclass
class SecretStore:
    """Resolved secrets: Vault values first, then settings. `vault_error` says why Vault was not used."""

    settings: Settings
    vault_values: dict[str, str] = field(default_factory=dict)
    vault_error: str | None = None

    @classmethod
    def load(cls, settings: Settings) -> SecretStore:
        if not settings.vault_addr:
            return cls(settings)
        try:
            values = read_vault_secret(settings)
        except VaultError as exc:
            log.warning("%s; falling back to secrets from settings", exc)
            return cls(settings, vault_error=str(exc))
        log.info("read %d secret(s) from Vault at %s", len(values), settings.vault_addr)
        return cls(settings, vault_values=values)

    def get(self, name: SecretName) -> str | None:
        if self.vault_values.get(name):
            return self.vault_values[name]
        value = getattr(self.settings, name)
        if isinstance(value, SecretStr):
            return value.get_secret_value() or None
        return None

    def source(self, name: SecretName) -> str | None:
        """Where a secret comes from: 'vault', 'settings', or None when unset."""
        if self.vault_values.get(name):
            return "vault"
        return "settings" if getattr(self.settings, name) is not None else None

    def refresh(self) -> None:
        """Read Vault again with the current settings (its address or credentials changed). Blocking."""
        fresh = SecretStore.load(self.settings)
        self.vault_values, self.vault_error = fresh.vault_values, fresh.vault_error

    @property
    def vault_in_use(self) -> bool:
        return bool(self.settings.vault_addr) and self.vault_error is None

    def store(self, name: AppSecret, value: str | None) -> str:
        """Keep a secret typed in the app (None forgets it) and use it from now on; says where it went.

        Blocking (Vault over HTTP, a file): call it in a thread.
        """
        if self.vault_in_use and name not in _VAULT_CREDENTIALS:
            write_vault_secret(self.settings, name, value)
            if value is None:
                self.vault_values.pop(name, None)
            else:
                self.vault_values[name] = value
            where = "vault"
        else:
            saved = self.app_secrets()
            if value is None:
                saved.pop(name, None)
            else:
                saved[name] = value
            write_private_file(self.settings.data_dir / APP_SECRETS_FILE, json.dumps(saved))
            where = "data folder"
        setattr(self.settings, name, None if value is None else SecretStr(value))
        return where

    def app_secrets(self) -> dict[str, str]:
        """The secrets typed in the app and kept in the data folder (not those in Vault)."""
        path = self.settings.data_dir / APP_SECRETS_FILE
        if not path.is_file():
            return {}
        return {str(k): str(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}

    def jwt_key(self) -> str:
        """The API token signing key: Vault, then settings, then a key generated once in the data dir."""
        configured = self.get("jwt_secret")
        if configured:
            return configured
        return load_or_create_key(self.settings.data_dir / "secrets" / "jwt.key")

    def session_key(self) -> str:
        """Signs the UI session cookie. Derived from nothing else, so rotating the JWT key keeps sessions."""
        return load_or_create_key(self.settings.data_dir / "secrets" / "session.key")


def write_private_file(path: Path, text: str) -> None:
    """Replace a file atomically, readable by this user only from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def load_or_create_key(path: Path) -> str:
    """Read a key file, or create it atomically with mode 0600 (never readable by others, even briefly)."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            log.warning("%s is readable by other users (mode %o); tightening to 0600", path, mode)
            path.chmod(0o600)
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    key = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    try:
        # link() fails if another process created the key first; then we use theirs.
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text(encoding="utf-8").strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key
