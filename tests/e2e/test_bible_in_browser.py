"""In chromium: build a two-character bible through the pages, read the prompt preview's reasons,
then export it and import it into a second, empty studio, where it appears the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.test_browser import shot
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def studios(tmp_path: Path) -> Iterator[tuple[StudioProcess, StudioProcess]]:
    with StudioProcess(tmp_path / "one" / "data") as first, StudioProcess(tmp_path / "two" / "data") as second:
        yield first, second


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def create_character(page: Page, name: str, design: str, species: str) -> None:
    page.get_by_role("button", name="New character").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("Design prompt").fill(design)
    dialog.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text(name, exact=True)).to_be_visible()
    page.get_by_role("button", name="Edit", exact=True).last.click()
    editor = page.get_by_role("dialog")
    editor.get_by_label("Species").fill(species)
    editor.get_by_role("button", name="Save", exact=True).click()
    expect(editor.get_by_text("unsaved changes")).to_be_hidden()
    editor.get_by_role("button", name="Close editor").click()
    expect(page.get_by_text(species, exact=True)).to_be_visible()


def test_build_a_bible_preview_its_prompts_and_move_it_to_another_studio(
    studios: tuple[StudioProcess, StudioProcess], page: Page, tmp_path: Path
) -> None:
    first, second = studios
    page.goto(first.url + "/projects")
    page.get_by_role("button", name="Create your first project").click()
    page.get_by_role("dialog").get_by_label("Name").fill("Mario Galaxy")
    page.get_by_role("dialog").get_by_label("Premise").fill("Stars fall on the mushroom kingdom")
    page.get_by_role("dialog").get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_text("0 characters · no default style yet")).to_be_visible()

    # Story & World: the storyline, then a style made the project's default.
    page.get_by_role("button", name="Story & World").click()
    page.get_by_label("Summary").fill("A turtle king steals the stars; a princess gets them back.")
    page.get_by_role("button", name="Save", exact=True).first.click()
    expect(page.get_by_text("Storyline saved")).to_be_visible()
    page.get_by_role("tab", name="Generation styles").click()
    page.get_by_role("button", name="New style").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("noob")
    dialog.get_by_label("Checkpoint file").fill("noobaiXLVpred_v10.safetensors")
    expect(dialog.get_by_text("NoobAI-XL v-pred").first).to_be_visible()
    dialog.get_by_label("Width").fill("832")
    dialog.get_by_label("Height").fill("1216")
    dialog.get_by_role("button", name="Save style").click()
    page.get_by_role("button", name="Make default").click()
    expect(page.get_by_text("This project has no default style yet")).to_have_count(0)

    # Two characters, one of them not human.
    page.get_by_role("link", name="Characters").or_(page.get_by_text("Characters", exact=True)).first.click()
    create_character(page, "Koopa King", "a huge turtle king with a spiked shell, 1boy", "turtle (NOT human)")
    create_character(page, "Princess Peach", "a princess in a pink gown, 1girl", "human")
    expect(page.get_by_text("non-human")).to_have_count(1)

    # The prompt preview explains what it added and why.
    page.get_by_role("button", name="Edit", exact=True).first.click()
    editor = page.get_by_role("dialog")
    editor.get_by_role("tab", name="Prompt preview").click()
    expect(editor.get_by_text("no_humans").first).to_be_visible()
    expect(editor.get_by_text("human face").first).to_be_visible()
    expect(editor.get_by_text("NoobAI-XL v-pred").first).to_be_visible()
    expect(editor.get_by_text("turtle", exact=False).first).to_be_visible()
    shot(page, "prompt-preview")
    editor.get_by_role("button", name="Close editor").click()

    # Export from the first studio; import into the second through its Projects page.
    archive = httpx.get(f"{first.url}/api/projects/1/export", timeout=30)
    assert archive.status_code == 200
    archive_file = tmp_path / "mario_galaxy.bible.zip"
    archive_file.write_bytes(archive.content)
    page.goto(second.url + "/projects")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    page.get_by_role("button", name="Import archive").click()
    page.locator("input[type=file]").set_input_files(str(archive_file))
    expect(page.get_by_text("Imported 'Mario Galaxy'")).to_be_visible()
    expect(page.get_by_text("2 characters · style noob")).to_be_visible()

    # The same bible in both studios: same characters, same prompts, same storyline.
    def preview(studio: StudioProcess, character: int) -> dict:
        return httpx.get(f"{studio.url}/api/characters/{character}/prompt-preview", timeout=30).json()

    for character in (1, 2):
        assert preview(first, character)["positive"] == preview(second, character)["positive"]
        assert preview(first, character)["negative"] == preview(second, character)["negative"]
    story = httpx.get(f"{second.url}/api/projects/1/storyline", timeout=30).json()
    assert story["summary"] == "A turtle king steals the stars; a princess gets them back."
