"""The Review station page through NiceGUI's simulated user: what the server side does.

The station itself runs in the browser (tests/e2e/test_kiosk_review.py drives it in chromium); here: the
pickers, the empty state, the configuration the station gets, and what the page pushes to it when other
stations decide images or new images arrive.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from nicegui.testing import User

from components.kiosk_station import KioskStation
from tests.dataset_helpers import drawing
from tests.ui.test_characters_page import KOOPA, PEACH, api, element, png
from tests.ui.test_shell import eventually

WAIT = 60


async def cast(user: User) -> tuple[int, int, int]:
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    koopa = await api(user, "POST", f"/projects/{project['id']}/characters", KOOPA)
    peach = await api(user, "POST", f"/projects/{project['id']}/characters", PEACH)
    return project["id"], koopa["id"], peach["id"]


async def ingest(user: User, character_id: int, seeds: range) -> list[int]:
    """Upload drawings into a character's dataset and wait for the ingest job; returns the new image ids."""
    files = [("files", (f"d{seed}.png", drawing(seed), "image/png")) for seed in seeds]
    response = await user.http_client.post("/api/ingest/images", data={"character_id": str(character_id)}, files=files)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    for _ in range(WAIT * 20):
        job = await api(user, "GET", f"/jobs/{job_id}")
        if job["state"] not in ("queued", "running"):
            break
        await asyncio.sleep(0.05)
    assert job["state"] == "succeeded", job["error"]
    return list(job["result"]["image_ids"])


def station(user: User) -> KioskStation:
    found = element(user, "kiosk-station")
    assert isinstance(found, KioskStation)
    return found


def pushes(user: User) -> list[str]:
    """Record the JavaScript the page sends its browser. The simulated user has no browser, so this
    wraps the same send function NiceGUI's own User fixture wraps."""
    sent: list[str] = []
    outbox = user.client.outbox  # type: ignore[union-attr]
    emit = outbox._emit

    async def recording(message: Any) -> None:
        _, kind, data = message
        if kind == "run_javascript":
            sent.append(data["code"])
        await emit(message)

    outbox._emit = recording  # type: ignore[method-assign]
    return sent


def calls(sent: list[str], target: KioskStation, method: str) -> list[list[Any]]:
    """The arguments of every `method` call on the station's client side, in order."""
    pattern = re.compile(rf"return runMethod\({target.id}, \"{method}\", (.*)\)$", re.S)
    return [json.loads(m.group(1)) for code in sent if (m := pattern.match(code))]


async def test_without_a_project_the_station_asks_for_one(user: User) -> None:
    await user.open("/kiosk")
    await user.should_see("Choose a project first")
    await user.should_not_see(marker="kiosk-station")


async def test_with_nothing_pending_the_page_says_all_caught_up(user: User) -> None:
    project_id, koopa, _ = await cast(user)
    await user.open(f"/kiosk?project={project_id}&character={koopa}")
    await user.should_see("Nothing to review — all caught up")
    await user.should_see(marker="to-datasets")
    link = element(user, "to-datasets")
    assert link.props["href"] == f"/datasets?project={project_id}&character={koopa}"
    await user.should_not_see(marker="kiosk-station")
    assert element(user, "character-picker").value == koopa


async def test_the_station_gets_its_queue_scope_characters_and_categories(user: User) -> None:
    project_id, koopa, peach = await cast(user)
    await user.http_client.post(
        f"/api/characters/{koopa}/references", files={"file": ("front.png", png(), "image/png")}
    )
    [reference] = await api(user, "GET", f"/characters/{koopa}/references")
    await ingest(user, koopa, range(3))
    await ingest(user, peach, range(10, 12))

    await user.open(f"/kiosk?project={project_id}&character={koopa}")
    await user.should_see(marker="kiosk-station")
    config = station(user).props["config"]
    assert (config["api"], config["project_id"], config["character_id"]) == ("/api", project_id, koopa)
    assert config["pending"] == 3 and config["actor"] == "local"
    assert config["characters"][str(koopa)] == {
        "name": "Koopa King",
        "reference": f"/api/references/{reference['id']}/image",
    }
    assert config["characters"][str(peach)] == {"name": "Princess Peach", "reference": None}
    assert [(c["key"], c["name"]) for c in config["categories"]][:3] == [
        ("1", "wrong_appearance"),
        ("2", "wrong_style"),
        ("3", "bad_quality"),
    ]
    assert [c["key"] for c in config["categories"]] == [str(n) for n in range(1, 10)]
    picker = element(user, "character-picker")
    assert picker.value == koopa
    assert picker.options == {
        0: "All characters · 5 pending",
        koopa: "Koopa King · 3 pending",
        peach: "Princess Peach · 2 pending",
    }

    # Without a character, or with one the project does not have, the station reviews the whole project.
    await user.open(f"/kiosk?project={project_id}&character=999")
    await user.should_see(marker="unknown-character")
    config = station(user).props["config"]
    assert config["character_id"] is None and config["pending"] == 5


async def test_other_stations_decisions_and_new_images_are_pushed_to_the_station(user: User) -> None:
    project_id, koopa, peach = await cast(user)
    koopa_images = await ingest(user, koopa, range(3))
    peach_images = await ingest(user, peach, range(10, 12))
    await user.open(f"/kiosk?project={project_id}&character={koopa}")
    await user.should_see(marker="kiosk-station")
    target = station(user)
    sent = pushes(user)

    decided = await api(user, "POST", f"/images/{koopa_images[0]}/decision", {"state": "approved", "version": 1})
    await eventually(lambda: bool(calls(sent, target, "taken")))
    assert calls(sent, target, "taken") == [[koopa_images[0], "approved", 2]]
    await eventually(lambda: calls(sent, target, "setPending") == [[2]], seconds=3)

    # Putting an image back to pending takes nothing from anyone; another character's images are not ours.
    await api(user, "POST", f"/decisions/{decided['decision']['id']}/undo")
    await api(user, "POST", f"/images/{peach_images[0]}/decision", {"state": "rejected", "categories": ["other"]})
    await eventually(lambda: calls(sent, target, "setPending") == [[2], [3]], seconds=3)
    assert len(calls(sent, target, "taken")) == 1

    await ingest(user, koopa, range(20, 22))
    await eventually(lambda: bool(calls(sent, target, "imagesArrived")), seconds=3)
    await eventually(lambda: calls(sent, target, "setPending")[-1] == [5], seconds=3)


async def test_an_empty_station_starts_when_images_arrive(user: User) -> None:
    project_id, koopa, _ = await cast(user)
    await user.open(f"/kiosk?project={project_id}&character={koopa}")
    await user.should_see("Nothing to review — all caught up")
    await ingest(user, koopa, range(2))
    await user.should_see(marker="kiosk-station", retries=WAIT)
    assert station(user).props["config"]["pending"] == 2
