"""The review station on a phone (390 x 844, touch): image, reference and decisions on one screen without
scrolling, no studio header, assistant or keyboard legend; a swipe right approves, a swipe left opens the
reasons and a tap on one rejects. The decisions are read back through the REST API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import drawing, seed_pending
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
STATION = ".kiosk-station"
PHONE = {"width": 390, "height": 844}


async def _seed(data_dir: Path) -> tuple[int, int]:
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        character = await studio.characters.create(project.id, KOOPA, "seed")  # type: ignore[arg-type]
        await studio.characters.add_reference(character.id, drawing(9100), "ref.png", "seed")  # type: ignore[arg-type]
        await seed_pending(studio, character, 4)
        return project.id, character.id  # type: ignore[return-value]
    finally:
        await studio.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, int, int]]:
    data_dir = tmp_path_factory.mktemp("kiosk-phone") / "data"
    project_id, character_id = asyncio.run(_seed(data_dir))
    with StudioProcess(data_dir) as studio:
        yield studio, project_id, character_id


def shown(page: Page) -> int:
    value = page.locator(STATION).get_attribute("data-shown-image")
    assert value, "the station shows no image"
    return int(value)


def next_shown(page: Page, before: int) -> None:
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).dataset.shownImage !== String(before)",
        arg=[STATION, before],
        timeout=10_000,
    )


def swipe(page: Page, dx: int) -> None:
    """A finger across the image, as touch events the page receives. (Chromium's input emulation stops making
    clicks of later taps after a synthesized drag, so the drag is dispatched to the page itself.)"""
    page.locator(".kiosk-image").evaluate(
        """(image, dx) => {
            const box = image.getBoundingClientRect();
            const x = box.left + box.width / 2 - dx / 2, y = box.top + box.height / 2;
            const touch = (at) => new Touch({ identifier: 1, target: image, clientX: at, clientY: y });
            const send = (type, at) => image.dispatchEvent(new TouchEvent(type, {
                bubbles: true, cancelable: true, touches: type === "touchend" ? [] : [touch(at)],
                changedTouches: [touch(at)] }));
            send("touchstart", x);
            for (let step = 1; step <= 5; step += 1) send("touchmove", x + (dx * step) / 5);
            send("touchend", x + dx);
        }""",
        dx,
    )


def within_screen(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not shown"
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], f"{selector} is off screen: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{selector} is off screen: {box}"


def test_a_phone_approves_with_a_swipe_and_rejects_with_a_reason_without_scrolling(
    server: tuple[StudioProcess, int, int], browser: Browser
) -> None:
    studio, project_id, character_id = server
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    page = context.new_page()
    page.goto(f"{studio.url}/kiosk?project={project_id}&character={character_id}")
    expect(page.locator(STATION)).not_to_have_attribute("data-shown-image", "", timeout=15_000)
    expect(page.locator(".kiosk-image")).to_be_visible()
    expect(page.locator(".kiosk-reference")).to_be_visible()

    # Everything a decision needs is on the one screen, and there is nothing to scroll to.
    for selector in (
        ".kiosk-image",
        ".kiosk-reference",
        "[data-testid=kiosk-approve]",
        "[data-testid=kiosk-reasons-button]",
        "[aria-label='Leave the review station']",  # the way out, with the studio header hidden
    ):
        within_screen(page, selector)
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight + 1")
    # Really the whole screen: no studio header (nor its assistant button), no keyboard legend.
    expect(page.locator(".studio-header")).to_be_hidden()
    expect(page.get_by_role("button", name="Assistant")).to_be_hidden()
    expect(page.locator(".kiosk-legend")).to_be_hidden()
    expect(page.locator(".kiosk-keys")).to_be_hidden()
    expect(page.get_by_test_id("kiosk-reasons")).to_be_hidden()

    approved = shown(page)
    swipe(page, 200)
    next_shown(page, approved)

    rejected = shown(page)
    swipe(page, -200)
    expect(page.get_by_test_id("kiosk-reasons")).to_be_visible()
    within_screen(page, ".kiosk-reasons-cancel")
    page.get_by_role("button", name="2 Wrong style").tap()
    next_shown(page, rejected)
    expect(page.get_by_test_id("kiosk-reasons")).to_be_hidden()

    # A tap on "Reject…" opens the same reasons, and Cancel leaves the image undecided.
    kept = shown(page)
    page.get_by_test_id("kiosk-reasons-button").tap()
    expect(page.get_by_test_id("kiosk-reasons")).to_be_visible()
    page.get_by_role("button", name="Cancel").tap()
    expect(page.get_by_test_id("kiosk-reasons")).to_be_hidden()
    assert shown(page) == kept
    assert page.evaluate("window.scrollY") == 0

    expect(page.locator(STATION)).to_have_attribute("data-unsaved", "0", timeout=20_000)
    with httpx.Client(base_url=studio.url, timeout=10) as api:
        first = api.get(f"/api/images/{approved}").json()
        second = api.get(f"/api/images/{rejected}").json()
        third = api.get(f"/api/images/{kept}").json()
    assert first["approval_state"] == "approved"
    assert (second["approval_state"], second["rejection_categories"]) == ("rejected", ["wrong_style"])
    assert third["approval_state"] == "pending"
    context.close()
