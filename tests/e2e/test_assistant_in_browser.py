"""The assistant panel in chromium against a real studio process and a fake Echo Brain: ask on one page, then open
the panel on another page and see the same thread."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.fakes.echo_brain import FakeEchoBrain
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
KOOPA = {"name": "Koopa King", "design_prompt": "a huge turtle king with a green spiked shell"}


@pytest.fixture(scope="module")
def echo() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, echo: FakeEchoBrain) -> Iterator[StudioProcess]:
    env = {"STUDIO_ECHO_BRAIN_URL": echo.url}
    with StudioProcess(tmp_path_factory.mktemp("e2e") / "data", env) as studio:
        yield studio


def test_the_panel_shows_the_same_thread_on_two_pages(server: StudioProcess, echo: FakeEchoBrain, page: Page) -> None:
    project = httpx.post(f"{server.url}/api/projects", json={"name": "Mario Galaxy"}, timeout=30).json()
    httpx.post(f"{server.url}/api/projects/{project['id']}/characters", json=KOOPA, timeout=30).raise_for_status()
    echo.answer = "Koopa King's shell is green and spiked [1]."

    page.goto(f"{server.url}/characters?project={project['id']}")
    page.get_by_role("button", name="Assistant").click()
    question = page.get_by_placeholder("Ask about the production…")
    expect(question).to_be_visible()
    question.fill("What colour is Koopa's shell?")
    question.press("Enter")
    answer = page.get_by_text("Koopa King's shell is green and spiked [1].")
    expect(answer).to_be_visible(timeout=60_000)  # the first question loads the embedding model
    expect(page.get_by_role("link", name="Koopa King (character)")).to_be_visible()

    page.get_by_role("button", name="Assistant").click()  # closed here, opened on the next page
    page.goto(f"{server.url}/scenes?project={project['id']}")
    expect(page.get_by_test_id("page-title")).to_have_text("Scenes")
    expect(page.get_by_placeholder("Ask about the production…")).to_be_hidden()
    page.get_by_role("button", name="Assistant").click()
    expect(page.get_by_text("What colour is Koopa's shell?")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("Koopa King's shell is green and spiked [1].")).to_be_visible()
    assert "Koopa King (character)" in echo.questions[-1]["question"]
