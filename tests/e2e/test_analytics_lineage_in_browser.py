"""An image's lineage in chromium against a real studio process: the Analytics address naming an image opens its
tree (the original, its correction, their regenerations) focused on it; a click on another image of the tree
focuses that one, and its link opens it on the Datasets page."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.lineage_helpers import ThreeGenerations, three_generations
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
WAIT = 15_000


async def _seed(data_dir: Path) -> tuple[int, ThreeGenerations]:
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        koopa = await studio.characters.create(project.id, KOOPA, "seed")  # type: ignore[arg-type]
        return project.id, await three_generations(studio, koopa, studio.clock.now())  # type: ignore[return-value]
    finally:
        await studio.db.dispose()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, int, ThreeGenerations]]:
    root = tmp_path_factory.mktemp("lineage")
    project_id, line = asyncio.run(_seed(root / "data"))
    with StudioProcess(root / "data", {"STUDIO_AUTOPILOT_TICK_SECONDS": "3600"}) as server:
        yield server, project_id, line


def test_a_lineage_opens_and_a_click_goes_through_to_another_image(
    seeded_server: tuple[StudioProcess, int, ThreeGenerations], browser: Browser
) -> None:
    server, project_id, line = seeded_server
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        page.goto(f"{server.url}/analytics?image={line.correction}")
        for image_id in (line.root, line.correction, line.leaf, line.sibling):
            expect(page.get_by_test_id(f"lineage-node-{image_id}")).to_be_visible(timeout=WAIT)
        details = page.get_by_test_id("lineage-details")
        expect(details).to_contain_text(f"Image #{line.correction}")
        expect(details).to_contain_text(f"corrected from #{line.root}")

        page.get_by_test_id(f"lineage-node-{line.leaf}").click()
        expect(details).to_contain_text(f"Image #{line.leaf}", timeout=WAIT)
        expect(details).to_contain_text(f"regenerated from #{line.correction}")
        page.get_by_test_id("lineage-open").click()
        page.wait_for_url(f"**/datasets?project={project_id}&image={line.leaf}", timeout=WAIT)
    finally:
        page.context.close()
