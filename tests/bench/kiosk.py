"""Benchmark: how fast the kiosk review station shows the next image after a keypress.

Seeds a studio with 5,000 pending images of one character, starts the real server process on it, opens
`/kiosk` in Debian's chromium and approves images with the A key. The station marks the moment each
image is on screen (`performance.mark("kiosk-shown")`, after the image decoded and a frame was drawn)
with the keydown event's own timestamp, so the figure is keypress -> displayed inside the browser,
without Playwright's round trips. Between presses the bench waits a reviewer's glance (GLANCE_MS);
a second run of presses without any pause shows what holding the pace of the preloader costs.

Prints one JSON line:
{"p50_ms", "p95_ms", "burst_p50_ms", "burst_p95_ms", "images": 5000, "presses", "saved", "seed_s", "wall_s"}
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.browser import CHROMIUM_ARGS, chromium_path
from tests.dataset_helpers import drawing, seed_pending
from tests.studio_process import StudioProcess

IMAGES = 5000
PRESSES = 200
BURST = 50
WARM_UP = 5
GLANCE_MS = 250
# Generated dataset images are about this size; a 384 px test drawing would flatter the decode time.
SIDE = 768
DISTINCT = 250  # distinct pictures; each file still differs (and is fetched and decoded on its own)


async def seed_backlog(data_dir: Path, count: int) -> tuple[int, int]:
    """A project with one character (with a reference image) and `count` pending dataset images.

    Without the thumbnails and perceptual hashes the station never reads: 5,000 images in seconds.
    """
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "bench")
        character = await studio.characters.create(project.id, KOOPA, "bench")  # type: ignore[arg-type]
        await studio.characters.add_reference(character.id, drawing(99_999, (512, 768)), "koopa.png", "bench")  # type: ignore[arg-type]
        await seed_pending(studio, character, count, SIDE, distinct=DISTINCT, thumbnails=False)
        return project.id, character.id  # type: ignore[return-value]
    finally:
        await studio.stop()


def shown_marks(page: Page) -> list[dict[str, Any]]:
    return list(
        page.evaluate(
            """() => performance.getEntriesByName("kiosk-shown").map(
                   (m) => ({ at: m.startTime, keyAt: m.detail.keyAt, imageId: m.detail.imageId }))"""
        )
    )


def press_and_measure(page: Page, presses: int, glance_ms: int) -> list[float]:
    """Press A `presses` times, each after the previous image showed; keydown -> shown in ms."""
    latencies = []
    for _ in range(presses):
        before = len(shown_marks(page))
        page.keyboard.press("a")
        page.wait_for_function(
            "n => performance.getEntriesByName('kiosk-shown').length > n", arg=before, timeout=10_000
        )
        mark = shown_marks(page)[-1]
        latencies.append(mark["at"] - mark["keyAt"])
        if glance_ms:
            page.wait_for_timeout(glance_ms)
    return latencies


def _p(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


def main() -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        project_id, character_id = asyncio.run(seed_backlog(data_dir, IMAGES))
        seeded = time.monotonic() - began
        with StudioProcess(data_dir) as studio, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{studio.url}/kiosk?project={project_id}&character={character_id}")
            page.wait_for_selector("[data-shown-image]:not([data-shown-image=''])", timeout=30_000)
            press_and_measure(page, WARM_UP, GLANCE_MS)
            paced = press_and_measure(page, PRESSES, GLANCE_MS)
            burst = press_and_measure(page, BURST, 0)
            page.wait_for_selector("[data-unsaved='0']", timeout=60_000)
            with httpx.Client(base_url=studio.url, timeout=10) as api:
                approved = api.get(
                    "/api/images", params={"project_id": project_id, "state": "approved", "limit": 1}
                ).json()["total"]
            browser.close()
    print(
        json.dumps(
            {
                "p50_ms": _p(paced, 50),
                "p95_ms": _p(paced, 95),
                "burst_p50_ms": _p(burst, 50),
                "burst_p95_ms": _p(burst, 95),
                "images": IMAGES,
                "presses": PRESSES,
                "glance_ms": GLANCE_MS,
                "saved": approved,
                "expected_saved": WARM_UP + PRESSES + BURST,
                "seed_s": round(seeded, 1),
                "wall_s": round(time.monotonic() - began, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
