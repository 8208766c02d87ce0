"""The kiosk review station in chromium against a real studio process: a hundred images reviewed with the
keyboard only, two stations on one character, and decisions that outlive a dead network and a reload.

Every test ends by reading the database back through the REST API: what the station showed as saved is
what the studio holds, once, and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA, PEACH
from tests.dataset_helpers import drawing, seed_pending
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
STATION = ".kiosk-station"
REVIEWED = 105  # pending images of the character reviewed in the first test
SMALL = 12  # of each of the other characters
CATEGORY = {"1": "wrong_appearance", "2": "wrong_style", "3": "bad_quality"}


@dataclass(frozen=True)
class Seeded:
    project_id: int
    koopa: int
    peach: int
    bowser: int


async def _seed(data_dir: Path) -> Seeded:
    """Pending images straight into the data folder before the server starts (seconds, not a minute of
    uploads); the characters and their references go through the services as the API would."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "seed")
        ids = []
        for draft in (KOOPA, PEACH, PEACH.model_copy(update={"name": "Bowser Jr"})):
            character = await studio.characters.create(project.id, draft, "seed")  # type: ignore[arg-type]
            await studio.characters.add_reference(character.id, drawing(9000 + len(ids)), "ref.png", "seed")  # type: ignore[arg-type]
            await seed_pending(studio, character, REVIEWED if not ids else SMALL)
            ids.append(character.id)
        return Seeded(project.id, *ids)  # type: ignore[arg-type]
    finally:
        await studio.stop()


@pytest.fixture(scope="module")
def seeded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StudioProcess, Seeded]]:
    data_dir = tmp_path_factory.mktemp("kiosk") / "data"
    seeded = asyncio.run(_seed(data_dir))
    with StudioProcess(data_dir) as studio:
        yield studio, seeded


@pytest.fixture
def api(seeded_server: tuple[StudioProcess, Seeded]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded_server[0].url, timeout=10) as client:
        yield client


def open_station(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    page.goto(url)
    expect(page.locator(STATION)).not_to_have_attribute("data-shown-image", "", timeout=15_000)
    return page


def shown(page: Page) -> int | None:
    value = page.locator(STATION).get_attribute("data-shown-image")
    return int(value) if value else None


def press(page: Page, key: str, expect_next: bool = True) -> int | None:
    """Press a key and wait for the station to show another image (or its end); returns that image."""
    before = shown(page)
    page.keyboard.press(key)
    if expect_next:
        page.wait_for_function(
            "([sel, before]) => document.querySelector(sel).dataset.shownImage !== String(before ?? '')",
            arg=[STATION, before],
            timeout=10_000,
        )
    return shown(page)


def all_saved(page: Page) -> None:
    expect(page.locator(STATION)).to_have_attribute("data-unsaved", "0", timeout=20_000)


def images(api: httpx.Client, project_id: int, character_id: int, state: str) -> dict[int, dict[str, Any]]:
    response = api.get(
        "/api/images",
        params={"project_id": project_id, "character_id": character_id, "state": state, "limit": 500},
    )
    assert response.status_code == 200, response.text
    return {image["id"]: image for image in response.json()["items"]}


def decisions(api: httpx.Client, image_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/images/{image_id}/decisions")
    assert response.status_code == 200, response.text
    return list(response.json())


def live(api: httpx.Client, image_id: int) -> list[dict[str, Any]]:
    return [d for d in decisions(api, image_id) if d["undone_at"] is None]


def test_a_hundred_images_reviewed_with_the_keyboard_only(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser, api: httpx.Client
) -> None:
    server, seeded = seeded_server
    page = open_station(browser, f"{server.url}/kiosk?project={seeded.project_id}&character={seeded.koopa}")
    expect(page.get_by_test_id("kiosk-character")).to_have_text("Koopa King")
    expect(page.locator(".kiosk-reference")).to_be_visible()
    expect(page.get_by_test_id("kiosk-remaining")).to_contain_text(f"{REVIEWED} pending")

    expected: dict[int, tuple[str, list[str]]] = {}
    skipped: list[int] = []
    undone: int | None = None
    step = 0
    while len(expected) < 100:
        image = shown(page)
        assert image is not None, f"the station ran out after {len(expected)} decisions"
        step += 1
        if step == 7:  # browse ahead and back without deciding
            ahead = press(page, "ArrowRight")
            assert ahead != image
            assert press(page, "ArrowLeft") == image
        if step % 20 == 10:
            press(page, "s" if step < 50 else " ")
            skipped.append(image)
        elif step % 7 == 3:
            key = "123"[step % 3]
            press(page, key)
            expected[image] = ("rejected", [CATEGORY[key]])
            if undone is None and step > 30:
                # Undo, after it was saved, the rejection just made: the image comes back, then is approved.
                all_saved(page)
                assert press(page, "z") == image
                expect(page.get_by_test_id("kiosk-status")).to_have_text("Waiting for your decision")
                press(page, "a")
                expected[image] = ("approved", [])
                undone = image
        else:
            press(page, "a" if step % 2 else "Enter")
            expected[image] = ("approved", [])
    assert len(skipped) == 5 and undone is not None
    all_saved(page)
    expect(page.get_by_test_id("kiosk-remaining")).to_contain_text(f"100 decided here · {REVIEWED - 100} pending")

    approved = images(api, seeded.project_id, seeded.koopa, "approved")
    rejected = images(api, seeded.project_id, seeded.koopa, "rejected")
    pending = images(api, seeded.project_id, seeded.koopa, "pending")
    assert set(approved) == {i for i, (state, _) in expected.items() if state == "approved"}
    assert set(rejected) == {i for i, (state, _) in expected.items() if state == "rejected"}
    assert set(pending) == set(skipped)
    assert len(approved) + len(rejected) == 100 and 10 <= len(rejected) <= 20
    for image_id, image in rejected.items():
        assert image["rejection_categories"] == expected[image_id][1]
    for image_id, (state, categories) in expected.items():
        [decision] = live(api, image_id)  # exactly one standing decision per image: none lost, none doubled
        assert (decision["state"], decision["categories"], decision["actor"]) == (state, categories, "local")
    history = decisions(api, undone)
    assert [(d["state"], d["undone_at"] is not None) for d in history] == [("rejected", True), ("approved", False)]

    # At the end the station says what is left: the skipped images, still pending.
    expect(page.get_by_test_id("kiosk-empty")).to_contain_text("5 skipped image(s) still pending")
    last = press(page, "ArrowLeft")  # going back shows the last image with what was decided on it
    assert last is not None
    word = {"approved": "Approved here", "rejected": "Rejected here"}[expected[last][0]]
    expect(page.get_by_test_id("kiosk-status")).to_contain_text(word)
    page.context.close()


def test_two_stations_on_one_character_never_both_decide_an_image(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser, api: httpx.Client
) -> None:
    server, seeded = seeded_server
    url = f"{server.url}/kiosk?project={seeded.project_id}&character={seeded.peach}"
    first, second = open_station(browser, url), open_station(browser, url)
    image = shown(first)
    assert shown(second) == image

    # The first station approves; the second, still showing that image, is told at once.
    press(first, "a")
    expect(second.get_by_test_id("kiosk-banner")).to_have_text("Approved on another station")
    press(second, "1")  # no decision is sent for an image someone else decided
    expect(second.get_by_test_id("kiosk-toast")).to_have_text("Already decided on another station")
    all_saved(first)
    all_saved(second)
    [decision] = decisions(api, image)
    assert decision["state"] == "approved"

    # A true race: the second station's rejection reaches the studio just after another decision landed.
    contested = shown(second)
    assert contested is not None and contested == shown(first)

    def decide_elsewhere_first(route: Route) -> None:
        version = api.get(f"/api/images/{contested}").json()["version"]
        response = api.post(f"/api/images/{contested}/decision", json={"state": "approved", "version": version})
        assert response.status_code == 200, response.text
        route.continue_()

    second.route(f"**/api/images/{contested}/decision", decide_elsewhere_first)
    press(second, "2")
    expect(second.get_by_test_id("kiosk-toast")).to_have_text("Decided on another station — kept theirs")
    all_saved(second)
    [decision] = decisions(api, contested)
    assert decision["state"] == "approved" and decision["categories"] == []
    assert contested in images(api, seeded.project_id, seeded.peach, "approved")
    # The first station drops the contested image as soon as it hears of it.
    expect(first.get_by_test_id("kiosk-banner")).to_have_text("Approved on another station")
    first.context.close()
    second.context.close()


def test_decisions_survive_a_dead_network_and_a_reload(
    seeded_server: tuple[StudioProcess, Seeded], browser: Browser, api: httpx.Client
) -> None:
    server, seeded = seeded_server
    page = open_station(browser, f"{server.url}/kiosk?project={seeded.project_id}&character={seeded.bowser}")
    page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved changes?" on the reload
    network_down = True

    def decisions_fail(route: Route) -> None:
        if network_down:
            route.abort("failed")
        else:
            route.continue_()

    page.context.route("**/api/images/*/decision", decisions_fail)
    decided = {}
    for key, state in (("a", "approved"), ("3", "rejected"), ("a", "approved")):
        decided[shown(page)] = state
        press(page, key)
    expect(page.get_by_test_id("kiosk-unsaved")).to_have_text("3 unsaved — retrying", timeout=10_000)
    assert all(not live(api, image_id) for image_id in decided)

    page.reload()  # NiceGUI reloads the page by itself when the server restarts; nothing may be lost
    expect(page.get_by_test_id("kiosk-unsaved")).to_have_text("3 unsaved — retrying", timeout=10_000)
    network_down = False
    all_saved(page)
    for image_id, state in decided.items():
        [decision] = live(api, image_id)
        assert decision["state"] == state
    expect(page.locator(STATION)).not_to_have_attribute("data-shown-image", "")
    assert shown(page) not in decided  # decided before the reload: not shown again
    page.context.close()
