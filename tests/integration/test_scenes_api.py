"""The scenes REST API behind the real access guard: timeline edits, story to scenes, generation and status."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio.config import DeviceSettings, Settings
from studio.root import Studio
from tests.fakes.ollama import FakeOllama
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import _until

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture
async def llm() -> AsyncIterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture
async def api(tmp_path: Path, llm: FakeOllama) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        data_dir=tmp_path / "data",
        devices=[DeviceSettings(name="gpu1", llm_url=llm.url)],
        job_claim_poll_seconds=0.3,
        story_timeout_seconds=1.5,  # the fake answers at once; a slow model is made with its latency
    )
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as client:
            yield client
    finally:
        await studio.stop()


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def _cast(api: httpx.AsyncClient) -> tuple[int, dict[str, int]]:
    project = await _ok(
        await api.post(
            "/api/projects", json={"name": "Harbour Lights", "frame_width": 426, "frame_height": 240, "frame_rate": 12}
        ),
        201,
    )
    await _ok(
        await api.put(
            f"/api/projects/{project['id']}/storyline",
            json={"title": "Homecoming", "summary": "Rin returns to the harbour town."},
        )
    )
    ids = {}
    for name in ("Rin", "Kai"):
        row = await _ok(await api.post(f"/api/projects/{project['id']}/characters", json={"name": name}), 201)
        ids[name] = row["id"]
    return project["id"], ids


async def test_motion_presets_are_never_shadowed_by_scene_ids(api: httpx.AsyncClient) -> None:
    presets = await _ok(await api.get("/api/scenes/motion-presets", params={"shot_type": "close-up"}))
    assert list(presets) == ["close-up"] and len(presets["close-up"]) == 5
    every = await _ok(await api.get("/api/scenes/motion-presets"))
    assert sum(len(v) for v in every.values()) == 27
    missing = await api.get("/api/scenes/6b1f1c1e-0000-4000-8000-000000000000")
    assert missing.status_code == 404


async def test_a_timeline_is_built_reordered_and_generated_with_the_animatic(api: httpx.AsyncClient) -> None:
    project_id, cast = await _cast(api)
    scene = await _ok(await api.post(f"/api/projects/{project_id}/scenes", json={"title": "Arrival"}), 201)
    shots = []
    for n, kind in enumerate(("establishing", "medium", "close-up")):
        body = {"shot_type": kind, "duration_seconds": 1, "description": f"beat {n}", "motion_prompt": "slow pan"}
        if kind != "establishing":
            body |= {
                "characters_present": [cast["Rin"]],
                "dialogue_text": "I'm back.",
                "dialogue_character_id": cast["Rin"],
            }
        shots.append(await _ok(await api.post(f"/api/scenes/{scene['id']}/shots", json=body), 201))
    assert all(s["video_engine"] == "animatic" for s in shots)  # no ComfyUI device: the selector says so
    order = [shots[2]["id"], shots[0]["id"], shots[1]["id"]]
    reordered = await _ok(await api.put(f"/api/scenes/{scene['id']}/shots/order", json={"shot_ids": order}))
    assert [s["id"] for s in reordered] == order and [s["shot_number"] for s in reordered] == [1, 2, 3]
    bad = await api.patch(f"/api/shots/{shots[1]['id']}", json={"dialogue_character_id": cast["Kai"]})
    assert bad.status_code == 422 and "one of the characters present" in bad.json()["detail"]

    job = await _ok(await api.post(f"/api/scenes/{scene['id']}/generate"), 202)
    again = await api.post(f"/api/scenes/{scene['id']}/generate")
    assert again.status_code == 409

    async def done() -> bool:
        status = await _ok(await api.get(f"/api/scenes/{scene['id']}/status"))
        return status["job"]["state"] not in ("queued", "running")

    await _until(done, 60, "the scene generation")
    status = await _ok(await api.get(f"/api/scenes/{scene['id']}/status"))
    assert status["job"]["id"] == job["id"] and status["job"]["state"] == "succeeded"
    assert status["scene"]["generation_status"] == "completed"
    assert [s["status"] for s in status["shots"]] == ["completed"] * 3
    video = await api.get(f"/api/shots/{order[0]}/video")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4" and len(video.content) > 1000
    frame = await api.get(f"/api/shots/{order[1]}/frames/first")
    assert frame.status_code == 200 and frame.content[:4] == b"\x89PNG"


def _plan(names: list[str]) -> str:
    shot = {
        "shot_type": "medium",
        "description": "Rin looks at the sea",
        "motion_prompt": "slow push in",
        "duration_seconds": 3,
        "characters": names,
        "dialogue_text": "",
        "speaking_character": None,
    }
    scene = {
        "title": "Pier",
        "description": "",
        "location": "harbour",
        "time_of_day": "dusk",
        "mood": "quiet",
        "characters": names,
        "shots": [shot, {**shot, "shot_type": "close-up"}],
    }
    return json.dumps({"scenes": [scene, {**scene, "title": "Market"}, {**scene, "title": "Lighthouse"}]})


async def test_story_to_scenes_previews_a_valid_plan_and_saves_it_only_when_applied(
    api: httpx.AsyncClient, llm: FakeOllama
) -> None:
    project_id, _ = await _cast(api)
    llm.replies = ["not json at all", _plan(["Rin"])]
    plan = await _ok(await api.post(f"/api/projects/{project_id}/scenes/from-story", json={}))
    assert [s["title"] for s in plan["scenes"]] == ["Pier", "Market", "Lighthouse"]
    assert len(llm.chats) == 2 and "no json object" in json.dumps(llm.chats[1]).lower()
    assert await _ok(await api.get(f"/api/projects/{project_id}/scenes")) == []  # a preview saves nothing

    saved = await _ok(
        await api.post(f"/api/projects/{project_id}/scenes/from-story/apply", json={"plan": plan, "replace": False}),
        201,
    )
    assert [s["title"] for s in saved] == ["Pier", "Market", "Lighthouse"]
    listed = await _ok(await api.get(f"/api/projects/{project_id}/scenes"))
    assert [item["shots"] for item in listed] == [2, 2, 2]

    replaced = await _ok(
        await api.post(
            f"/api/projects/{project_id}/scenes/from-story/apply",
            json={"plan": {"scenes": plan["scenes"][:1]}, "replace": True},
        ),
        201,
    )
    assert len(replaced) == 1
    assert len(await _ok(await api.get(f"/api/projects/{project_id}/scenes"))) == 1
    everything = await _ok(await api.get(f"/api/projects/{project_id}/scenes", params={"include_deleted": True}))
    assert len(everything) == 4  # the replaced scenes can be restored

    unknown = _plan(["Nobody"])
    refused = await api.post(
        f"/api/projects/{project_id}/scenes/from-story/apply", json={"plan": json.loads(unknown), "replace": False}
    )
    assert refused.status_code == 422 and "Nobody" in refused.json()["detail"]


async def test_a_failed_plan_is_a_502_that_says_why(api: httpx.AsyncClient, llm: FakeOllama) -> None:
    project_id, _ = await _cast(api)
    llm.replies = ["no plan", "still none", "none at all"]
    failed = await api.post(f"/api/projects/{project_id}/scenes/from-story", json={})
    assert failed.status_code == 502, failed.text  # the LLM answered, but no usable plan: as the assistant says
    assert "answered invalid scenes 3 times: the reply contains no JSON object" in failed.json()["detail"]

    llm.latency = 3.0
    slow = await api.post(f"/api/projects/{project_id}/scenes/from-story", json={})
    assert slow.status_code == 502, slow.text
    assert "within 1.5 s — raise STUDIO_STORY_TIMEOUT_SECONDS" in slow.json()["detail"]
