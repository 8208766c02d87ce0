"""The studio process is killed (SIGKILL) in the middle of a batch; the next start finishes the batch.

Nothing is left "generating", every image lands in the dataset exactly once, and prompts ComfyUI already
had are picked up again instead of being run a second time.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA
from tests.fakes import FakeComfyUI
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
COUNT = 6


def _wait(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _batch(api: httpx.Client, batch: str) -> list[dict[str, Any]]:
    response = api.get("/api/jobs", params={"batch": batch})
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda job: job["id"])


def _prompt_jobs(fake: FakeComfyUI) -> dict[str, int]:
    """Every prompt the fake has run, with the studio job it was submitted for."""
    return {pid: entry["prompt"][3]["anime_studio_job"] for pid, entry in list(fake.history.items())}


@pytest.fixture
def fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.4) as server:
        server.models = {**server.models, "checkpoints": [*server.models["checkpoints"], COUNTERFEIT.checkpoint_model]}
        yield server


def test_a_batch_survives_the_studio_being_killed_mid_batch(tmp_path: Path, fake: FakeComfyUI) -> None:
    data_dir = tmp_path / "data"
    env = {
        "STUDIO_DEVICES": json.dumps([{"name": "gpu1", "comfyui_url": fake.url}]),
        "STUDIO_JOB_CLAIM_POLL_SECONDS": "0.5",
    }
    first = StudioProcess(data_dir, env).start()
    try:
        with httpx.Client(base_url=first.url, timeout=10) as api:
            assert api.post("/api/generation-styles", json=COUNTERFEIT.model_dump(mode="json")).status_code == 201
            project = api.post(
                "/api/projects", json=GALAXY.model_copy(update={"default_style": "counterfeit"}).model_dump(mode="json")
            )
            assert project.status_code == 201, project.text
            project_id = project.json()["id"]
            character = api.post(f"/api/projects/{project_id}/characters", json=KOOPA.model_dump(mode="json"))
            assert character.status_code == 201, character.text
            character_id = character.json()["id"]
            queued = api.post(f"/api/characters/{character_id}/generate", json={"count": COUNT})
            assert queued.status_code == 202, queued.text
            batch = queued.json()["batch"]

            def midway() -> bool:
                states = Counter(job["state"] for job in _batch(api, batch))
                return states["succeeded"] >= 1 and states["running"] >= 1

            _wait(midway, within=15, what="one image done and others running")
        assert first.proc is not None
        first.proc.send_signal(signal.SIGKILL)  # no shutdown hooks: jobs stay "running" in the database
        first.proc.wait(timeout=10)
        # Prompts ComfyUI held (or had finished) when the studio died: the restart must re-attach them.
        known_at_death = {*_prompt_jobs(fake), *(item[1] for item in fake.queue_running + fake.queue_pending)}
    finally:
        first.stop()

    with StudioProcess(data_dir, env) as second, httpx.Client(base_url=second.url, timeout=10) as api:

        def settled() -> bool:
            return all(job["state"] not in ("queued", "running") for job in _batch(api, batch))

        _wait(settled, within=20, what="the batch to finish after the restart")
        jobs = _batch(api, batch)
        assert [job["state"] for job in jobs] == ["succeeded"] * COUNT, [job["error"] for job in jobs]
        assert api.get("/api/jobs", params={"state": "running"}).json() == []

        image_ids = [i for job in jobs for i in job["result"]["image_ids"]]
        assert len(image_ids) == len(set(image_ids)) == COUNT
        for image_id in image_ids:
            image = api.get(f"/api/images/{image_id}")
            assert image.status_code == 200 and image.json()["provenance"]["job_id"] in {j["id"] for j in jobs}
        [card] = api.get(f"/api/projects/{project_id}/characters").json()
        assert card["dataset"] == {"pending": COUNT}, "no image may be stored twice"

    ran = _prompt_jobs(fake)
    runs_per_job = Counter(ran.values())
    assert all(runs_per_job[job["id"]] <= 2 for job in jobs), runs_per_job
    assert all(job["external_handle"] in ran and ran[job["external_handle"]] == job["id"] for job in jobs)
    assert all(fake.history[job["external_handle"]]["status"]["status_str"] == "success" for job in jobs)
    reattached = {ran[pid] for pid in known_at_death}
    assert reattached, "the studio died with nothing on ComfyUI: the test did not exercise a restart mid-batch"
    assert all(runs_per_job[job_id] == 1 for job_id in reattached), "a prompt ComfyUI already had ran again"
