"""The Training page in chromium against a real studio process whose device trains with the fake sd-scripts
(tests/fakes/kohya, run with the studio's own Python): a run started over REST saves and scores two epochs; its
detail shows the epoch x prompt grid, the proposed epoch's badge and reason, a sample opens in the lightbox, and
Register makes the proposed epoch the character's active LoRA (checked over REST)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, expect

from services.bible.schemas import StyleDraft
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, PEACH, png
from tests.integration.test_training_export import add_images
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
FAKE_KOHYA = Path(__file__).resolve().parents[1] / "fakes" / "kohya"
NOOB = StyleDraft(name="noob", checkpoint_model="noobaiXL_v10.safetensors")
PROMPTS = ["pch, 1girl, full body", "pch, 1girl, portrait, smiling"]
WAIT = 15_000


@dataclass(frozen=True)
class Seeded:
    project_id: int
    character_id: int


async def _seed(data_dir: Path) -> Seeded:
    """A character ready to train (three approved, tagged images) with a reference image to score against,
    written into the data folder before the server starts."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        await studio.styles.create(NOOB, "seed")
        project = await studio.projects.create(GALAXY.model_copy(update={"default_style": NOOB.name}), "seed")
        peach = await studio.characters.create(project.id, PEACH, "seed")  # type: ignore[arg-type]
        await add_images(studio, peach, 3)
        await studio.characters.add_reference(peach.id, png(color=(230, 150, 170)), "peach.png", "seed")  # type: ignore[arg-type]
        return Seeded(project.id, peach.id)  # type: ignore[arg-type]
    finally:
        await studio.stop()


def _wait_for(check: Callable[[], Any], within: float, what: str) -> Any:
    """Poll until `check` returns something truthy, and return it."""
    deadline = time.monotonic() + within
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded, dict[str, Any]]]:
    """The studio process with a training device, and a finished run whose every epoch is scored."""
    root = tmp_path_factory.mktemp("training")
    seeded = asyncio.run(_seed(root / "data"))
    checkpoint = root / "models" / NOOB.checkpoint_model
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"not read by the fake beyond existing")
    device = {"name": "gpu1", "kohya_dir": str(FAKE_KOHYA), "kohya_python": sys.executable}
    env = {
        "STUDIO_DEVICES": json.dumps([device]),
        "STUDIO_TRAINING_MIN_IMAGES": "3",
        "STUDIO_JOB_CLAIM_POLL_SECONDS": "0.2",
        "FAKE_KOHYA_STEP_SECONDS": "0.02",
    }
    with StudioProcess(root / "data", env) as server, httpx.Client(base_url=f"{server.url}/api", timeout=10) as api:
        overrides = {"base_checkpoint": str(checkpoint), "epochs": 2, "repeats": 2, "sample_prompts": PROMPTS}
        started = api.post(
            f"/characters/{seeded.character_id}/training-runs",
            json={"device": "gpu1", "preset": "noobai-12gb", "overrides": overrides},
        )
        assert started.status_code == 201, started.text

        def scored() -> dict[str, Any] | None:
            run = api.get(f"/training-runs/{started.json()['id']}").json()
            done = run["state"] == "succeeded" and len(run["epochs"]) == 2
            assert run["state"] in ("queued", "running", "succeeded"), run["error"]
            unscored = any(e["score"]["scored_by"] == "not scored yet" for e in run["epochs"])
            return run if done and not unscored and run["proposal"] else None

        yield server, seeded, _wait_for(scored, 30, "the run to train and its epochs to be scored")


def test_a_scored_run_shows_its_grid_and_proposal_and_registers_the_proposed_epoch(
    trained: tuple[StudioProcess, Seeded, dict[str, Any]], browser: Browser
) -> None:
    server, seeded, run = trained
    proposed = run["proposal"]["epoch"]
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        page.goto(f"{server.url}/training?project={seeded.project_id}")
        page.get_by_test_id(f"run-details-{run['id']}").click()
        for epoch in (1, 2):
            for index in range(len(PROMPTS)):
                sample = page.get_by_alt_text(f"epoch {epoch} sample {index}", exact=True)
                expect(sample).to_be_visible(timeout=WAIT)
                # The image really loaded from the REST route (a broken one has no natural width).
                expect(sample).to_have_js_property("complete", True, timeout=WAIT)
                assert sample.evaluate("img => img.naturalWidth") > 0
        # The loss chart keeps its height in the full dialog (its canvas has none of its own).
        chart = page.locator(".q-dialog canvas").first
        expect(chart).to_be_visible(timeout=WAIT)
        assert chart.bounding_box()["height"] > 150  # type: ignore[index]
        expect(page.get_by_test_id(f"proposed-{proposed}")).to_have_text("Proposed")
        expect(page.get_by_test_id(f"proposed-{3 - proposed}")).to_have_count(0)
        expect(page.get_by_text(f"Proposed: {run['proposal']['reason']}", exact=True)).to_be_visible()

        page.get_by_alt_text("epoch 2 sample 1", exact=True).click()
        expect(page.get_by_text(f"Epoch 2 · {PROMPTS[1]}", exact=True)).to_be_visible(timeout=WAIT)
        page.keyboard.press("Escape")  # closes the lightbox, back to the run's detail
        expect(page.get_by_text(f"Epoch 2 · {PROMPTS[1]}", exact=True)).to_have_count(0, timeout=WAIT)

        page.get_by_test_id(f"register-epoch-{proposed}").click()
        expect(page.get_by_test_id("register-message")).to_contain_text(
            f"Epoch {proposed} is now the character's LoRA", timeout=WAIT
        )
        loras = httpx.get(f"{server.url}/api/characters/{seeded.character_id}/loras", timeout=10).json()
        [active] = [lora for lora in loras if lora["active"]]
        assert (active["epoch"], active["run_id"]) == (proposed, run["id"])
    finally:
        page.context.close()
