"""Two review stations on one character, through the REST API the kiosk uses, on SQLite and PostgreSQL.

A decision names the image version its station saw: the second station to decide an image gets 409 and
the database keeps exactly one decision. Undo puts the image back to pending, unless something changed it
since; then the undo is refused instead of overwriting that change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.datasets.decisions import Verdict
from studio.models import ApprovalState
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import seed_pending
from tests.integration.test_api import guarded_api

LOOPBACK = ("127.0.0.1", 40000)  # trusted: both stations act as "local", like two kiosks on the studio box


@dataclass
class Stations:
    studio: Studio
    first: httpx.AsyncClient
    second: httpx.AsyncClient
    project_id: int
    character_id: int
    image_ids: list[int]


def _station(studio: Studio) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    return httpx.AsyncClient(transport=transport, base_url="http://studio")


async def _seeded(studio: Studio, count: int) -> tuple[int, int, list[int]]:
    project = await studio.projects.create(GALAXY, "test")
    character = await studio.characters.create(project.id, KOOPA, "test")  # type: ignore[arg-type]
    return project.id, character.id, await seed_pending(studio, character, count, size=64)  # type: ignore[return-value]


@pytest.fixture
async def stations(studio: Studio) -> AsyncIterator[Stations]:
    project_id, character_id, image_ids = await _seeded(studio, 6)
    async with _station(studio) as first, _station(studio) as second:
        yield Stations(studio, first, second, project_id, character_id, image_ids)


async def _queue(station: httpx.AsyncClient, s: Stations, after: int = 0) -> list[dict[str, Any]]:
    response = await station.get(
        "/api/review/queue", params={"project_id": s.project_id, "character_id": s.character_id, "after": after}
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def _decide(
    station: httpx.AsyncClient, image_id: int, state: str, version: int, *categories: str
) -> httpx.Response:
    body = {"state": state, "version": version, "categories": list(categories)}
    return await station.post(f"/api/images/{image_id}/decision", json=body)


async def _history(station: httpx.AsyncClient, image_id: int) -> list[dict[str, Any]]:
    response = await station.get(f"/api/images/{image_id}/decisions")
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_the_second_station_to_decide_an_image_gets_409_and_one_decision_stands(stations: Stations) -> None:
    s = stations
    seen_first, seen_second = await _queue(s.first, s), await _queue(s.second, s)
    assert [i["id"] for i in seen_first] == [i["id"] for i in seen_second] == s.image_ids
    image = seen_first[0]
    assert image["file_url"] == f"/api/images/{image['id']}/file" and image["version"] == 1

    approved = await _decide(s.first, image["id"], "approved", image["version"])
    assert approved.status_code == 200, approved.text
    assert approved.json()["image"]["approval_state"] == "approved" and approved.json()["decision"]["id"]
    stale = await _decide(s.second, image["id"], "rejected", seen_second[0]["version"], "wrong_style")
    assert stale.status_code == 409, stale.text
    assert "already approved by local" in stale.json()["detail"]

    stored = (await s.first.get(f"/api/images/{image['id']}")).json()
    assert (stored["approval_state"], stored["rejection_categories"], stored["version"]) == ("approved", [], 2)
    [decision] = await _history(s.first, image["id"])
    assert (decision["state"], decision["actor"]) == ("approved", "local")
    # Both stations' queues move on: the decided image is no longer pending.
    assert image["id"] not in [i["id"] for i in await _queue(s.second, s)]


async def test_undo_puts_the_image_back_to_pending_and_into_the_queue(stations: Stations) -> None:
    s = stations
    image_id = s.image_ids[1]
    rejected = await _decide(s.first, image_id, "rejected", 1, "bad_quality")
    assert rejected.status_code == 200, rejected.text
    assert image_id not in [i["id"] for i in await _queue(s.second, s)]

    undone = await s.first.post(f"/api/decisions/{rejected.json()['decision']['id']}/undo")
    assert undone.status_code == 200, undone.text
    restored = undone.json()
    assert (restored["approval_state"], restored["rejection_categories"], restored["version"]) == ("pending", [], 3)
    [decision] = await _history(s.first, image_id)
    assert decision["state"] == "rejected" and decision["undone_at"] is not None
    assert image_id in [i["id"] for i in await _queue(s.second, s)]

    # A station still holding the version from before the undo cannot decide on it; the current one can.
    assert (await _decide(s.second, image_id, "approved", 2)).status_code == 409
    again = await _decide(s.second, image_id, "approved", 3)
    assert again.status_code == 200, again.text
    live = [d for d in await _history(s.first, image_id) if d["undone_at"] is None]
    assert [d["state"] for d in live] == ["approved"]


async def test_undo_after_another_change_is_refused_and_the_change_stands(stations: Stations) -> None:
    s = stations
    image_id = s.image_ids[2]
    approved = await _decide(s.first, image_id, "approved", 1)
    assert approved.status_code == 200, approved.text
    # The second station reloads the image (the kiosk would after the push) and changes the decision.
    current = (await s.second.get(f"/api/images/{image_id}")).json()["version"]
    changed = await _decide(s.second, image_id, "rejected", current, "not_solo")
    assert changed.status_code == 200, changed.text

    refused = await s.first.post(f"/api/decisions/{approved.json()['decision']['id']}/undo")
    assert refused.status_code == 409, refused.text
    assert "not undone" in refused.json()["detail"]
    stored = (await s.first.get(f"/api/images/{image_id}")).json()
    assert (stored["approval_state"], stored["rejection_categories"]) == ("rejected", ["not_solo"])
    assert [d["undone_at"] for d in await _history(s.first, image_id)] == [None, None]

    # And an undo is done once: the second one is refused too.
    undone = await s.second.post(f"/api/decisions/{changed.json()['decision']['id']}/undo")
    assert undone.status_code == 200, undone.text
    twice = await s.second.post(f"/api/decisions/{changed.json()['decision']['id']}/undo")
    assert twice.status_code == 409 and "already undone" in twice.json()["detail"]
    assert (await s.first.get(f"/api/images/{image_id}")).json()["approval_state"] == "approved"


async def test_stations_racing_over_every_image_never_both_win(stations: Stations) -> None:
    s = stations
    queue = await _queue(s.first, s)

    async def both(image: dict[str, Any]) -> list[int]:
        answers = await asyncio.gather(
            _decide(s.first, image["id"], "approved", image["version"]),
            _decide(s.second, image["id"], "rejected", image["version"], "other"),
        )
        return sorted(a.status_code for a in answers)

    assert await asyncio.gather(*(both(image) for image in queue)) == [[200, 409]] * len(queue)
    for image in queue:
        assert len(await _history(s.first, image["id"])) == 1
    assert await _queue(s.second, s) == []


@pytest.mark.postgres
async def test_two_studio_processes_racing_on_postgresql_never_both_win(two_studios: list[Studio]) -> None:
    """Two studios (own engines and pools) on one database: the kiosks of two machines."""
    studios = two_studios
    project_id, _, image_ids = await _seeded(studios[0], 30)
    async with _station(studios[0]) as first, _station(studios[1]) as second:

        async def both(image_id: int) -> list[int]:
            answers = await asyncio.gather(
                _decide(first, image_id, "approved", 1), _decide(second, image_id, "rejected", 1, "other")
            )
            return sorted(a.status_code for a in answers)

        assert await asyncio.gather(*(both(i) for i in image_ids)) == [[200, 409]] * len(image_ids)
        counts = [len(await _history(first, image_id)) for image_id in image_ids]
    assert counts == [1] * len(image_ids)
    decided = await studios[1].datasets.counts(project_id)
    assert decided.pending == 0 and decided.approved + decided.rejected == len(image_ids)


async def test_two_simultaneous_undos_of_one_decision_one_wins_the_other_gets_409(stations: Stations) -> None:
    s = stations
    for image_id in s.image_ids:
        rejected = await _decide(s.first, image_id, "rejected", 1, "bad_quality")
        assert rejected.status_code == 200, rejected.text
        decision_id = rejected.json()["decision"]["id"]
        answers = await asyncio.gather(
            s.first.post(f"/api/decisions/{decision_id}/undo"), s.second.post(f"/api/decisions/{decision_id}/undo")
        )
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        [loser] = [a for a in answers if a.status_code == 409]
        assert "undone" in loser.json()["detail"]
        [decision] = await _history(s.first, image_id)
        assert decision["undone_at"] is not None
    # The connections the losers used are fine: the next requests work on both stations.
    assert [i["id"] for i in await _queue(s.second, s)] == s.image_ids
    again = await _decide(s.first, s.image_ids[0], "approved", 3)
    assert again.status_code == 200, again.text


async def test_simultaneous_decisions_and_undos_through_the_service_one_wins_the_other_conflicts(
    stations: Stations,
) -> None:
    s = stations
    decisions = s.studio.decisions
    for image_id in s.image_ids:
        answers = await asyncio.gather(
            decisions.decide(image_id, Verdict(ApprovalState.APPROVED), "one", expected_version=1),
            decisions.decide(
                image_id, Verdict(ApprovalState.REJECTED, categories=("other",)), "two", expected_version=1
            ),
            return_exceptions=True,
        )
        assert sorted(type(a).__name__ for a in answers) == ["Conflict", "tuple"], answers
    undos = [(await decisions.history(i))[0].id for i in s.image_ids]
    answers = await asyncio.gather(
        *(decisions.undo(d, "one") for d in undos), *(decisions.undo(d, "two") for d in undos), return_exceptions=True
    )
    assert sorted(type(a).__name__ for a in answers) == ["Conflict"] * len(undos) + ["DatasetImage"] * len(undos), (
        answers
    )
    assert (await s.studio.datasets.counts(s.project_id)).pending == len(s.image_ids)
