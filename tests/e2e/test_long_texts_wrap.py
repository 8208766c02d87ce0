"""Long instructions (an environment variable's JSON, an address) wrap inside their box instead of being cut."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
# The widest descendant of a box, compared with the box: text that does not wrap makes it wider than its box.
OVERFLOW_JS = """box => {
  const limit = box.getBoundingClientRect().right + 1;
  return [...box.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > limit || e.scrollWidth > e.clientWidth + 1)
    .map(e => (e.textContent || e.tagName).slice(0, 80));
}"""


def assert_fits(box: Locator) -> None:
    expect(box).to_be_visible(timeout=15_000)
    assert box.evaluate(OVERFLOW_JS) == [], "text runs out of its box"


def test_status_cards_wrap_their_instructions(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/status")
    cards = page.locator("[data-testid^=backend-]")
    expect(cards.first).to_be_visible(timeout=15_000)
    for index in range(cards.count()):
        assert_fits(cards.nth(index))


def test_the_assistant_and_create_notices_wrap(server: StudioProcess, page: Page) -> None:
    project = httpx.post(server.url + "/api/projects", json={"name": "Wrap"}).json()["id"]
    page.goto(f"{server.url}/create?project={project}")
    assert_fits(page.locator(".q-card", has_text="No device has a ComfyUI server"))
    page.get_by_role("button", name="Assistant").first.click()
    assert_fits(page.locator(".q-card", has_text="No assistant is set up"))
