"""The Voices page in chromium against a real studio process, with a source's speaker groups and segment WAVs
seeded into its data folder before it starts (as an ingestion leaves them): the issue's path for a person — the
proposed speaker is confirmed for its character, approved in bulk, and the character's reference sample shows
(and the REST API agrees); the level strips are drawn and a segment plays from its audio route; the keyboard
decides; and the page fits a tablet's width."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from services.bible.schemas import CharacterDraft, ProjectDraft
from studio.config import Settings
from studio.root import Studio
from tests.studio_process import StudioProcess
from tests.ui.test_voices_page import LINES, SeededSource, seed_source

pytestmark = pytest.mark.e2e
WAIT = 15_000


@dataclass(frozen=True)
class Seeded:
    project_id: int
    koopa_id: int
    source: SeededSource


async def _seed(studio: Studio) -> Seeded:
    project = await studio.projects.create(ProjectDraft(name="Koopa's Castle"), "seed")
    koopa = await studio.characters.create(
        project.id,  # type: ignore[arg-type]
        CharacterDraft(name="Koopa King", design_prompt="a huge turtle king with a spiked shell"),
        "seed",
    )
    source = await seed_source(studio, project.id, proposed=koopa.id)  # type: ignore[arg-type]
    return Seeded(project.id, koopa.id, source)  # type: ignore[arg-type]


async def _seeded(settings: Settings) -> Seeded:
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        return await _seed(studio)
    finally:
        await studio.stop()


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded]]:
    data = tmp_path_factory.mktemp("voices") / "data"
    seeded = asyncio.run(_seeded(Settings(data_dir=data)))
    with StudioProcess(data) as server:
        yield server, seeded


def _open(browser: Browser, server: StudioProcess, seeded: Seeded, width: int = 1280, height: int = 800) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(
        f"{server.url}/voices?project={seeded.project_id}&source={seeded.source.source_id}&character={seeded.koopa_id}"
    )
    return page


def test_a_proposed_group_is_assigned_approved_in_bulk_and_gives_the_reference(
    voices: tuple[StudioProcess, Seeded], browser: Browser
) -> None:
    server, seeded = voices
    first = seeded.source.speakers[0]
    koopa_lines = [seeded.source.segments[i] for i, line in enumerate(LINES) if line[0] == 0]
    page = _open(browser, server, seeded)
    try:
        expect(page.get_by_test_id(f"proposal-{first}")).to_contain_text("Proposed: Koopa King", timeout=WAIT)
        expect(page.get_by_text("No approved samples of Koopa King yet")).to_be_visible()
        # The level strips were read from the WAVs and drawn.
        expect(page.locator("svg.voice-levels").first).to_be_visible(timeout=WAIT)
        assert page.locator("svg.voice-levels").count() == len(LINES)

        page.get_by_test_id(f"confirm-speaker-{first}").click()
        expect(page.get_by_test_id(f"assigned-{first}")).to_have_text("Assigned to Koopa King", timeout=WAIT)
        page.get_by_test_id(f"approve-speaker-{first}").click()
        for segment in koopa_lines:
            expect(page.get_by_test_id(f"decision-{segment}")).to_contain_text("approved", timeout=WAIT)
        expect(page.get_by_test_id("reference-text")).to_contain_text("Hi, I'm Koopa King", timeout=WAIT)
        expect(page.get_by_test_id("samples-count")).to_have_text("3 approved samples · 12 s of speech")

        samples = httpx.get(f"{server.url}/api/characters/{seeded.koopa_id}/voice-samples", timeout=10).json()
        assert samples["reference_id"] == seeded.source.segments[0]
        assert sorted(s["id"] for s in samples["approved"]) == sorted(koopa_lines)

        # The reference plays from the segment's audio route (the browser really loads the WAV).
        page.get_by_test_id("play-reference").click()
        audio = page.locator("audio").first
        expect(audio).to_have_attribute("src", f"/api/voice-segments/{seeded.source.segments[0]}/audio", timeout=WAIT)
        page.wait_for_function("() => document.querySelector('audio').duration > 3", timeout=WAIT)
    finally:
        page.context.close()


def test_keys_decide_and_the_page_fits_a_tablet(voices: tuple[StudioProcess, Seeded], browser: Browser) -> None:
    server, seeded = voices
    other = seeded.source.segments[1]  # Speaker 2's first line
    page = _open(browser, server, seeded, width=800, height=1100)
    try:
        expect(page.get_by_test_id(f"decision-{other}")).to_be_visible(timeout=WAIT)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a tablet"

        # On a tablet the navigation opens over the page (the shell's drawer): put it away as a person would.
        page.mouse.click(760, 400)  # on the shade beside it
        expect(page.locator(".studio-nav")).not_to_be_in_viewport(timeout=WAIT)
        page.get_by_test_id(f"decision-{other}").click()  # makes it the current segment
        page.keyboard.press("r")
        expect(page.get_by_test_id(f"decision-{other}")).to_contain_text("rejected", timeout=WAIT)
        page.keyboard.press("Control+z")
        expect(page.get_by_test_id(f"decision-{other}")).to_contain_text("pending", timeout=WAIT)
    finally:
        page.context.close()
