"""Connections added in the app, through the REST API, against fake backends: in force at once, stored in the
database and audited, environment values read-only, secrets never in an answer or the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from services.errors import Conflict
from services.generation import ImageBatchDraft
from services.jobs.comfy_worker import ComfyDeviceWorker
from studio.config import DeviceSettings, Settings
from studio.models import JobState
from studio.root import Studio
from studio.secrets import APP_SECRETS_FILE
from tests.conftest import OpenBao
from tests.fakes import FakeComfyUI
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import MODELS, _character, _finished, _until

TOKEN = "echo-token-never-shown-7f3a"


@pytest.fixture(scope="module")
def comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.05) as fake:
        fake.models = {**fake.models, **{k: list(v) for k, v in MODELS.items()}}
        yield fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, job_claim_poll_seconds=0.5)


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


def comfy_workers(studio: Studio) -> dict[str, str | None]:
    return {w.device: w.url for w in studio.workers.workers if isinstance(w, ComfyDeviceWorker)}


async def test_a_device_added_in_the_app_generates_at_once_and_stays_after_a_restart(
    studio: Studio, api: httpx.AsyncClient, comfyui: FakeComfyUI, settings: Settings
) -> None:
    tested = await api.post("/devices/test", json={"name": "gpu1", "comfyui_url": comfyui.url})
    assert tested.status_code == 200, tested.text
    [backend] = tested.json()["backends"]
    assert (backend["state"], backend["version"]) == ("ok", "0.3.64")
    assert "sd15_image" in tested.json()["engines_ready"]
    assert comfy_workers(studio) == {}  # a test saves nothing

    added = await api.post("/devices", json={"name": "gpu1", "comfyui_url": comfyui.url})
    assert added.status_code == 201, added.text
    assert (added.json()["source"], added.json()["busy"]) == ("app", 0)
    assert comfy_workers(studio) == {"gpu1": comfyui.url}
    assert next(t.key for t in studio.backends.targets()) == "comfyui@gpu1"
    [preflight] = await studio.device_preflights(max_age=0)
    assert preflight.device == "gpu1" and "sd15_image" in preflight.ready_engines

    koopa = await _character(studio)
    [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
    [done] = await _finished(studio, [job])
    assert (done.state, done.ran_on) == (JobState.SUCCEEDED, "gpu1"), done.error
    [record] = await studio.audit.recent(event_prefix="connection.")
    assert (record.actor, record.subject_type, record.subject_id) == ("local", "device", "gpu1")

    await studio.stop()
    again = Studio.build(Settings(data_dir=settings.data_dir, database_url=settings.database_url))
    again.migrate()
    await again.start()
    try:
        assert [(v.device.name, v.source) for v in again.connections.devices()] == [("gpu1", "app")]
        assert comfy_workers(again) == {"gpu1": comfyui.url}
    finally:
        await again.stop()


async def test_removing_a_device_stops_its_workers_and_is_refused_while_it_runs_a_job(
    studio: Studio, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    with FakeComfyUI(job_seconds=4) as slow:
        slow.models = {**slow.models, **{k: list(v) for k, v in MODELS.items()}}
        assert (await api.post("/devices", json={"name": "slow", "comfyui_url": slow.url})).status_code == 201
        koopa = await _character(studio)
        [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")

        async def running() -> bool:
            return studio.workers.busy("slow") == 1

        await _until(running, what="the job to run on the slow device")
        refused = await api.delete("/devices/slow")
        assert refused.status_code == 409
        assert "running 1 job(s)" in refused.json()["detail"] and "Jobs page" in refused.json()["detail"]
        changed = await api.put("/devices/slow", json={"comfyui_url": "http://127.0.0.1:9"})
        assert changed.status_code == 409
        assert comfy_workers(studio) == {"slow": slow.url}

        await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]

        async def idle() -> bool:
            return studio.workers.busy("slow") == 0

        await _until(idle, what="the cancelled job to end")
        removed = await api.delete("/devices/slow")
        assert removed.status_code == 200, removed.text
        assert removed.json()["comfyui_url"] == slow.url  # what an Undo adds back
        assert comfy_workers(studio) == {}
        assert next(t.key for t in studio.backends.targets()) == "comfyui"  # "no GPU device" again
        assert (await api.get("/devices/slow")).status_code == 404


async def test_devices_the_environment_sets_are_read_only(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[DeviceSettings(name="envbox", comfyui_url="http://127.0.0.1:9")],
    )
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as api:
            [device] = (await api.get("/devices")).json()
            assert (device["name"], device["source"]) == ("envbox", "environment")
            for refused in (await api.delete("/devices/envbox"), await api.put("/devices/envbox", json={})):
                assert refused.status_code == 409
                assert "set by the environment" in refused.json()["detail"]
            taken = await api.post("/devices", json={"name": "envbox", "llm_url": "http://127.0.0.1:9"})
            assert taken.status_code == 409
    finally:
        await studio.stop()


async def test_bad_devices_answer_422_naming_the_field(api: httpx.AsyncClient) -> None:
    cases = [
        ({"name": "GPU 1"}, "name"),
        ({"name": "cpu"}, "name"),
        ({"name": "gpu1", "comfyui_url": "ftp://host"}, "comfyui_url"),
        ({"name": "gpu1", "llm_api": "grpc"}, "llm_api"),
        ({"name": "gpu1", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        answer = await api.post("/devices", json=body)
        assert answer.status_code == 422, body
        assert answer.json()["errors"][0]["field"] == field
    assert (await api.get("/devices")).json() == []
    assert (await api.put("/devices/nobody", json={})).status_code == 404


async def test_a_service_set_in_the_app_is_used_at_once_and_its_secret_is_kept_private(
    studio: Studio, api: httpx.AsyncClient, settings: Settings
) -> None:
    answer = await api.put(
        "/connections/echo_brain", json={"echo_brain_url": "http://127.0.0.1:8309/", "echo_brain_token": TOKEN}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["values"] == {"echo_brain_url": "http://127.0.0.1:8309"}
    assert answer.json()["secrets"] == {"echo_brain_token": {"set": True}}
    assert TOKEN not in answer.text and TOKEN not in (await api.get("/connections")).text
    assert studio.settings.echo_brain_url == "http://127.0.0.1:8309"
    assert studio.secrets.get("echo_brain_token") == TOKEN
    echo = next(t for t in studio.backends.targets() if t.key == "echo_brain")
    assert echo.url == "http://127.0.0.1:8309"

    kept = settings.data_dir / APP_SECRETS_FILE
    assert kept.stat().st_mode & 0o777 == 0o600
    assert json.loads(kept.read_text()) == {"echo_brain_token": TOKEN}
    [record] = await studio.audit.recent(event_prefix="connection.")
    assert TOKEN not in json.dumps(record.data) + record.summary
    assert "echo_brain_token" in record.summary

    cleared = await api.put("/connections/echo_brain", json={"echo_brain_url": None, "echo_brain_token": None})
    assert cleared.json()["secrets"] == {"echo_brain_token": {"set": False}}
    assert studio.settings.echo_brain_url is None and studio.secrets.get("echo_brain_token") is None


async def test_bad_service_changes_answer_4xx(api: httpx.AsyncClient) -> None:
    assert (await api.put("/connections/mailer", json={})).status_code == 404
    bad_url = await api.put("/connections/jellyfin", json={"jellyfin_url": "not a url"})
    assert bad_url.status_code == 422 and bad_url.json()["errors"][0]["field"] == "jellyfin_url"
    unknown = await api.put("/connections/jellyfin", json={"echo_brain_url": "http://h:1"})
    assert unknown.status_code == 422 and "jellyfin_url" in unknown.json()["detail"]
    bad_api = await api.put("/connections/voice", json={"voice_service_api": "espeak"})
    assert bad_api.status_code == 422


async def test_services_the_environment_sets_are_read_only(tmp_path: Path, database_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, jellyfin_url="http://127.0.0.1:8096")
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        view = studio.connections.service("jellyfin")
        assert view.environment == ("jellyfin_url",)
        transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as api:
            refused = await api.put("/connections/jellyfin", json={"jellyfin_url": "http://elsewhere:8096"})
            assert refused.status_code == 409 and "STUDIO_JELLYFIN_URL" in refused.json()["detail"]
            key = await api.put("/connections/jellyfin", json={"jellyfin_api_key": "jf-key"})
            assert key.status_code == 200 and key.json()["secrets"] == {"jellyfin_api_key": {"set": True}}
        assert studio.episode_publishing.libraries()  # rebuilt with the key, still publishing
        assert studio.settings.jellyfin_url == "http://127.0.0.1:8096"
    finally:
        await studio.stop()


@pytest.mark.openbao
async def test_with_vault_in_use_a_secret_typed_in_the_app_goes_to_vault(openbao: OpenBao, tmp_path: Path) -> None:
    """Written to the studio's KV v2 secret beside the keys already there; nothing in the data folder."""
    path = f"anime-studio-connections-{tmp_path.name[-20:]}"
    openbao.run("kv", "put", "-mount=secret", path, "jwt_secret=vault-signing-key-0123456789-0123456789")
    settings = Settings(
        data_dir=tmp_path / "data", vault_addr=openbao.addr, vault_token=openbao.root_token, vault_path=path
    )
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        view = await studio.connections.update_service("aiko", "jellyfin", {"jellyfin_api_key": "jf-typed-in-app"})
        assert view.secrets == {"jellyfin_api_key": True}
        stored = json.loads(openbao.run("kv", "get", "-format=json", "-mount=secret", path))["data"]["data"]
        assert stored == {
            "jwt_secret": "vault-signing-key-0123456789-0123456789",
            "jellyfin_api_key": "jf-typed-in-app",
        }
        assert studio.secrets.get("jellyfin_api_key") == "jf-typed-in-app"
        assert not (settings.data_dir / APP_SECRETS_FILE).exists()
        with pytest.raises(Conflict, match="set by the environment"):  # the token that opens Vault is not the app's
            await studio.connections.update_service("aiko", "vault", {"vault_token": "other"})
    finally:
        await studio.stop()


async def test_services_set_in_the_app_stay_after_a_restart_and_a_cleared_one_falls_back(
    studio: Studio, api: httpx.AsyncClient, settings: Settings
) -> None:
    voice = {"voice_service_url": "http://127.0.0.1:9880", "voice_service_api": "xtts"}
    assert (await api.put("/connections/voice", json=voice)).status_code == 200
    assert (await api.put("/connections/vault", json={"vault_mount": "kv", "vault_path": ""})).status_code == 200
    assert (await api.put("/connections/vault", json={"vault_mount": None})).json()["values"]["vault_mount"] == "secret"
    assert (await api.put("/connections/llm", json={"llm_api_key": "sk-typed"})).status_code == 200
    await studio.stop()

    again = Studio.build(Settings(data_dir=settings.data_dir, database_url=settings.database_url))
    again.migrate()
    await again.start()
    try:
        assert (again.settings.voice_service_url, again.settings.voice_service_api) == ("http://127.0.0.1:9880", "xtts")
        assert (again.settings.vault_mount, again.settings.vault_path) == ("secret", "anime-studio")
        assert again.secrets.get("llm_api_key") == "sk-typed"
        assert again.connections.service("llm").secrets == {"llm_api_key": True}
    finally:
        await again.stop()
