"""Secrets from Vault/OpenBao KV v2 (through hvac), with the settings as fallback.

The studio reads one KV v2 secret (`vault_mount`/`vault_path`) once at start-up; each key in it
overrides the setting of the same name. A missing JWT key is generated once into
`<data_dir>/secrets/jwt.key` with mode 0600, so tokens survive restarts without any hard-coded key.
"""

from __future__ import annotations

import logging
import os
import secrets
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


class VaultError(RuntimeError):
    """Vault is configured but could not be read; the message says what to fix."""


def read_vault_secret(settings: Settings, timeout: float = 5.0) -> dict[str, str]:
    """Log in (token or AppRole) and read the studio's KV v2 secret. Raises VaultError with a fix."""
    addr = settings.vault_addr
    assert addr is not None
    client = hvac.Client(url=addr, timeout=timeout)
    try:
        if settings.vault_token is not None:
            client.token = settings.vault_token.get_secret_value()
        elif settings.vault_role_id and settings.vault_secret_id is not None:
            client.auth.approle.login(
                role_id=settings.vault_role_id, secret_id=settings.vault_secret_id.get_secret_value()
            )
        else:
            raise VaultError(
                f"Vault at {addr} is configured but no credentials are: set STUDIO_VAULT_TOKEN, "
                "or STUDIO_VAULT_ROLE_ID and STUDIO_VAULT_SECRET_ID for AppRole"
            )
        response = client.secrets.kv.v2.read_secret_version(
            path=settings.vault_path, mount_point=settings.vault_mount, raise_on_deleted_version=True
        )
    except hvac.exceptions.InvalidPath as exc:
        raise VaultError(
            f"Vault at {addr} has no secret at {settings.vault_mount}/{settings.vault_path}: "
            f"create it with `bao kv put -mount={settings.vault_mount} {settings.vault_path} jwt_secret=...`"
        ) from exc
    except hvac.exceptions.Forbidden as exc:
        raise VaultError(
            f"Vault at {addr} refused to read {settings.vault_mount}/{settings.vault_path}: "
            "the token or AppRole lacks a read policy for it"
        ) from exc
    except hvac.exceptions.VaultError as exc:
        raise VaultError(f"Vault at {addr} answered with an error: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise VaultError(f"Vault at {addr} is unreachable ({type(exc).__name__}); is the server running?") from exc
    data = response["data"]["data"] or {}
    return {str(k): str(v) for k, v in data.items()}


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

    def jwt_key(self) -> str:
        """The API token signing key: Vault, then settings, then a key generated once in the data dir."""
        configured = self.get("jwt_secret")
        if configured:
            return configured
        return load_or_create_key(self.settings.data_dir / "secrets" / "jwt.key")

    def session_key(self) -> str:
        """Signs the UI session cookie. Derived from nothing else, so rotating the JWT key keeps sessions."""
        return load_or_create_key(self.settings.data_dir / "secrets" / "session.key")


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
