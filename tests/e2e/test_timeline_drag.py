"""The scene timeline in chromium against a real studio process: shot cards reordered by HTML5 drag and drop
(assets/timeline.js), the new order read back through the REST API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from services.scenes import SceneDraft, ShotDraft
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
CARDS = ".timeline-track .timeline-card"


@dataclass(frozen=True)
class Seeded:
    project_id: int
    scene_id: uuid.UUID
    shots: dict[str, uuid.UUID]  # by description


async def _seed(data_dir: Path) -> Seeded:
    """A project with one scene of three animatic shots, "a", "b" and "c", made through the services."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        scene = await studio.scenes.create(project.id, SceneDraft(title="Arrival"), "seed")  # type: ignore[arg-type]
        shots = {}
        for name in "abc":
            draft = ShotDraft(description=name, duration_seconds=2, video_engine="animatic")
            shots[name] = (await studio.scenes.add_shot(scene.id, draft, "seed")).id
        return Seeded(project.id, scene.id, shots)  # type: ignore[arg-type]
    finally:
        await studio.stop()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded]]:
    data_dir = tmp_path_factory.mktemp("timeline") / "data"
    seeded = asyncio.run(_seed(data_dir))
    with StudioProcess(data_dir) as studio:
        yield studio, seeded


def order_in_studio(server: StudioProcess, scene_id: uuid.UUID) -> list[str]:
    response = httpx.get(f"{server.url}/api/scenes/{scene_id}/shots", timeout=10)
    assert response.status_code == 200, response.text
    return [shot["description"] for shot in response.json()]


def order_on_page(page: Page, seeded: Seeded) -> list[str]:
    names = {str(shot_id): name for name, shot_id in seeded.shots.items()}
    return [names[card.get_attribute("data-shot-id") or ""] for card in page.locator(CARDS).all()]


def card(page: Page, shot_id: uuid.UUID) -> Locator:
    return page.locator(f'{CARDS}[data-shot-id="{shot_id}"]')


def test_dragging_a_shot_card_onto_another_puts_it_in_that_place(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser
) -> None:
    server, seeded = seeded_server
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.goto(f"{server.url}/scenes?project={seeded.project_id}&scene={seeded.scene_id}")
    expect(page.locator(CARDS)).to_have_count(3, timeout=15_000)
    assert order_on_page(page, seeded) == ["a", "b", "c"]
    shots = seeded.shots

    # The third card dropped on the first takes its place; the others move along.
    card(page, shots["c"]).drag_to(card(page, shots["a"]))
    page.wait_for_function(
        "first => document.querySelector('.timeline-track .timeline-card')?.dataset.shotId === first",
        arg=str(shots["c"]),
        timeout=10_000,
    )
    assert order_in_studio(server, seeded.scene_id) == ["c", "a", "b"]
    assert order_on_page(page, seeded) == ["c", "a", "b"]

    # Dragged the other way, the first card dropped on the last goes to the end.
    card(page, shots["c"]).drag_to(card(page, shots["b"]))
    page.wait_for_function(
        "last => [...document.querySelectorAll('.timeline-track .timeline-card')].at(-1)?.dataset.shotId === last",
        arg=str(shots["c"]),
        timeout=10_000,
    )
    assert order_in_studio(server, seeded.scene_id) == ["a", "b", "c"]
    assert order_on_page(page, seeded) == ["a", "b", "c"]
    page.context.close()
