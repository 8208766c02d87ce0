"""The episodes REST API behind the real access guard: episodes and their scene lists, refusals that name the
field, delete and restore, and an episode of two assembled scenes assembled with real ffmpeg, served with
Range requests, published to the folder library and unpublished."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.scenes import SceneDraft, ShotDraft
from studio.models import Episode, JobState, Scene
from studio.root import Studio
from tests.integration.test_api import guarded_api
from tests.integration.test_scene_assembly import _assembled, _given_video, studio
from tests.integration.test_scene_generation import _settled
from tests.integration.test_scenes_api import _ok

LOOPBACK = ("127.0.0.1", 40000)
MISSING = "6b1f1c1e-0000-4000-8000-000000000000"


__all__ = ["studio"]  # the fixture, shared with the scene assembly tests


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as client:
        yield client


def _refused(response: httpx.Response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return str(body["detail"])


async def _project(api: httpx.AsyncClient, name: str = "Harbour Lights") -> int:
    body = {"name": name, "frame_width": 426, "frame_height": 240, "frame_rate": 12}
    return int((await _ok(await api.post("/api/projects", json=body), 201))["id"])


async def _scenes(api: httpx.AsyncClient, project_id: int, *titles: str) -> list[str]:
    made = []
    for title in titles:
        made.append((await _ok(await api.post(f"/api/projects/{project_id}/scenes", json={"title": title}), 201))["id"])
    return made


async def test_episodes_are_created_numbered_changed_deleted_and_restored(api: httpx.AsyncClient) -> None:
    project_id = await _project(api)
    first = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={"title": "Homecoming"}), 201)
    assert (first["episode_number"], first["status"], first["publication"]) == (1, "draft", None)
    second = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={"description": "Storm."}), 201)
    assert second["episode_number"] == 2
    listed = await _ok(await api.get(f"/api/projects/{project_id}/episodes"))
    assert [e["id"] for e in listed] == [first["id"], second["id"]]

    detail = await _ok(await api.get(f"/api/episodes/{first['id']}"))
    assert detail["episode"]["title"] == "Homecoming"
    assert (detail["scenes"], detail["out_of_date"], detail["assembly_job"], detail["publish_job"]) == (
        [],
        [],
        None,
        None,
    )

    changed = await _ok(
        await api.patch(f"/api/episodes/{second['id']}", json={"title": "The Storm", "episode_number": 5})
    )
    assert (changed["title"], changed["episode_number"], changed["description"]) == ("The Storm", 5, "Storm.")
    taken = await api.patch(f"/api/episodes/{second['id']}", json={"episode_number": 1})
    assert "episode 1 already exists" in _refused(taken, 409)

    deleted = await _ok(await api.delete(f"/api/episodes/{first['id']}"))
    assert deleted["deleted_at"] is not None
    assert [e["id"] for e in await _ok(await api.get(f"/api/projects/{project_id}/episodes"))] == [second["id"]]
    every = await _ok(await api.get(f"/api/projects/{project_id}/episodes", params={"include_deleted": "true"}))
    assert {e["id"] for e in every} == {first["id"], second["id"]}
    restored = await _ok(await api.patch(f"/api/episodes/{first['id']}", json={"deleted": False}))
    assert restored["deleted_at"] is None
    assert len(await _ok(await api.get(f"/api/projects/{project_id}/episodes"))) == 2


async def test_unknown_ids_are_404_and_bad_bodies_name_the_field(api: httpx.AsyncClient) -> None:
    project_id = await _project(api)
    assert (await api.get("/api/projects/999/episodes")).status_code == 404
    assert (await api.post("/api/projects/999/episodes", json={})).status_code == 404
    for method, path in [
        ("GET", f"/api/episodes/{MISSING}"),
        ("PATCH", f"/api/episodes/{MISSING}"),
        ("DELETE", f"/api/episodes/{MISSING}"),
        ("POST", f"/api/episodes/{MISSING}/assemble"),
        ("GET", f"/api/episodes/{MISSING}/video"),
        ("POST", f"/api/episodes/{MISSING}/publish"),
    ]:
        response = await api.request(method, path, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    put = await api.put(f"/api/episodes/{MISSING}/scenes", json={"scenes": []})
    assert put.status_code == 404
    assert (await api.get("/api/episodes/not-a-uuid")).status_code == 422

    episodes = f"/api/projects/{project_id}/episodes"
    _refused(await api.post(episodes, json={"episode_number": 0}), 422, "episode_number")
    _refused(await api.post(episodes, json={"title": "x" * 201}), 422, "title")
    _refused(await api.post(episodes, json={"colour": "red"}), 422, "colour")
    episode = await _ok(await api.post(episodes, json={}), 201)
    assert (await api.get(f"/api/episodes/{episode['id']}/video")).json()["detail"] == (
        "this episode has not been assembled yet"
    )
    libraries = await _ok(await api.get("/api/libraries"))
    assert "folder" in [lib["kind"] for lib in libraries] and all(lib["root"] for lib in libraries)
    not_assembled = await api.post(f"/api/episodes/{episode['id']}/publish", json={"library": "folder"})
    assert "assemble the episode before publishing it" in _refused(not_assembled, 422)
    _refused(await api.post(f"/api/episodes/{episode['id']}/publish", json={"library": "x" * 40}), 422, "library")
    unknown = await api.post(f"/api/episodes/{episode['id']}/publish", json={"library": "vhs"})
    assert "there is no library 'vhs'" in _refused(unknown, 422, "library")
    assert "not published" in _refused(await api.delete(f"/api/episodes/{episode['id']}/publish"), 422)


async def test_the_scene_list_round_trips_and_refusals_name_the_scene(api: httpx.AsyncClient) -> None:
    project_id = await _project(api)
    a, b, c = await _scenes(api, project_id, "Arrival", "Storm", "Dawn")
    [elsewhere] = await _scenes(api, await _project(api, "Other"), "Not ours")
    episode = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={}), 201)
    scenes = f"/api/episodes/{episode['id']}/scenes"

    body = {
        "scenes": [
            {"scene_id": c, "transition": "dissolve", "transition_duration": 1.25},
            {"scene_id": a},
            {"scene_id": b, "transition": "cut", "transition_duration": 0},
        ]
    }
    saved = await _ok(await api.put(scenes, json=body))
    assert [(s["scene_id"], s["transition"], s["transition_duration"]) for s in saved] == [
        (c, "dissolve", 1.25),
        (a, "fadeblack", 0.5),  # the default
        (b, "cut", 0.0),
    ]
    detail = await _ok(await api.get(f"/api/episodes/{episode['id']}"))
    assert [(s["position"], s["title"], s["has_video"], s["duration_seconds"]) for s in detail["scenes"]] == [
        (1, "Dawn", False, None),
        (2, "Arrival", False, None),
        (3, "Storm", False, None),
    ]
    reordered = await _ok(await api.put(scenes, json={"scenes": [{"scene_id": a}, {"scene_id": c}]}))
    assert [s["scene_id"] for s in reordered] == [a, c]

    twice = await api.put(scenes, json={"scenes": [{"scene_id": a}, {"scene_id": a}]})
    assert "a scene plays once" in _refused(twice, 422, "scenes.1.scene_id")
    theirs = await api.put(scenes, json={"scenes": [{"scene_id": a}, {"scene_id": elsewhere}]})
    assert "no such scene in this episode's project" in _refused(theirs, 422, "scenes.1.scene_id")
    _refused(
        await api.put(scenes, json={"scenes": [{"scene_id": a, "transition": "swirl"}]}), 422, "scenes.0.transition"
    )
    negative = {"scenes": [{"scene_id": a, "transition_duration": -0.5}]}
    _refused(await api.put(scenes, json=negative), 422, "scenes.0.transition_duration")
    assert [s["scene_id"] for s in (await _ok(await api.get(f"/api/episodes/{episode['id']}")))["scenes"]] == [a, c]

    unready = await api.post(f"/api/episodes/{episode['id']}/assemble")
    assert "assemble these scenes first" in _refused(unready, 422, "scenes")
    assert "Arrival" in unready.json()["detail"] and "Dawn" in unready.json()["detail"]
    empty = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={}), 201)
    assert "no scenes yet" in _refused(await api.post(f"/api/episodes/{empty['id']}/assemble"), 422, "scenes")


async def test_a_published_episode_is_not_deleted(api: httpx.AsyncClient, studio: Studio) -> None:
    project_id = await _project(api)
    episode = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={}), 201)
    async with studio.db.session() as session:
        row = await session.get(Episode, uuid.UUID(episode["id"]))
        assert row is not None
        row.publication, row.status = {"library": "folder", "root": "/srv/media"}, "published"
        session.add(row)
    refused = await api.delete(f"/api/episodes/{episode['id']}")
    assert "unpublish it first" in _refused(refused, 409)
    assert (await _ok(await api.get(f"/api/episodes/{episode['id']}")))["episode"]["deleted_at"] is None


# --- assembled end to end -------------------------------------------------------------------------


async def _assembled_scene(studio: Studio, project_id: int, title: str, source: str, seconds: float) -> Scene:
    scene = await studio.scenes.create(project_id, SceneDraft(title=title), "aiko")
    shot = await studio.scenes.add_shot(scene.id, ShotDraft(duration_seconds=seconds, video_engine="animatic"), "aiko")
    await _given_video(studio, shot, source, (426, 240), 12, seconds)
    return await _assembled(studio, scene)


async def test_an_episode_of_two_scenes_is_assembled_served_published_and_unpublished(
    api: httpx.AsyncClient, studio: Studio
) -> None:
    project_id = await _project(api)
    first = await _assembled_scene(studio, project_id, "Arrival", "testsrc", 2.0)
    second = await _assembled_scene(studio, project_id, "Storm", "smptebars", 2.0)
    episode = await _ok(await api.post(f"/api/projects/{project_id}/episodes", json={"title": "Homecoming"}), 201)
    base = f"/api/episodes/{episode['id']}"
    body = {"scenes": [{"scene_id": str(first.id), "transition": "dissolve", "transition_duration": 0.5},
                       {"scene_id": str(second.id)}]}  # fmt: skip
    await _ok(await api.put(f"{base}/scenes", json=body))

    queued = await _ok(await api.post(f"{base}/assemble"), 202)
    assert queued["kind"] == "episode.assemble"
    assert "already being assembled" in _refused(await api.post(f"{base}/assemble"), 409)
    assert "being assembled" in _refused(await api.put(f"{base}/scenes", json=body), 409)
    finished = await _settled(studio, queued["id"], within=120)
    assert finished.state == JobState.SUCCEEDED, finished.error

    detail = await _ok(await api.get(base))
    assembled = detail["episode"]
    assert assembled["status"] == "assembled" and assembled["assembly_job_id"] is None
    assert assembled["actual_duration_seconds"] == pytest.approx(3.5, abs=0.1)  # 2 + 2 less the 0.5 s dissolve
    assert assembled["render_mode"] in ("smart", "full") and detail["out_of_date"] == []
    assert [s["has_video"] for s in detail["scenes"]] == [True, True]

    part = await api.get(f"{base}/video", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-type"] == "video/mp4" and part.headers["content-range"].startswith("bytes 0-99/")
    thumbnail = await api.get(f"{base}/thumbnail", params={"v": assembled["assembled_at"]})
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8"
    assert "immutable" in thumbnail.headers["cache-control"]
    vtt = await api.get(f"{base}/subtitles.vtt")
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    assert (await api.get(f"{base}/subtitles.srt")).status_code == 200

    # Changing a transition makes the assembled video out of date, and the detail says why.
    body["scenes"][0]["transition"] = "cut"
    await _ok(await api.put(f"{base}/scenes", json=body))
    assert "the transition after scene" in " ".join((await _ok(await api.get(base)))["out_of_date"])

    publishing = await _ok(await api.post(f"{base}/publish"), 202)
    assert publishing["kind"] == "episode.publish"
    published = await _settled(studio, publishing["id"], within=60)
    assert published.state == JobState.SUCCEEDED, published.error
    detail = await _ok(await api.get(base))
    publication = detail["publication"]
    assert detail["episode"]["status"] == "published" and publication["library"] == "folder"
    assert detail["publication_out_of_date"] is None
    video = Path(publication["root"]) / publication["episode_file"]
    assert video.is_file() and publication["verified"] is True
    assert "unpublish it first" in _refused(await api.delete(base), 409)

    unpublished = await _ok(await api.delete(f"{base}/publish"))
    assert unpublished["status"] == "assembled" and unpublished["publication"] is None
    assert not video.exists()
    assert (await _ok(await api.delete(base)))["deleted_at"] is not None
