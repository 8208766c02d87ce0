"""Sampler and scheduler names are checked when a style or profile is saved: against what the devices' ComfyUI
reports once the studio has asked it, else against ComfyUI 0.3.64's names; an unknown one is refused (422),
never replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from studio.config import DeviceSettings, Settings
from studio.root import Studio
from tests.fakes import FakeComfyUI
from tests.integration.test_api import guarded_api

STYLE = {"name": "dream", "checkpoint_model": "dreamshaper_8.safetensors", "width": 512, "height": 768}


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        # A newer ComfyUI: one sampler 0.3.64 does not have.
        fake.node_specs["KSampler"]["required"]["sampler_name"].append("res_2s")
        yield fake


@pytest.fixture
async def studio(tmp_path: Path, comfy: FakeComfyUI) -> AsyncIterator[Studio]:
    built = Studio.build(
        Settings(data_dir=tmp_path / "data", devices=[DeviceSettings(name="gpu1", comfyui_url=comfy.url)])
    )
    built.migrate()
    await built.start()
    yield built
    await built.stop()


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


async def test_an_unknown_sampler_is_refused_naming_the_valid_ones(api: httpx.AsyncClient) -> None:
    response = await api.post("/generation-styles", json={**STYLE, "sampler": "Restart 2000"})
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "sampler"
    assert "unknown sampler 'Restart 2000'; ComfyUI 0.3.64 offers: ddim, ddpm, deis," in error["message"]
    assert "sa_solver_pece" in error["message"] and "DPM++ 2M Karras" in error["message"]
    assert (await api.get("/generation-styles")).json() == []

    response = await api.post("/generation-styles", json={**STYLE, "sampler": "euler", "scheduler": "bogus"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "scheduler"

    profile = await api.put(
        "/model-profiles/mine", json={"name": "mine", "match": ["mine"], "default_sampler": "Restart 2000"}
    )
    assert profile.status_code == 422 and profile.json()["errors"][0]["field"] == "default_sampler"


async def test_once_a_device_has_answered_its_own_names_count(api: httpx.AsyncClient, studio: Studio) -> None:
    # Before the studio asked the device, only 0.3.64's names are known.
    assert (await api.post("/generation-styles", json={**STYLE, "sampler": "res_2s"})).status_code == 422
    await studio.device_preflights(max_age=0)
    created = await api.post("/generation-styles", json={**STYLE, "sampler": "res_2s", "scheduler": "beta"})
    assert created.status_code == 201, created.text
    assert (created.json()["sampler"], created.json()["scheduler"]) == ("res_2s", "beta")
    refused = await api.post("/generation-styles", json={**STYLE, "name": "other", "sampler": "nope"})
    assert "ComfyUI on gpu1 offers:" in refused.json()["errors"][0]["message"]
