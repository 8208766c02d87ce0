"""The autopilot's REST API behind the real access guard, on SQLite and PostgreSQL: switches and targets (off by
default, changed, a target put back on the default, a pause resumed), the pipeline with its phases and gates, a
person's override of a phase and its reset, the decision log's filters and paging, and the refusals (404 for a
project or character that does not exist or belongs elsewhere, 422 naming the field)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.autonomy.pipeline import CHARACTER_PHASES, PROJECT_PHASES
from studio.clock import DrivenClock
from studio.config import Settings
from studio.root import Studio
from tests.integration.test_api import guarded_api

LOOPBACK = ("127.0.0.1", 40000)
KOOPA = {"name": "Koopa King", "appearance_data": {"species": "turtle"}}
PEACH = {"name": "Princess Peach", "appearance_data": {"species": "human"}}


@pytest.fixture
async def studio(settings: Settings) -> AsyncIterator[Studio]:
    # Not started: no workers and no background autopilot loop, so nothing but the test moves the autopilot,
    # on a clock only the test moves.
    built = Studio.build(settings, clock=DrivenClock())
    built.migrate()
    yield built
    await built.db.dispose()


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api", timeout=30) as client:
        yield client


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _refused(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return str(body["detail"])


async def _cast(api: httpx.AsyncClient, name: str = "Mario Galaxy") -> tuple[int, dict[str, int]]:
    project = await _ok(await api.post("/projects", json={"name": name}), 201)
    made = {}
    for draft in (KOOPA, PEACH):
        made[draft["name"]] = (await _ok(await api.post(f"/projects/{project['id']}/characters", json=draft), 201))[
            "id"
        ]
    return project["id"], made


async def test_switches_targets_and_a_pause(api: httpx.AsyncClient, studio: Studio) -> None:
    project_id, cast = await _cast(api)
    koopa, peach = cast["Koopa King"], cast["Princess Peach"]
    shown = await _ok(await api.get(f"/projects/{project_id}/autopilot"))
    assert (shown["enabled"], shown["auto_correction"], shown["orchestrator"], shown["paused"]) == (
        False,
        False,
        False,
        False,
    )
    default = shown["default_target"]
    assert shown["targets"] == [
        {"character_id": koopa, "target": default, "own": False},
        {"character_id": peach, "target": default, "own": False},
    ]

    changes = {"enabled": True, "default_target": 60, "targets": {str(koopa): 100}}
    changed = await _ok(await api.put(f"/projects/{project_id}/autopilot", json=changes))
    assert (changed["enabled"], changed["orchestrator"], changed["default_target"]) == (True, False, 60)
    assert changed["updated_by"] == "local"
    assert changed["targets"] == [
        {"character_id": koopa, "target": 100, "own": True},
        {"character_id": peach, "target": 60, "own": False},
    ]
    # Only what is sent changes; null puts a character back on the project's default.
    again = await _ok(await api.put(f"/projects/{project_id}/autopilot", json={"targets": {str(koopa): None}}))
    assert again["enabled"] is True
    assert again["targets"][0] == {"character_id": koopa, "target": 60, "own": False}
    assert (await _ok(await api.get(f"/projects/{project_id}/autopilot"))) == again

    # A failed job's pause shows with its reason until resumed.
    await studio.autonomy.config.pause(project_id, "job 7 (Koopa · image 1 of 3) failed: ComfyUI is down", 30)
    paused = await _ok(await api.get(f"/projects/{project_id}/autopilot"))
    assert paused["paused"] is True
    assert paused["paused_reason"] == "job 7 (Koopa · image 1 of 3) failed: ComfyUI is down"
    assert paused["paused_until"].startswith("2026-01-05T09:30:00")
    resumed = await _ok(await api.put(f"/projects/{project_id}/autopilot", json={"resume": True}))
    assert (resumed["paused"], resumed["paused_reason"], resumed["paused_until"]) == (False, None, None)


async def test_autopilot_refusals_name_the_field(api: httpx.AsyncClient) -> None:
    project_id, _cast_ids = await _cast(api)
    other_project, other_cast = await _cast(api, "Zelda")
    _refused(await api.get("/projects/999999/autopilot"), 404)
    _refused(await api.put("/projects/999999/autopilot", json={"enabled": True}), 404)
    _refused(await api.get("/projects/0/autopilot"), 422, "project_id")
    path = f"/projects/{project_id}/autopilot"
    _refused(await api.put(path, json={"default_target": 0}), 422, "default_target")
    _refused(await api.put(path, json={"default_target": 100_001}), 422, "default_target")
    _refused(await api.put(path, json={"enabled": "maybe"}), 422, "enabled")
    _refused(await api.put(path, json={"wings": True}), 422, "wings")
    detail = _refused(await api.put(path, json={"targets": {str(other_cast["Koopa King"]): 5}}), 422, "targets")
    assert "not a live character of this project" in detail
    _refused(await api.put(path, json={"targets": {"koopa": 5}}), 422)
    koopa = (await _ok(await api.get(path)))["targets"][0]["character_id"]
    _refused(await api.put(path, json={"targets": {str(koopa): 0}}), 422, "targets")
    assert (await _ok(await api.get(f"/projects/{other_project}/autopilot")))["enabled"] is False


async def test_the_pipeline_shows_every_phase_with_its_gate_and_overrides(api: httpx.AsyncClient) -> None:
    project_id, cast = await _cast(api)
    await _ok(await api.put(f"/projects/{project_id}/autopilot", json={"orchestrator": True}))
    pipeline = await _ok(await api.get(f"/projects/{project_id}/pipeline"))
    assert pipeline["project_id"] == project_id
    assert pipeline["autopilot"]["orchestrator"] is True
    project = pipeline["project"]
    assert (project["entity"], project["entity_id"], project["name"]) == ("project", project_id, "Mario Galaxy")
    assert [p["phase"] for p in project["phases"]] == list(PROJECT_PHASES)
    assert project["phase"] in PROJECT_PHASES
    assert all(p["label"] and p["status"] in ("done", "current", "pending", "skipped") for p in project["phases"])
    assert sum(p["status"] == "current" for p in project["phases"]) <= 1
    characters = {c["entity_id"]: c for c in pipeline["characters"]}
    assert set(characters) == set(cast.values())
    shown = characters[cast["Koopa King"]]
    assert shown["name"] == "Koopa King"
    assert [p["phase"] for p in shown["phases"]] == list(CHARACTER_PHASES)
    # Koopa has no approved images: it is in its training-data phase, and the gate says how far it is.
    assert shown["phase"] == "training_data"
    gate = next(p for p in shown["phases"] if p["phase"] == "training_data")["gate"]
    assert "Koopa King" in gate and "0 of " in gate, gate
    _refused(await api.get("/projects/999999/pipeline"), 404)

    # A person skips Koopa's training data, then resets it.
    koopa = cast["Koopa King"]
    url = f"/projects/{project_id}/pipeline/override"
    body = {"entity": "character", "entity_id": koopa, "phase": "training_data", "mode": "skip"}
    skipped = await _ok(await api.post(url, json=body))
    character = next(c for c in skipped["characters"] if c["entity_id"] == koopa)
    phase = next(p for p in character["phases"] if p["phase"] == "training_data")
    assert (phase["status"], phase["override"]) == ("skipped", "skip")
    assert character["phase"] != "training_data"

    reset = await _ok(await api.post(url, json=body | {"mode": "reset"}))
    character = next(c for c in reset["characters"] if c["entity_id"] == koopa)
    phase = next(p for p in character["phases"] if p["phase"] == "training_data")
    assert phase["override"] is None
    assert character["phase"] == "training_data"

    # A later phase of the project marked complete shows as done by a person.
    completed = await _ok(await api.post(url, json={"entity": "project", "phase": "video_qc", "mode": "complete"}))
    qc = next(p for p in completed["project"]["phases"] if p["phase"] == "video_qc")
    assert (qc["status"], qc["override"]) == ("done", "complete")


async def test_override_refusals(api: httpx.AsyncClient) -> None:
    project_id, cast = await _cast(api)
    _other_project, other_cast = await _cast(api, "Zelda")
    url = f"/projects/{project_id}/pipeline/override"
    koopa = {"entity": "character", "entity_id": cast["Koopa King"], "phase": "training_data", "mode": "skip"}
    _refused(await api.post("/projects/999999/pipeline/override", json=koopa), 404)
    _refused(await api.post(url, json=koopa | {"entity_id": 999999}), 404)
    assert "not a live character of project" in _refused(
        await api.post(url, json=koopa | {"entity_id": other_cast["Koopa King"]}), 404
    )
    # A phase of the other kind of entity, an unknown phase, an unknown mode or entity.
    assert "training_data" in _refused(await api.post(url, json=koopa | {"phase": "video_qc"}), 422, "phase")
    _refused(await api.post(url, json={"entity": "project", "phase": "lora_training", "mode": "skip"}), 422, "phase")
    _refused(await api.post(url, json=koopa | {"phase": "dancing"}), 422, "phase")
    _refused(await api.post(url, json=koopa | {"mode": "explode"}), 422, "mode")
    _refused(await api.post(url, json=koopa | {"entity": "scene"}), 422, "entity")
    _refused(await api.post(url, json=koopa | {"entity_id": 0}), 422, "entity_id")
    _refused(await api.post(url, json={k: v for k, v in koopa.items() if k != "entity_id"}), 422, "entity_id")
    project = {"entity": "project", "entity_id": project_id + 1, "phase": "video_qc", "mode": "skip"}
    _refused(await api.post(url, json=project), 422, "entity_id")


async def test_the_decision_log_filters_pages_and_refuses_bad_filters(api: httpx.AsyncClient, studio: Studio) -> None:
    project_id, cast = await _cast(api)
    other_project, _other_cast = await _cast(api, "Zelda")
    koopa, peach = cast["Koopa King"], cast["Princess Peach"]
    log, clock = studio.autonomy.log, studio.clock
    assert isinstance(clock, DrivenClock)
    first = await log.record(
        loop="replenishment",
        action="generate",
        outcome="acted",
        reason="3 images: Koopa King has 0 of 40",
        project_id=project_id,
        character_id=koopa,
        count=3,
    )
    clock.advance(3600)
    await log.record(
        loop="replenishment",
        action="wait",
        outcome="waiting",
        reason="cooldown until 10:01 UTC",
        project_id=project_id,
        character_id=peach,
    )
    await log.record(
        loop="orchestrator",
        action="gate",
        outcome="blocked",
        reason="Koopa King has 0 of 40 approved images",
        project_id=project_id,
        phase="scene_planning",
    )
    await log.record(loop="drift", action="alert", outcome="acted", reason="elsewhere", project_id=other_project)

    everything = await _ok(await api.get("/autonomy/decisions", params={"project_id": project_id}))
    assert [d["reason"] for d in everything] == [
        "Koopa King has 0 of 40 approved images",
        "cooldown until 10:01 UTC",
        "3 images: Koopa King has 0 of 40",
    ]
    assert everything[2] | {"at": None} == {
        "id": first.id,
        "at": None,
        "project_id": project_id,
        "character_id": koopa,
        "loop": "replenishment",
        "action": "generate",
        "outcome": "acted",
        "phase": None,
        "reason": "3 images: Koopa King has 0 of 40",
        "count": 3,
        "job_id": None,
        "image_id": None,
        "actor": "autopilot",
        "data": {},
    }
    assert len(await _ok(await api.get("/autonomy/decisions"))) == 4

    async def reasons(**params: Any) -> list[str]:
        return [d["reason"] for d in await _ok(await api.get("/autonomy/decisions", params=params))]

    assert await reasons(character_id=koopa) == ["3 images: Koopa King has 0 of 40"]
    assert await reasons(project_id=project_id, loop="orchestrator") == ["Koopa King has 0 of 40 approved images"]
    assert len(await reasons(loop=["orchestrator", "drift"])) == 2
    assert await reasons(project_id=project_id, outcome=["waiting", "acted"]) == [
        "cooldown until 10:01 UTC",
        "3 images: Koopa King has 0 of 40",
    ]
    later = (first.at + timedelta(minutes=30)).isoformat()
    assert await reasons(project_id=project_id, until=later) == ["3 images: Koopa King has 0 of 40"]
    assert len(await reasons(project_id=project_id, since=later)) == 2
    # Paging: the newest first, then older than the last one seen.
    page = await _ok(await api.get("/autonomy/decisions", params={"project_id": project_id, "limit": 2}))
    assert len(page) == 2
    older = await reasons(project_id=project_id, before_id=page[-1]["id"])
    assert older == ["3 images: Koopa King has 0 of 40"]
    assert await reasons(project_id=999999) == []

    url = "/autonomy/decisions"
    _refused(await api.get(url, params={"loop": "dreaming"}), 422, "loop.0")
    _refused(await api.get(url, params={"outcome": "maybe"}), 422, "outcome.0")
    _refused(await api.get(url, params={"limit": 0}), 422, "limit")
    _refused(await api.get(url, params={"limit": 501}), 422, "limit")
    _refused(await api.get(url, params={"since": "2026-01-05T09:00:00"}), 422, "since")  # no time zone
    _refused(await api.get(url, params={"until": "yesterday"}), 422, "until")
    _refused(await api.get(url, params={"since": "0001-01-01T00:00:00+01:00"}), 422, "since")
    _refused(await api.get(url, params={"before_id": 2**31}), 422, "before_id")
    _refused(await api.get(url, params={"project_id": -1}), 422, "project_id")
