"""The jobs and image-generation REST API, behind the real access guard, against the fake ComfyUI."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from services.generation import read_provenance
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import NOOB_VPRED
from tests.fakes import FakeComfyUI
from tests.fakes.comfyui import DEFAULT_MODELS
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import CHECKPOINT, _character, _fake, _settings, _started, _until

LOOPBACK = ("127.0.0.1", 40000)  # loopback is always trusted: no login needed
ENGINE_KEYS = {
    "sd15_image",
    "sdxl_image",
    "sd15_ip_adapter",
    "framepack",
    "framepack_f1",
    "ltx_i2v",
    "ltx_t2v",
    "wan_t2v",
}
UNFINISHED = ("queued", "running")


@dataclass
class Rig:
    studio: Studio
    fakes: tuple[FakeComfyUI, ...]
    api: httpx.AsyncClient

    @property
    def fake(self) -> FakeComfyUI:
        return self.fakes[0]


@contextlib.asynccontextmanager
async def _serving(settings: Settings, *fakes: FakeComfyUI) -> AsyncIterator[Rig]:
    studio = await _started(settings)
    try:
        transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio") as api:
            yield Rig(studio, fakes, api)
    finally:
        await studio.stop()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    with _fake() as fake:
        async with _serving(_settings(tmp_path / "data", fake), fake) as running:
            yield running


@pytest.fixture
async def equipped(tmp_path: Path) -> AsyncIterator[Rig]:
    """A server with every engine's nodes and models, plus the counterfeit style's checkpoint."""
    models = {**DEFAULT_MODELS, "checkpoints": [*DEFAULT_MODELS["checkpoints"], CHECKPOINT]}
    with FakeComfyUI(models=models) as fake:
        async with _serving(_settings(tmp_path / "data", fake), fake) as running:
            yield running


async def _jobs(api: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await api.get("/api/jobs", params=params)
    assert response.status_code == 200, response.text
    return list(response.json())


async def _settled(api: httpx.AsyncClient, batch: str, within: float = 20.0) -> list[dict[str, Any]]:
    """The batch's jobs once none is queued or running, oldest first."""

    async def done() -> bool:
        rows = await _jobs(api, batch=batch)
        return bool(rows) and all(row["state"] not in UNFINISHED for row in rows)

    await _until(done, within, f"batch {batch} to finish")
    return sorted(await _jobs(api, batch=batch), key=lambda row: row["id"])


async def _job_settled(api: httpx.AsyncClient, job_id: int) -> dict[str, Any]:
    async def done() -> bool:
        return (await api.get(f"/api/jobs/{job_id}")).json()["state"] not in UNFINISHED

    await _until(done, what=f"job {job_id} to finish")
    return dict((await api.get(f"/api/jobs/{job_id}")).json())


async def _generate(api: httpx.AsyncClient, character: int, **body: Any) -> dict[str, Any]:
    response = await api.post(f"/api/characters/{character}/generate", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def _ids(rows: list[dict[str, Any]]) -> set[int]:
    return {row["id"] for row in rows}


async def test_generate_queues_a_batch_that_completes_and_each_job_shows_its_recipe(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    queued = await _generate(rig.api, koopa, count=3, seed_policy="increment", seed=41, pose="waving")
    batch = queued["batch"]
    assert batch and len(queued["jobs"]) == 3
    assert [j["state"] for j in queued["jobs"]] == ["queued"] * 3
    assert {j["batch"] for j in queued["jobs"]} == {batch} and {j["kind"] for j in queued["jobs"]} == {"image.generate"}
    assert [j["title"] for j in queued["jobs"]] == [f"Koopa King · image {i} of 3" for i in (1, 2, 3)]

    finished = await _settled(rig.api, batch)
    assert [j["state"] for j in finished] == ["succeeded"] * 3, [j["error"] for j in finished]
    assert _ids(finished) == _ids(queued["jobs"])
    assert all(j["ran_on"] == "gpu1" and j["progress"] == 1.0 and j["created_by"] == "local" for j in finished)
    assert all(len(j["result"]["image_ids"]) == 1 for j in finished)

    detail = (await rig.api.get(f"/api/jobs/{finished[0]['id']}")).json()
    payload = detail["payload"]
    assert payload["character_id"] == koopa and payload["style"] == "counterfeit" and payload["pose"] == "waving"
    assert payload["request"]["checkpoint"] == CHECKPOINT and "waving" in payload["request"]["positive"]
    seeds = [(await rig.api.get(f"/api/jobs/{j['id']}")).json()["payload"]["request"]["seed"] for j in finished]
    assert sorted(seeds) == [41, 42, 43]
    listed = await _jobs(rig.api, batch=batch)
    assert "payload" not in listed[0], "the list stays light; the payload is in GET /api/jobs/{id}"


async def test_jobs_filter_by_state_kind_device_and_project(tmp_path: Path) -> None:
    with _fake() as one, _fake() as two:
        async with _serving(_settings(tmp_path / "data", one, two), one, two) as rig:
            first = await _character(rig.studio)  # each in its own project
            second = await _character(rig.studio)
            done_batch = (await _generate(rig.api, first, count=1, device="gpu1"))["batch"]
            done = await _settled(rig.api, done_batch)
            assert [j["state"] for j in done] == ["succeeded"]
            two.hold()
            waiting = await _generate(rig.api, second, count=3, device="gpu2")

            async def two_submitted() -> bool:
                return len(two.queue_pending) == 2

            await _until(two_submitted, what="two prompts waiting on gpu2")
            project_of = {j["project_id"] for j in done}, {j["project_id"] for j in waiting["jobs"]}
            assert project_of[0] != project_of[1]
            waiting_ids = _ids(waiting["jobs"])

            assert _ids(await _jobs(rig.api, state=["queued", "running"])) == waiting_ids
            assert sorted(j["state"] for j in await _jobs(rig.api, batch=waiting["batch"])) == [
                "queued",
                "running",
                "running",
            ]
            assert len(await _jobs(rig.api, state="queued")) == 1
            assert _ids(await _jobs(rig.api, state="succeeded")) == _ids(done)
            assert await _jobs(rig.api, state=["failed", "cancelled"]) == []
            assert _ids(await _jobs(rig.api, kind="image.generate")) == waiting_ids | _ids(done)
            assert await _jobs(rig.api, kind="video.generate") == []
            assert _ids(await _jobs(rig.api, device="gpu1")) == _ids(done)
            assert _ids(await _jobs(rig.api, device="gpu2")) == waiting_ids
            assert _ids(await _jobs(rig.api, project_id=project_of[0].pop())) == _ids(done)
            assert _ids(await _jobs(rig.api, project_id=project_of[1].pop())) == waiting_ids
            newest = await _jobs(rig.api, limit=2)
            assert [j["id"] for j in newest] == sorted(waiting_ids, reverse=True)[:2]

            bad = await rig.api.get("/api/jobs", params={"state": "generating"})
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("state")
            two.release()  # and let them finish: stopping mid-prompt waits out the socket's close timeout
            assert [j["state"] for j in await _settled(rig.api, waiting["batch"])] == ["succeeded"] * 3


async def test_cancel_a_waiting_job_and_cancelling_it_again_conflicts(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    rig.fake.hold()
    [job] = (await _generate(rig.api, koopa, count=1))["jobs"]

    async def on_the_server() -> bool:
        return len(rig.fake.queue_pending) == 1 and (await rig.api.get(f"/api/jobs/{job['id']}")).json()["state"] == (
            "running"
        )

    await _until(on_the_server, what="the prompt to wait on ComfyUI")
    cancelled = await rig.api.delete(f"/api/jobs/{job['id']}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["error"] == "cancelled by local"

    async def dequeued() -> bool:
        return not rig.fake.queue_pending

    await _until(dequeued, within=5, what="the studio to take the prompt off ComfyUI")
    rig.fake.release()
    again = await rig.api.delete(f"/api/jobs/{job['id']}")
    assert again.status_code == 409
    assert again.json() == {
        "detail": f"job {job['id']} already cancelled; only queued or running jobs can be cancelled",
        "status": 409,
    }
    assert (await rig.api.get(f"/api/jobs/{job['id']}")).json()["state"] == "cancelled"
    assert rig.fake.executions == [], "a cancelled prompt must never reach the GPU"


async def test_retry_a_failed_job_runs_it_again_and_a_succeeded_one_conflicts(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    rig.fake.fail_next("CUDA out of memory", node_type="KSampler")
    [job] = (await _generate(rig.api, koopa, count=1))["jobs"]
    failed = await _job_settled(rig.api, job["id"])
    assert failed["state"] == "failed" and "CUDA out of memory" in failed["error"]

    retried = await rig.api.post(f"/api/jobs/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["error"]) == ("queued", None)
    succeeded = await _job_settled(rig.api, job["id"])
    assert (succeeded["state"], succeeded["attempts"], succeeded["error"]) == ("succeeded", 2, None)
    assert len(succeeded["result"]["image_ids"]) == 1

    again = await rig.api.post(f"/api/jobs/{job['id']}/retry")
    assert again.status_code == 409
    assert again.json()["detail"] == f"job {job['id']} is succeeded; only failed or cancelled jobs can be retried"


async def test_unknown_jobs_images_and_characters_are_404(rig: Rig) -> None:
    for method, path, what in (
        ("GET", "/api/jobs/424242", "job 424242"),
        ("DELETE", "/api/jobs/424242", "job 424242"),
        ("POST", "/api/jobs/424242/retry", "job 424242"),
        ("GET", "/api/images/424242", "image 424242"),
        ("GET", "/api/images/424242/file", "image 424242"),
        ("POST", "/api/images/424242/generate-again", "image 424242"),
    ):
        response = await rig.api.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": f"{what} does not exist", "status": 404}
    character = await rig.api.post("/api/characters/424242/generate", json={"count": 1})
    assert character.status_code == 404 and "424242" in character.json()["detail"]


async def test_invalid_generate_bodies_name_the_field_and_queue_nothing(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"count": 0}, "count", "greater than or equal to 1"),
        ({"count": 65}, "count", "less than or equal to 64"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"seed_policy": "increment"}, "seed", "the 'increment' seed policy needs a seed"),
        ({"device": "gpu9"}, "device", "'gpu9' is not a ComfyUI device; choose one of gpu1"),
    ]
    for body, field, message in cases:
        response = await rig.api.post(f"/api/characters/{koopa}/generate", json=body)
        assert response.status_code == 422, (body, response.text)
        error = response.json()
        assert error["status"] == 422 and [e["field"] for e in error["errors"]] == [field], (body, error)
        assert message in error["errors"][0]["message"] and message in error["detail"], (body, error)
    assert await _jobs(rig.api) == []


async def test_generate_without_a_comfyui_device_names_the_devices_setting(tmp_path: Path) -> None:
    async with _serving(Settings(data_dir=tmp_path / "data", devices=[])) as rig:
        koopa = await _character(rig.studio)
        response = await rig.api.post(f"/api/characters/{koopa}/generate", json={"count": 1})
        assert response.status_code == 503, response.text  # a missing backend, as everywhere
        error = response.json()
        assert "no device has a ComfyUI server; connect one on Settings → Connections" in error["detail"]
        assert "STUDIO_DEVICES=" in error["detail"]  # or in the environment
        assert await _jobs(rig.api) == []


async def test_an_image_shows_its_provenance_its_file_carries_it_and_it_can_be_made_again(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    batch = (await _generate(rig.api, koopa, count=1, seed_policy="fixed", seed=7))["batch"]
    [job] = await _settled(rig.api, batch)
    [image_id] = job["result"]["image_ids"]

    response = await rig.api.get(f"/api/images/{image_id}")
    assert response.status_code == 200
    image = response.json()
    assert (image["character_id"], image["source"]) == (koopa, "generated")
    assert image["source_ref"].startswith(f"comfyui:{job['external_handle']}/")
    assert image["approval_state"] == "pending" and (image["width"], image["height"]) == (512, 768)
    p = image["provenance"]
    assert (p["seed"], p["checkpoint"], p["device"], p["backend"]) == (7, CHECKPOINT, "gpu1", rig.fake.url)
    assert p["job_id"] == job["id"] and p["prompt_id"] == job["external_handle"]
    assert any(e.prompt_id == p["prompt_id"] and e.status == "success" for e in rig.fake.executions)

    file = await rig.api.get(f"/api/images/{image_id}/file")
    assert file.status_code == 200 and file.headers["content-type"] == "image/png"
    embedded = read_provenance(file.content)
    assert embedded is not None
    assert {k: embedded[k] for k in ("seed", "prompt_id", "job_id", "checkpoint", "positive")} == {
        k: p[k] for k in ("seed", "prompt_id", "job_id", "checkpoint", "positive")
    }
    with Image.open(io.BytesIO(file.content)) as png:
        assert png.format == "PNG" and png.size == (512, 768)

    again = await rig.api.post(f"/api/images/{image_id}/generate-again")
    assert again.status_code == 202, again.text
    assert again.json()["state"] == "queued" and again.json()["batch"] != batch
    repeated = await _job_settled(rig.api, again.json()["id"])
    assert repeated["state"] == "succeeded", repeated["error"]
    [new_id] = repeated["result"]["image_ids"]
    assert new_id != image_id
    new = (await rig.api.get(f"/api/images/{new_id}")).json()["provenance"]
    same = ("seed", "positive", "negative", "checkpoint", "workflow_hash")
    assert {k: new[k] for k in same} == {k: p[k] for k in same}
    assert new["job_id"] == repeated["id"] and new["prompt_id"] != p["prompt_id"]

    # A file removed by hand from the data folder: the row stays, its file answers 404 (not a server error).
    stored = await rig.studio.images.image(new_id)
    rig.studio.media.path_of(stored.file_path).unlink()
    gone = await rig.api.get(f"/api/images/{new_id}/file")
    assert gone.status_code == 404 and "missing from the data folder" in gone.json()["detail"]


async def _device(api: httpx.AsyncClient, name: str = "gpu1") -> dict[str, Any]:
    """The device's row once its worker is connected to ComfyUI."""
    found: dict[str, Any] = {}

    async def connected() -> bool:
        response = await api.get("/api/backends")
        assert response.status_code == 200, response.text
        found.update(next(d for d in response.json()["devices"] if d["name"] == name))
        return bool(found["worker"] and found["worker"]["connected"])

    await _until(connected, within=10, what=f"the worker of {name} to connect")
    return found


async def test_backends_lists_the_device_its_worker_engines_and_style_checkpoints(equipped: Rig) -> None:
    rig = equipped
    await _character(rig.studio)  # creates the counterfeit style, whose checkpoint the fake has
    await rig.studio.styles.create(NOOB_VPRED, "aiko")  # its checkpoint is there only under another name
    device = await _device(rig.api)
    assert device["comfyui_url"] == rig.fake.url and device["preflight_error"] is None
    assert device["worker"] == {"connected": True, "in_flight": 0, "last_error": None}
    engines = {e["key"]: e for e in device["engines"]}
    assert set(engines) == ENGINE_KEYS
    assert all(e["ready"] and not e["missing_nodes"] and not e["missing_models"] for e in engines.values()), engines
    checkpoints = {c["style"]: c for c in device["checkpoints"]}
    assert (checkpoints["counterfeit"]["checkpoint"], checkpoints["counterfeit"]["present"]) == (CHECKPOINT, True)
    assert checkpoints["noob-vpred"] == {
        "style": "noob-vpred",
        "checkpoint": NOOB_VPRED.checkpoint_model,
        "present": False,
        "near": ["NoobAI-XL-Vpred-v1.0.safetensors"],
        "vae": None,  # the checkpoint's own: nothing more to find
        "vae_present": True,
        "vae_near": [],
    }


async def test_a_missing_node_pack_makes_its_engine_not_ready_and_names_the_package(equipped: Rig) -> None:
    rig = equipped
    rig.fake.missing_nodes = {"FramePackSampler"}
    engines = {e["key"]: e for e in (await _device(rig.api))["engines"]}
    assert set(engines) == ENGINE_KEYS
    framepack = engines["framepack"]
    assert framepack["ready"] is False
    assert framepack["missing_nodes"] == [
        {
            "class_type": "FramePackSampler",
            # The pack that runs both FramePack engines, in place of kijai's (the fake has its loader).
            "package": "ShmuelRonen/ComfyUI-FramePackWrapper_Plus",
            "replaces": "kijai/ComfyUI-FramePackWrapper",
        }
    ]
    assert framepack["missing_models"] == []
    assert engines["framepack_f1"]["ready"] and engines["sd15_image"]["ready"], "only the engine needing it"


async def test_regenerating_a_rejected_image_uses_its_learned_negatives_and_links_back(rig: Rig) -> None:
    koopa = await _character(rig.studio)
    [job] = await _settled(rig.api, (await _generate(rig.api, koopa, count=1))["batch"])
    [image_id] = job["result"]["image_ids"]
    refused = await rig.api.post(f"/api/images/{image_id}/regenerate")
    assert refused.status_code == 422 and "only a rejected image" in refused.json()["detail"]

    decided = await rig.api.post(
        f"/api/images/{image_id}/decision", json={"state": "rejected", "categories": ["not_solo", "bad_anatomy"]}
    )
    assert decided.status_code == 200, decided.text
    learned = (await rig.api.get(f"/api/characters/{koopa}/learned-negatives")).json()
    assert learned["counts"] == {"not_solo": 1, "bad_anatomy": 1} and "multiple characters" in learned["terms"]

    response = await rig.api.post(f"/api/images/{image_id}/regenerate", params={"count": 2})
    assert response.status_code == 202, response.text
    jobs = await _settled(rig.api, response.json()["batch"])
    assert [j["state"] for j in jobs] == ["succeeded", "succeeded"], [j["error"] for j in jobs]
    for new_job in jobs:
        [new_id] = new_job["result"]["image_ids"]
        new = (await rig.api.get(f"/api/images/{new_id}")).json()
        assert new["derived_from_id"] == image_id
        assert "multiple characters" in new["provenance"]["negative"] and "bad anatomy" in new["provenance"]["negative"]
