"""Filtering the Datasets grid by a tag in chromium against a real studio process: a click on a tag of the
frequency list leaves only the images with that tag, the address carries ?tag= (so a reload or a link keeps
the filter), and a second click brings every image back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from services.tags.store import MachineTag
from studio.config import Settings
from studio.models import TagSource
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import seed_pending
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
IMAGES = 6
WAIT = 15_000


@dataclass(frozen=True)
class Seeded:
    project_id: int
    koopa: int
    with_crown: list[int]


async def _seed(data_dir: Path) -> Seeded:
    """Tagged images straight into the data folder before the server starts; tags go through the tag store,
    as a tagging job would write them: every image "solo", every other one "crown"."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        koopa = await studio.characters.create(project.id, KOOPA, "seed")  # type: ignore[arg-type]
        ids = await seed_pending(studio, koopa, IMAGES)
        for n, image_id in enumerate(ids):
            tags = [MachineTag("solo", 0.95)] + ([MachineTag("crown", 0.8)] if n % 2 else [])
            await studio.tags.set_machine_tags(image_id, TagSource.TAGGER, tags)
        return Seeded(project.id, koopa.id, ids[1::2])  # type: ignore[arg-type]
    finally:
        await studio.stop()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded]]:
    data_dir = tmp_path_factory.mktemp("tags") / "data"
    seeded = asyncio.run(_seed(data_dir))
    with StudioProcess(data_dir) as studio:
        yield studio, seeded


def test_a_click_on_a_tag_filters_the_grid_and_the_address_keeps_it(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser
) -> None:
    server, seeded = seeded_server
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        page.goto(f"{server.url}/datasets?project={seeded.project_id}&character={seeded.koopa}")
        grid = page.locator(".dataset-grid img")
        expect(grid).to_have_count(IMAGES, timeout=WAIT)
        crown = page.locator(".dataset-tag-row", has_text="crown")
        expect(crown).to_contain_text(str(len(seeded.with_crown)), timeout=WAIT)

        crown.click()
        expect(grid).to_have_count(len(seeded.with_crown), timeout=WAIT)
        shown = {int(alt.split()[-1]) for alt in grid.evaluate_all("images => images.map(i => i.alt)")}
        assert shown == set(seeded.with_crown)
        expect(page).to_have_url(re.compile(r"[?&]tag=crown(&|$)"), timeout=WAIT)

        page.reload()  # the address alone brings the filter back
        expect(grid).to_have_count(len(seeded.with_crown), timeout=WAIT)
        page.locator(".dataset-tag-row", has_text="crown").click()  # again: every image
        expect(grid).to_have_count(IMAGES, timeout=WAIT)
        expect(page).not_to_have_url(re.compile(r"tag="), timeout=WAIT)
    finally:
        page.context.close()
