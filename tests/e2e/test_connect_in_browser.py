"""A fresh studio, set up from the browser: the welcome's *Connect a GPU box* leads to Settings → Connections; a
GPU box pointed at the fake ComfyUI is tested (its engines show) and saved, and Create generates an image on it —
the same studio process, no restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA
from tests.e2e.test_browser import shot
from tests.fakes import FakeComfyUI
from tests.integration.test_comfy_worker import MODELS
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        fake.models = {**fake.models, **{k: list(v) for k, v in MODELS.items()}}
        yield fake


def test_connect_a_gpu_box_in_the_browser_and_generate_without_a_restart(
    tmp_path: Path, comfyui: FakeComfyUI, browser: Browser
) -> None:
    with StudioProcess(tmp_path / "data") as studio, httpx.Client(base_url=studio.url, timeout=10) as api:
        assert studio.proc is not None
        pid = studio.proc.pid

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(studio.url)
        expect(page.get_by_role("button", name="Create sample project")).to_be_visible(timeout=20_000)
        page.get_by_role("button", name="Connect a GPU box").click()
        expect(page).to_have_url(f"{studio.url}/settings#connections")

        page.get_by_role("button", name="Connect a GPU box").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Name").fill("gpu1")
        dialog.get_by_label("ComfyUI", exact=True).fill(comfyui.url)
        dialog.get_by_role("button", name="Test").click()
        expect(dialog).to_contain_text("Engines ready: sd15_image", timeout=20_000)
        expect(dialog).to_contain_text("ComfyUI: reachable")
        expect(dialog).to_contain_text("version 0.3.64")
        expect(dialog).to_contain_text("NVIDIA GeForce RTX 3060: 12.0 GiB")
        shot(page, "connections-test")
        dialog.get_by_role("button", name="Save").click()
        expect(dialog).to_be_hidden()
        assert [d["name"] for d in api.get("/api/devices").json()] == ["gpu1"]

        # Something to generate: a style, a project and a character (made over the API, the browser's part is done).
        assert api.post("/api/generation-styles", json=COUNTERFEIT.model_dump(mode="json")).status_code == 201
        project = api.post(
            "/api/projects", json=GALAXY.model_copy(update={"default_style": COUNTERFEIT.name}).model_dump(mode="json")
        ).json()
        assert api.post(f"/api/projects/{project['id']}/characters", json=KOOPA.model_dump(mode="json")).is_success
        page.goto(f"{studio.url}/create?project={project['id']}")
        expect(page.get_by_role("button", name="Generate")).to_be_enabled(timeout=20_000)
        expect(page.get_by_text("No device has a ComfyUI server")).to_be_hidden()
        page.get_by_role("button", name="Generate").click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            jobs = api.get("/api/jobs", params={"kind": "image.generate"}).json()
            if jobs and all(job["state"] not in ("queued", "running") for job in jobs):
                break
            time.sleep(0.2)
        assert [(job["state"], job["ran_on"]) for job in jobs] == [("succeeded", "gpu1")] * len(jobs), jobs
        assert comfyui.history, "the fake ComfyUI rendered nothing"
        assert (studio.proc.pid, studio.proc.poll()) == (pid, None)  # the same process, never restarted
        shot(page, "connections-generated")
        context.close()
