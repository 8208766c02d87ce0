"""The Analytics page through NiceGUI's simulated user, on SQLite and PostgreSQL: an empty studio says what would
fill each report; a seeded review history shows its numbers in the quality chart and the ranking; a ranked value
opens the images it made that were rejected, and one of them its lineage (the three clicks); a CSV download has
the chart's numbers; an impossible range says why beside the filters; a decision made elsewhere reaches the open
report without a reload."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from nicegui.testing import User
from sqlmodel import select

from components.analytics_lineage_tab import NO_IMAGE
from services.datasets.decisions import Verdict
from studio.models import ApprovalState, Character, DatasetImage, Episode, EpisodeScene, Scene, Shot
from studio.root import Studio
from tests.bible_helpers import KOOPA, PEACH
from tests.learning_helpers import autonomous_character, reviews, seed_reviews
from tests.ui.test_characters_page import element
from tests.ui.test_create_page import visible
from tests.ui.test_datasets_page import running_studio

WAIT = 100  # retries 0.1 s apart for what the page reads after its first paint: a bound, not a pace
GOOD = "good.safetensors"
BAD = "bad.safetensors"


@pytest.fixture
def on_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The studio on the parametrised database (request before `user`: main.py reads the settings at start); the
    background autopilot loop waits an hour between passes, so nothing decides images but the test."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", database_url)
    monkeypatch.setenv("STUDIO_AUTOPILOT_TICK_SECONDS", "3600")
    return database_url


async def _history(studio: Studio) -> Character:
    """Koopa King, reviewed today: the good checkpoint 4 of 5 approved (score 0.8), the bad one 1 of 3 (score 0.2,
    its rejections for bad anatomy)."""
    koopa = await autonomous_character(studio, enabled=False)
    await seed_reviews(
        studio,
        koopa,
        [
            *reviews(5, 4, checkpoint=GOOD, score=0.8, categories=("wrong_pose",)),
            *reviews(3, 1, checkpoint=BAD, score=0.2, categories=("bad_anatomy",)),
        ],
        studio.clock.now(),
    )
    return koopa


async def _images(studio: Studio, checkpoint: str, state: ApprovalState) -> list[int]:
    async with studio.db.session() as session:
        found = (await session.exec(select(DatasetImage).where(DatasetImage.approval_state == state))).all()
    return sorted(image.id for image in found if image.provenance.get("checkpoint") == checkpoint)  # type: ignore[misc]


def _series(user: User, marker: str) -> dict[str, list[Any]]:
    return {series["name"]: series["data"] for series in element(user, marker).options["series"]}


def _text(user: User, marker: str) -> str:
    return str(element(user, marker).text)


async def _text_is(user: User, marker: str, wanted: str) -> None:
    """Wait for the element to say `wanted` (a report reads after the first paint and again after a change)."""
    await user.should_see(marker=marker, retries=WAIT)
    for _ in range(WAIT):
        if _text(user, marker) == wanted:
            return
        await asyncio.sleep(0.1)
    assert _text(user, marker) == wanted


def _days(studio: Studio) -> str:
    """The default range: the 30 days up to today."""
    today = studio.clock.now().date()
    return f"{today - timedelta(days=29)} to {today}"


async def test_an_empty_studio_says_what_would_fill_each_report(on_database: str, user: User) -> None:
    await user.open("/analytics")
    await user.should_see(marker="analytics-filters")
    await user.should_see(marker="quality-trend-empty", retries=WAIT)
    await user.should_see("No reviewed images in this range: approve or reject generated images on the Datasets page.")
    for tab, empty in (
        ("use", "rankings-empty"),
        ("cross-project", "cross-project-empty"),
        ("rejections", "rejections-empty"),
        ("cast", "co-occurrence-empty"),
        ("cast", "screen-time-empty"),
        ("health", "project-health-empty"),
        ("drift", "drift-empty"),
    ):
        user.find(marker=f"tab-{tab}").click()
        await user.should_see(marker=empty, retries=WAIT)
    user.find(marker="tab-lineage").click()
    assert _text(user, "lineage-message") == NO_IMAGE

    await user.open("/analytics?project=999")
    assert _text(user, "filter-notice") == "There is no project 999: showing every project."


async def test_the_numbers_the_three_clicks_and_a_csv(on_database: str, user: User) -> None:
    studio = running_studio()
    koopa = await _history(studio)
    await user.open(f"/analytics?project={koopa.project_id}")

    await _text_is(user, "trend-summary", f"5 approved, 3 rejected (62% approved) from {_days(studio)}")
    today = _series(user, "trend-chart")
    assert (today["approved"][-1], today["rejected"][-1]) == (5, 3)
    assert today["mean score"][-1] == pytest.approx((5 * 0.8 + 3 * 0.2) / 8)
    assert sum(today["approved"]) == 5  # the other 29 days of the range are empty
    assert _series(user, "trend-by-character-chart")["Koopa King rejected"][-1] == 3

    # The chart's numbers as CSV: the total first, then each character.
    user.find(marker="quality-trend-csv").click()
    response = await user.download.next(timeout=5)
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["day", "character_id", "character", "approved", "rejected", "mean_score"]
    today_rows = [row for row in rows[1:] if row[0] == studio.clock.now().date().isoformat()]
    assert [row[1:5] for row in today_rows] == [["", "all", "5", "3"], [str(koopa.id), "Koopa King", "5", "3"]]

    # Click one: the ranking, best lower bound first.
    user.find(marker="tab-use").click()
    await user.should_see(marker="rankings-table", retries=WAIT)
    table = element(user, "rankings-table")
    assert [(r["value"], r["approved"], r["total"]) for r in table.rows] == [(GOOD, 4, 5), (BAD, 1, 3)]
    assert table.rows[1]["rate"] == pytest.approx(1 / 3)
    # Click two: the bad checkpoint's rejected images.
    user.find(marker="rankings-table").trigger("rowClick", [{}, table.rows[1], 1])
    rejected = await _images(studio, BAD, ApprovalState.REJECTED)
    for image_id in rejected:
        await user.should_see(marker=f"ranked-image-{image_id}", retries=WAIT)
    await user.should_see(f"Rejected images made with checkpoint {BAD}")
    # Click three: one of them's lineage.
    user.find(marker=f"ranked-image-{rejected[0]}").click()
    await user.should_see(marker=f"lineage-node-{rejected[0]}", retries=WAIT)
    assert element(user, "lineage-image").value == rejected[0]
    assert not visible(user, "lineage-message")

    # Why they failed, and the project's datasets.
    user.find(marker="tab-rejections").click()
    await _text_is(user, "rejections-summary", "3 rejected images; most for Bad anatomy 2, Wrong pose 1")
    assert _series(user, "rejections-by-character-chart") == {"Bad anatomy": [2], "Wrong pose": [1]}
    user.find(marker="tab-health").click()
    await user.should_see(marker=f"health-datasets-{koopa.project_id}", retries=WAIT)
    row = element(user, f"health-datasets-{koopa.project_id}").rows[0]
    assert (row["character"], row["approved"], row["rejected"], row["pending"]) == ("Koopa King", 5, 3, 0)

    # An address naming an image opens its lineage.
    await user.open(f"/analytics?image={rejected[1]}")
    await user.should_see(marker=f"lineage-node-{rejected[1]}", retries=WAIT)
    assert element(user, "lineage-image").value == rejected[1]


async def test_an_impossible_range_says_why_and_a_character_filter_narrows(on_database: str, user: User) -> None:
    studio = running_studio()
    koopa = await _history(studio)
    kamek = await studio.characters.create(koopa.project_id, KOOPA.model_copy(update={"name": "Kamek"}), "local")
    await user.open(f"/analytics?project={koopa.project_id}")
    await user.should_see(marker="trend-summary", retries=WAIT)

    element(user, "filter-since").value = "2026-02-10"
    element(user, "filter-until").value = "2026-02-01"
    await _text_is(user, "filter-message", "Since: the range starts (2026-02-10) after it ends (2026-02-01)")
    element(user, "filter-since").value = ""
    element(user, "filter-until").value = ""
    await _text_is(user, "filter-message", "")

    # Kamek has no reviews; Koopa King all of them.
    assert element(user, "filter-characters").options == {kamek.id: "Kamek", koopa.id: "Koopa King"}
    element(user, "filter-characters").value = [kamek.id]
    await user.should_see(marker="quality-trend-empty", retries=WAIT)
    element(user, "filter-characters").value = [koopa.id]
    await _text_is(user, "trend-summary", f"5 approved, 3 rejected (62% approved) from {_days(studio)}")
    # The filters are kept in the address: opened again from it, the page shows the same.
    await user.open(f"/analytics?project={koopa.project_id}&character={kamek.id}&since=2026-01-01")
    await user.should_see(marker="quality-trend-empty", retries=WAIT)
    assert element(user, "filter-characters").value == [kamek.id]


async def test_a_decision_made_elsewhere_reaches_the_open_report(on_database: str, user: User) -> None:
    studio = running_studio()
    koopa = await _history(studio)
    await user.open(f"/analytics?project={koopa.project_id}")
    await _text_is(user, "trend-summary", f"5 approved, 3 rejected (62% approved) from {_days(studio)}")

    approved = await _images(studio, GOOD, ApprovalState.APPROVED)
    await studio.decisions.decide(
        approved[0], Verdict(state=ApprovalState.REJECTED, categories=("wrong_pose",)), "aiko"
    )
    await _text_is(user, "trend-summary", f"4 approved, 4 rejected (50% approved) from {_days(studio)}")


async def test_who_appears_with_whom_and_for_how_long(on_database: str, user: User) -> None:
    studio = running_studio()
    koopa = await autonomous_character(studio, enabled=False)
    peach = await studio.characters.create(koopa.project_id, PEACH, "local")
    k, pe = koopa.id, peach.id
    scene = Scene(project_id=koopa.project_id, scene_number=1)
    shots = [([k, pe], 3.0), ([k], 2.0), ([pe], 4.5)]
    episode = Episode(project_id=koopa.project_id, episode_number=1, title="Pilot")
    async with studio.db.session() as session:
        session.add_all([scene, episode])
        await session.flush()
        session.add_all(
            Shot(scene_id=scene.id, shot_number=n, characters_present=present, duration_seconds=seconds)
            for n, (present, seconds) in enumerate(shots, start=1)
        )
        session.add(EpisodeScene(episode_id=episode.id, scene_id=scene.id, position=0))
    await user.open(f"/analytics?project={koopa.project_id}&tab=cast")

    # Rows and columns by name (Koopa King, Princess Peach): 2 shots with Koopa, 2 with Peach, 1 together.
    await user.should_see(marker="co-occurrence-chart", retries=WAIT)
    heatmap = element(user, "co-occurrence-chart").options
    assert heatmap["xAxis"]["data"] == ["Koopa King", "Princess Peach"]
    assert sorted(map(tuple, heatmap["series"][0]["data"])) == [(0, 0, 2), (0, 1, 1), (1, 0, 1), (1, 1, 2)]
    await user.should_see(marker="screen-time-chart", retries=WAIT)
    assert _series(user, "screen-time-chart") == {"Koopa King": [5.0], "Princess Peach": [7.5]}
