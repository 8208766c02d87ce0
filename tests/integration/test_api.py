"""The REST API behind the real access guard, called from trusted and untrusted client addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from studio.api import build_api
from studio.auth import AccessGuard, AccessPolicy
from studio.config import DeviceSettings, Settings
from studio.root import Studio
from tests.fakes import FakeComfyUI

LAN_CLIENT = ("192.168.50.7", 40000)
REMOTE_CLIENT = ("203.0.113.9", 40000)
PROXY = ("10.0.0.5", 40000)

ClientFactory = Callable[[tuple[str, int]], httpx.AsyncClient]


def guarded_api(studio: Studio) -> AccessGuard:
    """The API behind the real access guard, as main.py mounts it (without the pages)."""
    return AccessGuard(
        Starlette(routes=[Mount("/api", build_api(studio))]),
        policy=studio.access,
        tokens=studio.tokens,
        accounts=studio.accounts,
        session_principal=lambda _scope: None,
        socket_of_public_page=lambda _scope: False,
    )


@pytest.fixture
async def client_from(studio: Studio) -> AsyncIterator[ClientFactory]:
    studio.access = AccessPolicy.of([ipaddress.ip_network("192.168.50.0/24")], [ipaddress.ip_network("10.0.0.5/32")])
    app = guarded_api(studio)
    clients: list[httpx.AsyncClient] = []

    def make(peer: tuple[str, int]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://studio")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def test_health_answers_without_login_and_names_the_database(client_from: ClientFactory, studio: Studio) -> None:
    response = await client_from(REMOTE_CLIENT).get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "status": "ok",
        "version": studio.version,
        "database": studio.db.kind,
        "migration": studio.schema_revision,
        "detail": "",
    }
    assert body["migration"] is not None


async def test_openapi_and_docs_are_served(client_from: ClientFactory) -> None:
    spec = (await client_from(LAN_CLIENT).get("/api/openapi.json")).json()
    assert "/health" in spec["paths"] and spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    docs = await client_from(LAN_CLIENT).get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_a_trusted_network_needs_no_login(client_from: ClientFactory) -> None:
    response = await client_from(LAN_CLIENT).get("/api/me")
    assert response.json() == {"name": "local", "via": "network"}


async def test_an_untrusted_client_must_log_in(client_from: ClientFactory) -> None:
    response = await client_from(REMOTE_CLIENT).get("/api/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "POST /api/auth/token" in response.json()["detail"]


async def test_a_spoofed_real_ip_from_an_untrusted_peer_is_refused(client_from: ClientFactory) -> None:
    client = client_from(REMOTE_CLIENT)
    for headers in (
        {"X-Real-IP": "127.0.0.1"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": "192.168.50.7", "X-Real-IP": "192.168.50.7"},
    ):
        response = await client.get("/api/me", headers=headers)
        assert response.status_code == 401, headers


async def test_a_trusted_proxy_passes_on_the_real_client(client_from: ClientFactory) -> None:
    proxy = client_from(PROXY)
    assert (await proxy.get("/api/me", headers={"X-Forwarded-For": "192.168.50.7"})).status_code == 200
    assert (await proxy.get("/api/me", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 401
    smuggled = await proxy.get("/api/me", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
    assert smuggled.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        # nginx setting only X-Real-IP passes the client's own X-Forwarded-For on.
        {"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "192.168.50.7"},
        # Caddy setting only X-Forwarded-For passes the client's own X-Real-IP on.
        {"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "192.168.50.7"},
        {"X-Forwarded-For": "192.168.50.7, 203.0.113.9", "X-Real-IP": "192.168.50.7"},
        {"X-Real-IP": ["192.168.50.7", "203.0.113.9"]},
        {"X-Forwarded-For": "192.168.50.7, not-an-address"},
    ],
)
async def test_a_client_behind_the_proxy_cannot_pass_for_a_trusted_one(
    client_from: ClientFactory, headers: dict[str, str | list[str]]
) -> None:
    proxy = client_from(PROXY)
    sent = [
        (name, value) for name, values in headers.items() for value in ([values] if isinstance(values, str) else values)
    ]
    response = await proxy.get("/api/me", headers=sent)
    assert response.status_code == 401, headers


async def test_a_proxy_setting_both_headers_properly_passes_the_client_on(client_from: ClientFactory) -> None:
    proxy = client_from(PROXY)
    # nginx with X-Real-IP $remote_addr and X-Forwarded-For $proxy_add_x_forwarded_for; the client
    # wrote the left-most hop itself.
    trusted = {"X-Real-IP": "192.168.50.7", "X-Forwarded-For": "127.0.0.1, 192.168.50.7"}
    assert (await proxy.get("/api/me", headers=trusted)).json() == {"name": "local", "via": "network"}
    remote = {"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "192.168.50.7, 203.0.113.9"}
    assert (await proxy.get("/api/me", headers=remote)).status_code == 401
    assert (await proxy.get("/api/me", headers={"X-Real-IP": "192.168.50.7"})).status_code == 200


async def test_a_local_nginx_does_not_make_a_spoofed_client_local(studio: Studio) -> None:
    # The setup: nginx on the studio's machine sets X-Real-IP only and passes the client's
    # "X-Forwarded-For: 127.0.0.1" through.
    studio.access = AccessPolicy.of([], [ipaddress.ip_network("127.0.0.1/32")])
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as nginx:
        spoofed = await nginx.get("/api/me", headers={"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "127.0.0.1"})
        assert spoofed.status_code == 401
        assert (await nginx.get("/api/me", headers={"X-Forwarded-For": "127.0.0.1"})).status_code == 401
        assert (await nginx.get("/api/me", headers={"X-Real-IP": "127.0.0.1"})).status_code == 200


async def test_a_user_gets_a_token_and_uses_it(client_from: ClientFactory, studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    client = client_from(REMOTE_CLIENT)
    response = await client.post("/api/auth/token", json={"username": "aiko", "password": "correct horse battery"})
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer" and token["expires_in"] == 720 * 60
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.json() == {"name": "aiko", "via": "token"}


async def test_bad_credentials_and_tokens_get_clear_errors(client_from: ClientFactory, studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    client = client_from(REMOTE_CLIENT)
    wrong = await client.post("/api/auth/token", json={"username": "aiko", "password": "nope-nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong user name or password"
    forged = await client.get("/api/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert forged.status_code == 401 and "not valid" in forged.json()["detail"]
    basic = await client.get("/api/me", headers={"Authorization": "Basic YWlrbzp4"})
    assert basic.status_code == 401 and "Bearer <token>" in basic.json()["detail"]


async def test_invalid_bodies_name_the_field(client_from: ClientFactory) -> None:
    response = await client_from(REMOTE_CLIENT).post("/api/auth/token", json={"username": "aiko"})
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"field": "password", "message": "Field required"}]
    assert body["detail"] == "invalid request: password: Field required"
    not_json = await client_from(REMOTE_CLIENT).post(
        "/api/auth/token", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and "invalid request" in not_json.json()["detail"]


async def test_guessing_is_throttled_over_the_api(client_from: ClientFactory, studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    client = client_from(REMOTE_CLIENT)
    for _ in range(5):
        await client.post("/api/auth/token", json={"username": "aiko", "password": "guess-guess"})
    response = await client.post("/api/auth/token", json={"username": "aiko", "password": "correct horse battery"})
    assert response.status_code == 429 and "try again" in response.json()["detail"]


async def test_unknown_routes_are_json_errors(client_from: ClientFactory) -> None:
    response = await client_from(LAN_CLIENT).get("/api/no-such-thing")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found", "status": 404}


async def test_backends_lists_devices_with_gpu_memory(tmp_path: Path) -> None:
    with FakeComfyUI() as comfyui:
        settings = Settings(
            data_dir=tmp_path / "data", devices=[DeviceSettings(name="rtx3060", comfyui_url=comfyui.url)]
        )
        studio = Studio.build(settings)
        studio.migrate()
        transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
            rows = {row["key"]: row for row in (await client.get("/api/backends")).json()["backends"]}
        await studio.stop()
    comfy = rows["comfyui@rtx3060"]
    assert (comfy["state"], comfy["version"], comfy["device"]) == ("ok", "0.3.64", "rtx3060")
    assert comfy["gpus"] == [
        {"name": "cuda:0 NVIDIA GeForce RTX 3060", "total_bytes": 12884901888, "free_bytes": 11811160064}
    ]
    assert rows["jellyfin"]["state"] == "not_configured" and "STUDIO_JELLYFIN_URL" in rows["jellyfin"]["detail"]


async def _token(client: httpx.AsyncClient, password: str = "correct horse battery") -> dict[str, str]:
    response = await client.post("/api/auth/token", json={"username": "aiko", "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_a_disabled_or_deleted_account_loses_its_tokens_at_once(
    client_from: ClientFactory, studio: Studio
) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    client = client_from(REMOTE_CLIENT)
    bearer = await _token(client)
    assert (await client.get("/api/me", headers=bearer)).status_code == 200

    await studio.accounts.disable("aiko", actor="admin")
    refused = await client.get("/api/me", headers=bearer)
    assert refused.status_code == 401 and "disabled or deleted" in refused.json()["detail"]
    wrong = await client.post("/api/auth/token", json={"username": "aiko", "password": "correct horse battery"})
    assert wrong.status_code == 401

    await studio.accounts.enable("aiko", actor="admin")
    assert (await client.get("/api/me", headers=bearer)).status_code == 401, "enabling must not revive old tokens"
    bearer = await _token(client)
    assert (await client.get("/api/me", headers=bearer)).json() == {"name": "aiko", "via": "token"}

    await studio.accounts.delete("aiko", actor="admin")
    assert (await client.get("/api/me", headers=bearer)).status_code == 401
    # A new account of the same name does not inherit the old one's tokens.
    await studio.accounts.add("aiko", "another password")
    assert (await client.get("/api/me", headers=bearer)).status_code == 401
    changes = [(r.actor, r.summary) for r in reversed(await studio.audit.recent(event_prefix="user.access"))]
    assert changes == [
        ("admin", "User aiko: disabled"),
        ("admin", "User aiko: enabled"),
        ("admin", "User aiko: deleted"),
    ]


async def test_a_user_revokes_their_own_tokens(client_from: ClientFactory, studio: Studio) -> None:
    await studio.accounts.add("aiko", "correct horse battery")
    await studio.accounts.add("ren", "another password")
    client = client_from(REMOTE_CLIENT)
    first, second = await _token(client), await _token(client)
    ren = await client.post("/api/auth/token", json={"username": "ren", "password": "another password"})
    ren_bearer = {"Authorization": f"Bearer {ren.json()['access_token']}"}

    assert (await client.post("/api/auth/revoke", headers=first)).status_code == 204
    for bearer in (first, second):
        response = await client.get("/api/me", headers=bearer)
        assert response.status_code == 401 and "revoked" in response.json()["detail"]
    assert (await client.get("/api/me", headers=ren_bearer)).status_code == 200, "only the caller's tokens end"
    assert (await client.get("/api/me", headers=await _token(client))).status_code == 200

    local = await client_from(LAN_CLIENT).post("/api/auth/revoke")
    assert local.status_code == 400 and "no account" in local.json()["detail"]


async def test_a_revocation_holds_in_every_studio_sharing_the_database(tmp_path: Path, postgres_url: str) -> None:
    """Two studio processes (own pools, one PostgreSQL, one signing key): a revocation in one holds in both."""
    studios = []
    for name in ("one", "two"):
        built = Studio.build(Settings(data_dir=tmp_path / name, database_url=postgres_url, jwt_secret="s" * 48))
        built.migrate()
        built.access = AccessPolicy()
        studios.append(built)
    await studios[0].accounts.add("aiko", "correct horse battery")
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=guarded_api(s), client=REMOTE_CLIENT), base_url="http://s")
        for s in studios
    ]
    try:
        bearer = await _token(clients[0])
        assert (await clients[1].get("/api/me", headers=bearer)).status_code == 200
        assert (await clients[1].post("/api/auth/revoke", headers=bearer)).status_code == 204
        assert (await clients[0].get("/api/me", headers=bearer)).status_code == 401
    finally:
        for client in clients:
            await client.aclose()
        for built in studios:
            await built.stop()
