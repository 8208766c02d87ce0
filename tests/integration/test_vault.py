"""Secrets from a real OpenBao dev server (KV v2), through hvac, with settings as the fallback."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from sqlalchemy.engine import make_url

from studio.config import Settings
from studio.db import Database
from studio.root import Studio
from studio.secrets import SecretStore
from tests.conftest import OpenBao

pytestmark = pytest.mark.openbao


@pytest.fixture
def vault_path(openbao: OpenBao, request: pytest.FixtureRequest) -> str:
    path = f"anime-studio-{request.node.name[:40]}"
    openbao.run(
        "kv",
        "put",
        "-mount=secret",
        path,
        "jwt_secret=vault-signing-key-0123456789-0123456789",
        "database_password=from-vault",
        "jellyfin_api_key=jf-from-vault",
    )
    return path


def test_secrets_come_from_vault_with_a_token(openbao: OpenBao, vault_path: str, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        vault_addr=openbao.addr,
        vault_token=openbao.root_token,
        vault_path=vault_path,
        jellyfin_api_key="jf-from-env",
        llm_api_key="llm-from-env",
    )
    secrets = SecretStore.load(settings)
    assert secrets.vault_error is None
    assert secrets.get("jellyfin_api_key") == "jf-from-vault"
    assert secrets.source("jellyfin_api_key") == "vault"
    # Not in Vault: the setting is the fallback.
    assert secrets.get("llm_api_key") == "llm-from-env"
    assert secrets.source("llm_api_key") == "settings"
    assert secrets.get("echo_brain_token") is None


def test_secrets_come_from_vault_with_approle(openbao: OpenBao, vault_path: str, tmp_path: Path) -> None:
    if "approle/" not in openbao.run("auth", "list"):
        openbao.run("auth", "enable", "approle")
    policy = f'path "secret/data/{vault_path}" {{ capabilities = ["read"] }}'
    openbao.run("policy", "write", "studio-read", "-", stdin=policy)
    openbao.run("write", "auth/approle/role/studio", "token_policies=studio-read")
    role_id = json.loads(openbao.run("read", "-format=json", "auth/approle/role/studio/role-id"))["data"]["role_id"]
    secret_id = json.loads(openbao.run("write", "-format=json", "-f", "auth/approle/role/studio/secret-id"))["data"][
        "secret_id"
    ]
    settings = Settings(
        data_dir=tmp_path,
        vault_addr=openbao.addr,
        vault_role_id=role_id,
        vault_secret_id=secret_id,
        vault_path=vault_path,
    )
    secrets = SecretStore.load(settings)
    assert secrets.vault_error is None
    assert secrets.get("database_password") == "from-vault"


def test_the_jwt_key_and_database_password_from_vault_are_used(
    openbao: OpenBao, tmp_path: Path, postgres_url: str
) -> None:
    url = make_url(postgres_url)
    # The database password lives only in Vault; the configured URL carries none.
    password = url.password or "unused-with-trust-auth"
    openbao.run(
        "kv",
        "put",
        "-mount=secret",
        "anime-studio-db",
        f"database_password={password}",
        "jwt_secret=vault-signing-key-0123456789-0123456789",
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url.set(password=None).render_as_string(hide_password=False),
        vault_addr=openbao.addr,
        vault_token=openbao.root_token,
        vault_path="anime-studio-db",
    )
    studio = Studio.build(settings)
    assert studio.db.sync_url.password == password
    assert password not in studio.db.display_url
    studio.migrate()  # a real connection, authenticated with the password from Vault
    assert studio.schema_revision is not None
    token = studio.tokens.issue("aiko", 0)
    claims = jwt.decode(token, "vault-signing-key-0123456789-0123456789", algorithms=["HS256"], issuer="anime-studio")
    assert claims["sub"] == "aiko"
    assert not (tmp_path / "data" / "secrets" / "jwt.key").exists(), "no key is generated when Vault has one"


def test_a_missing_secret_path_says_how_to_create_it(openbao: OpenBao, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        vault_addr=openbao.addr,
        vault_token=openbao.root_token,
        vault_path="no/such/path",
        jwt_secret="settings-key-0123456789-0123456789-0123",
    )
    secrets = SecretStore.load(settings)
    assert secrets.vault_error is not None and "bao kv put" in secrets.vault_error
    assert secrets.get("jwt_secret") == "settings-key-0123456789-0123456789-0123"


def test_a_wrong_token_and_an_unreachable_vault_fall_back_to_settings(openbao: OpenBao, tmp_path: Path) -> None:
    wrong = SecretStore.load(Settings(data_dir=tmp_path, vault_addr=openbao.addr, vault_token="not-a-token"))
    assert wrong.vault_error is not None and "refused" in wrong.vault_error
    down = SecretStore.load(Settings(data_dir=tmp_path, vault_addr="http://127.0.0.1:9", vault_token="x"))
    assert down.vault_error is not None and "unreachable" in down.vault_error
    # With nothing configured anywhere, a private key is generated in the data dir.
    key = down.jwt_key()
    assert (tmp_path / "secrets" / "jwt.key").read_text().strip() == key


def test_switching_to_postgresql_is_one_setting(tmp_path: Path, postgres_url: str) -> None:
    studio = Studio.build(Settings(data_dir=tmp_path / "data", database_url=postgres_url))
    studio.migrate()
    assert isinstance(studio.db, Database) and studio.db.kind == "postgresql"
    assert studio.tokens.ttl == timedelta(minutes=720)
