"""The whole curation path in chromium against a real studio process, as a user walks it: import a folder and
a video on the Add images page, see the duplicates caught, then review a hundred images in the kiosk with the
keyboard only, and find every decision in the database.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.dataset_helpers import drawing, reencoded, scene_video
from tests.e2e.test_kiosk_review import all_saved, images, live, open_station, press, shown
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
PICTURES = 100
REPEATS = 4  # re-encoded copies of the first pictures, to be caught as near duplicates
SCENES = 3


def test_import_a_folder_and_a_video_then_review_a_hundred_in_the_kiosk(
    server: StudioProcess, browser: Browser, tmp_path: Path
) -> None:
    api = httpx.Client(base_url=server.url, timeout=10)
    project = api.post("/api/projects", json={"name": "Mario Galaxy"}).json()
    koopa = api.post(f"/api/projects/{project['id']}/characters", json={"name": "Koopa King"}).json()
    shoot = server.data_dir / "inbox" / "shoot"
    shoot.mkdir(parents=True)
    for seed in range(PICTURES):
        (shoot / f"{seed:03d}.png").write_bytes(drawing(seed))
    for seed in range(REPEATS):
        (shoot / f"{seed:03d}-again.jpg").write_bytes(reencoded(drawing(seed)))

    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{server.url}/datasets/add?project={project['id']}&character={koopa['id']}")
    page.get_by_role("tab", name="Folder").click()
    page.get_by_label("Folder").fill(str(shoot))
    page.get_by_role("button", name="Scan folder").click()
    expect(page.get_by_text(f"{PICTURES + REPEATS} added · {REPEATS} duplicates caught")).to_be_visible(timeout=120_000)

    page.get_by_role("tab", name="Video file").click()
    page.get_by_label("At least one frame every (s)").fill("1")  # two frames of each scene: one repeats
    page.locator(".q-uploader input[type=file]").set_input_files(scene_video(tmp_path, SCENES, first_seed=5000))
    # The video's import card joins the folder's: both say what they added and which duplicates they caught.
    summaries = page.get_by_text(re.compile(r"^\d+ added · [1-9]\d* duplicates caught"))
    expect(summaries).to_have_count(2, timeout=60_000)

    pending = images(api, project["id"], koopa["id"], "pending")
    duplicates = [i for i in images(api, project["id"], koopa["id"], "rejected").values() if i["duplicate_of_id"]]
    assert len(pending) == PICTURES + SCENES, "every distinct picture and scene waits for a person"
    assert len(duplicates) >= REPEATS + 1 and all(d["rejection_categories"] == ["duplicate"] for d in duplicates)

    station = open_station(browser, f"{server.url}/kiosk?project={project['id']}&character={koopa['id']}")
    decided: dict[int, str] = {}
    while len(decided) < 100:
        image = shown(station)
        assert image is not None, f"the station ran out after {len(decided)} decisions"
        rejecting = len(decided) % 5 == 0
        press(station, "2" if rejecting else "a")
        decided[image] = "rejected" if rejecting else "approved"
    all_saved(station)

    approved = images(api, project["id"], koopa["id"], "approved")
    assert set(approved) == {i for i, state in decided.items() if state == "approved"}
    for image_id, state in decided.items():
        [decision] = live(api, image_id)
        assert (decision["state"], decision["decider"], decision["actor"]) == (state, "human", "local")
    assert len(images(api, project["id"], koopa["id"], "pending")) == PICTURES + SCENES - 100
    station.context.close()
    page.context.close()
    api.close()
