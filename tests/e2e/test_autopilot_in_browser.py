"""The Autopilot page in chromium against a real studio process: a project with the orchestrator on shows every
phase of the project and of each character, a gate's sentence and the decision log; Skip on a phase, confirmed,
turns it skipped and moves the character on (checked in the page and over REST)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from services.autonomy import AutopilotChanges
from services.autonomy.pipeline import CHARACTER_PHASES, PROJECT_PHASES
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA, PEACH
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
WAIT = 15_000
REASON = "Koopa King has 0 of 40 approved images: waiting for its training data"


@dataclass(frozen=True)
class Seeded:
    project_id: int
    koopa: int
    peach: int
    decision_id: int


async def _seed(data_dir: Path) -> Seeded:
    """A project of two characters without images, its orchestrator on, and one decision in its log."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        koopa = await studio.characters.create(project.id, KOOPA, "seed")  # type: ignore[arg-type]
        peach = await studio.characters.create(project.id, PEACH, "seed")  # type: ignore[arg-type]
        await studio.autonomy.config.update(project.id, AutopilotChanges(orchestrator=True), "seed")  # type: ignore[arg-type]
        decision = await studio.autonomy.log.record(
            loop="orchestrator",
            action="gate",
            outcome="blocked",
            reason=REASON,
            project_id=project.id,
            character_id=koopa.id,
            phase="training_data",
        )
        return Seeded(project.id, koopa.id, peach.id, decision.id)  # type: ignore[arg-type]
    finally:
        await studio.db.dispose()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded]]:
    root = tmp_path_factory.mktemp("autopilot")
    seeded = asyncio.run(_seed(root / "data"))
    # The loop's own passes wait an hour: the page's actions (which wake it) are what moves it here.
    with StudioProcess(root / "data", {"STUDIO_AUTOPILOT_TICK_SECONDS": "3600"}) as server:
        yield server, seeded


def test_every_phase_a_gate_and_decisions_show_and_skip_moves_a_character_on(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser
) -> None:
    server, seeded = seeded_server
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    try:
        page.goto(f"{server.url}/autopilot?project={seeded.project_id}")
        for phase in PROJECT_PHASES:
            expect(page.get_by_test_id(f"chip-project-{seeded.project_id}-{phase}")).to_be_visible(timeout=WAIT)
        for character in (seeded.koopa, seeded.peach):
            for phase in CHARACTER_PHASES:
                expect(page.get_by_test_id(f"chip-character-{character}-{phase}")).to_be_visible()
        training_data = page.get_by_test_id(f"chip-character-{seeded.koopa}-training_data")
        expect(training_data).to_have_attribute("data-status", "current")
        expect(page.get_by_test_id(f"gate-character-{seeded.koopa}-training_data")).to_have_text(
            "Koopa King has 0 of 40 approved images"
        )
        expect(page.get_by_test_id(f"decision-{seeded.decision_id}")).to_contain_text(REASON)

        page.get_by_test_id(f"skip-character-{seeded.koopa}-training_data").click()
        dialog = page.locator(".q-dialog")
        expect(dialog).to_contain_text("Skip Training data for Koopa King?", timeout=WAIT)
        dialog.get_by_role("button", name="Skip").click()
        expect(training_data).to_have_attribute("data-status", "skipped", timeout=WAIT)
        expect(page.get_by_test_id(f"override-character-{seeded.koopa}-training_data")).to_be_visible()
        expect(page.get_by_test_id(f"chip-character-{seeded.koopa}-lora_training")).to_have_attribute(
            "data-status", "current"
        )
        # The override's own decision joins the log live.
        expect(page.get_by_test_id("decisions")).to_contain_text("skipped Training data of Koopa King", timeout=WAIT)
    finally:
        page.context.close()

    pipeline = httpx.get(f"{server.url}/api/projects/{seeded.project_id}/pipeline", timeout=10).json()
    koopa = next(c for c in pipeline["characters"] if c["entity_id"] == seeded.koopa)
    assert koopa["phase"] == "lora_training"
