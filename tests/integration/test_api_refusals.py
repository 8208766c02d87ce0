"""Input no database can take is refused with a 422 naming the field, the same on SQLite and PostgreSQL,
and nothing is saved: ids past what an INTEGER column holds, NUL characters and half surrogate pairs in
any text, and `null` for a field that cannot be empty. A backend that is not set up answers 503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from studio.root import Studio
from tests.integration.test_api import guarded_api

LOOPBACK = ("127.0.0.1", 40000)
PAST_POSTGRES = 2**31  # the first id a PostgreSQL INTEGER cannot hold
PAST_SQLITE = 2**63  # the first id SQLite's driver cannot bind


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


async def _made(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


def _refused(response: httpx.Response, field: str) -> str:
    """The 422's message for `field`."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == 422 and body["detail"]
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert field in messages, messages
    return messages[field]


async def test_ids_no_database_can_hold_are_invalid_everywhere(api: httpx.AsyncClient) -> None:
    project = await _made(await api.post("/projects", json={"name": "Harbour"}))
    scene = await _made(await api.post(f"/projects/{project['id']}/scenes", json={"title": "Dawn"}))
    for too_big in (PAST_POSTGRES, PAST_SQLITE, 10**30):
        _refused(await api.get(f"/projects/{too_big}"), "project_id")
        _refused(await api.get(f"/jobs/{too_big}"), "job_id")
        _refused(await api.get("/images", params={"project_id": too_big}), "project_id")
        _refused(await api.get("/review/queue", params={"project_id": project["id"], "after": too_big}), "after")
        _refused(await api.post("/images/reassign", json={"image_ids": [too_big], "character_id": 1}), "image_ids.0")
        shot = {"characters_present": [too_big]}
        _refused(await api.post(f"/scenes/{scene['id']}/shots", json=shot), "characters_present.0")
        _refused(await api.post("/assistant/ask", json={"question": "hi", "project_id": too_big}), "project_id")
    _refused(await api.get("/music/0"), "track_id")
    # The largest id a row can have is an ordinary miss.
    missing = await api.get(f"/projects/{PAST_POSTGRES - 1}")
    assert missing.status_code == 404 and missing.json()["detail"] == f"there is no project {PAST_POSTGRES - 1}"


async def test_text_a_database_cannot_store_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    project = await _made(await api.post("/projects", json={"name": "Harbour"}))
    pid = project["id"]
    message = _refused(await api.post("/projects", json={"name": "Rin\u0000"}), "name")
    assert "NUL" in message
    _refused(await api.patch(f"/projects/{pid}", json={"premise": "a\u0000b"}), "premise")
    world = {"color_palette": {"hair\u0000": "teal"}}
    _refused(await api.put(f"/projects/{pid}/world-settings", json=world), "color_palette.hair\u0000")
    arcs = {"story_arcs": [{"title": "One", "summary": "\u0000"}]}
    _refused(await api.put(f"/projects/{pid}/storyline", json=arcs), "story_arcs.0.summary")
    _refused(await api.get(f"/projects/{pid}/characters", params={"species": "cat\u0000"}), "species")
    _refused(await api.get("/generation-styles/anime%00"), "name")
    upload = {"file": ("bed.wav", b"RIFF", "audio/wav")}
    _refused(await api.post(f"/projects/{pid}/music", data={"title": "Bed\u0000"}, files=upload), "title")
    lone = await api.post(
        "/projects", content=b'{"name": "half \\ud800 a pair"}', headers={"content-type": "application/json"}
    )
    assert "Unicode" in _refused(lone, "name")
    # Nothing was stored, and the project is as it was.
    assert [p["project"]["name"] for p in (await api.get("/projects")).json()] == ["Harbour"]
    assert (await api.get(f"/projects/{pid}")).json()["premise"] == ""
    assert (await api.get(f"/projects/{pid}/world-settings")).json()["color_palette"] == {}


async def test_null_only_empties_what_may_be_empty(api: httpx.AsyncClient, studio: Studio) -> None:
    await _made(await api.post("/generation-styles", json={"name": "anime", "checkpoint_model": "anime.safetensors"}))
    project = await _made(await api.post("/projects", json={"name": "Harbour", "default_style": "anime"}))
    pid = project["id"]
    for field in ("name", "description", "frame_width", "content_rating", "archived"):
        assert "null" in _refused(await api.patch(f"/projects/{pid}", json={field: None}), field)
    kept = (await api.get(f"/projects/{pid}")).json()
    assert kept["name"] == "Harbour" and kept["default_style"] == "anime"
    cleared = await api.patch(f"/projects/{pid}", json={"default_style": None})
    assert cleared.status_code == 200 and cleared.json()["default_style"] is None
    character = await _made(await api.post(f"/projects/{pid}/characters", json={"name": "Rin"}))
    for field in ("name", "design_prompt", "appearance_data", "deleted"):
        _refused(await api.patch(f"/characters/{character['id']}", json={field: None}), field)
    assert (await studio.characters.get(character["id"])).name == "Rin"
    scene = await _made(await api.post(f"/projects/{pid}/scenes", json={"title": "Dawn"}))
    for field in ("title", "mood", "scene_number", "target_duration_seconds", "deleted"):
        _refused(await api.patch(f"/scenes/{scene['id']}", json={field: None}), field)
    post = await api.patch(f"/scenes/{scene['id']}", json={"post_interpolate_fps": None, "post_upscale_factor": None})
    assert post.status_code == 200 and post.json()["title"] == "Dawn"
    shot = await _made(await api.post(f"/scenes/{scene['id']}/shots", json={"motion_prompt": "waves"}))
    for field in ("shot_type", "duration_seconds", "motion_prompt", "characters_present", "clear_source"):
        _refused(await api.patch(f"/shots/{shot['id']}", json={field: None}), field)
    engine = await api.patch(f"/shots/{shot['id']}", json={"video_engine": None, "dialogue_character_id": None})
    assert engine.status_code == 200 and engine.json()["motion_prompt"] == "waves"
    episode = await _made(await api.post(f"/projects/{pid}/episodes", json={"title": "Pilot"}))
    for field in ("title", "episode_number", "deleted"):
        _refused(await api.patch(f"/episodes/{episode['id']}", json={field: None}), field)
    assert (await api.get(f"/episodes/{episode['id']}")).json()["episode"]["title"] == "Pilot"
    document = (await api.get("/openapi.json")).json()["components"]["schemas"]
    assert document["ProjectChanges"]["properties"]["name"]["type"] == "string"  # null is not offered
    assert {"type": "null"} in document["ProjectChanges"]["properties"]["default_style"]["anyOf"]
    assert document["ShotChanges"]["properties"]["duration_seconds"]["type"] == "number"


async def test_a_backend_that_is_not_set_up_is_503_with_how_to(api: httpx.AsyncClient) -> None:
    project = await _made(await api.post("/projects", json={"name": "Harbour"}))
    story = await api.post(f"/projects/{project['id']}/scenes/from-story", json={})
    assert story.status_code == 503, story.text
    assert "story to scenes needs an LLM" in story.json()["detail"] and "STUDIO_DEVICES=" in story.json()["detail"]
    music = await api.post(f"/projects/{project['id']}/music/generate", json={"mood": "tense"})
    assert music.status_code == 503 and "no device hosts ACE-Step" in music.json()["detail"]
    assistant = await api.post("/assistant/ask", json={"question": "who is Rin?"})
    assert assistant.status_code == 503 and "No assistant is set up" in assistant.json()["detail"]
