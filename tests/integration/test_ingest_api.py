"""Ingestion through the REST API, end to end: uploads, a video, a URL and folder scans, with bad input refused."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA, noisy_png
from tests.dataset_helpers import drawing, ffconcat_list, hls_playlist, reencoded, scene_video, uploaded
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import _until

LOOPBACK = ("127.0.0.1", 40000)


@contextlib.asynccontextmanager
async def _rig(tmp_path: Path) -> AsyncIterator[tuple[Studio, httpx.AsyncClient, int, Path]]:
    imports = tmp_path / "imports"
    imports.mkdir()
    settings = Settings(data_dir=tmp_path / "data", import_folders=[imports], job_claim_poll_seconds=0.5)
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY.model_copy(update={"name": f"G {uuid.uuid4().hex[:6]}"}), "t")
        koopa = await studio.characters.create(project.id, KOOPA, "t")  # type: ignore[arg-type]
        transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as api:
            yield studio, api, koopa.id, imports  # type: ignore[misc]
    finally:
        await studio.stop()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Studio, httpx.AsyncClient, int, Path]]:
    async with _rig(tmp_path) as running:
        yield running


async def _settled(api: httpx.AsyncClient, job: dict[str, Any], within: float = 60.0) -> dict[str, Any]:
    async def done() -> bool:
        state = (await api.get(f"/api/jobs/{job['id']}")).json()["state"]
        return state not in ("queued", "running")

    await _until(done, within, f"job {job['id']}")
    return dict((await api.get(f"/api/jobs/{job['id']}")).json())


async def _images(api: httpx.AsyncClient, studio: Studio, character_id: int) -> list[dict[str, Any]]:
    character = await studio.characters.get(character_id)
    response = await api.get("/api/images", params={"project_id": character.project_id, "sort": "oldest"})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _nothing_written(studio: Studio) -> bool:
    staging = studio.settings.data_dir / "staging"
    dataset = list((studio.settings.data_dir / "projects").rglob("*.*"))
    return (not staging.exists() or not any(staging.iterdir())) and not dataset


async def test_uploads_are_added_and_a_reencoded_copy_is_caught(rig: Any) -> None:
    studio, api, koopa, _ = rig
    files = [("files", (f"k{i}.png", drawing(i), "image/png")) for i in range(3)]
    files.append(("files", ("k0-copy.jpg", reencoded(drawing(0)), "image/jpeg")))
    response = await api.post("/api/ingest/images", data={"character_id": str(koopa)}, files=files)
    assert response.status_code == 202, response.text
    job = await _settled(api, response.json())
    assert job["state"] == "succeeded", job["error"]
    assert job["result"]["added"] == 4 and job["result"]["duplicates"] == 1
    images = await _images(api, studio, koopa)
    assert [i["approval_state"] for i in images] == ["pending", "pending", "pending", "rejected"]
    copy = images[3]
    assert copy["duplicate_of_id"] == images[0]["id"] and copy["duplicate_kind"] == "near"
    assert copy["rejection_categories"] == ["duplicate"] and copy["source"] == "upload"
    assert copy["provenance"]["original_name"] == "k0-copy.jpg"
    thumb = studio.settings.data_dir / copy["thumbnail_url"].removeprefix("/")
    assert thumb.is_file()
    assert not any((studio.settings.data_dir / "staging").iterdir())  # the staged uploads are gone


def _bomb() -> bytes:
    out = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(out, "PNG")  # tiny file, 400 megapixels once decoded
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("inside.png", drawing(1))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.png", b"just some text, not a picture", "not a readable image"),
        ("cut.png", noisy_png()[:2000], "not a readable image"),
        ("bomb.png", _bomb(), "decompression bomb"),
        ("images.zip", _zip(), "ZIP archives are not accepted"),
        ("../../etc/passwd.png", drawing(1), "not a plain file name"),
        ("", drawing(1), "422"),
    ],
)
async def test_bad_uploads_are_refused_and_nothing_is_written(
    rig: Any, name: str, content: bytes, message: str
) -> None:
    studio, api, koopa, _ = rig
    files = [("files", ("good.png", drawing(3), "image/png")), ("files", (name, content, "image/png"))]
    response = await api.post("/api/ingest/images", data={"character_id": str(koopa)}, files=files)
    assert response.status_code == 422, response.text
    assert message == "422" or message in response.json()["detail"]
    assert _nothing_written(studio)
    assert await _images(api, studio, koopa) == []


async def test_a_video_gives_frames_at_scene_changes_and_repeats_are_caught(rig: Any, tmp_path: Path) -> None:
    studio, api, koopa, _ = rig
    video = scene_video(tmp_path)
    with video.open("rb") as handle:
        response = await api.post(
            "/api/ingest/video",
            data={"character_id": str(koopa), "interval_seconds": "1"},
            files={"file": ("scenes.mp4", handle.read(), "video/mp4")},
        )
    assert response.status_code == 202, response.text
    job = await _settled(api, response.json())
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    # 6 s at one frame a second plus the cuts: three distinct scenes, the rest repeats of them.
    assert result["added"] >= 5 and result["added"] - result["duplicates"] == 3
    images = await _images(api, studio, koopa)
    fresh = [i for i in images if i["duplicate_of_id"] is None]
    assert {i["source"] for i in images} == {"video"} and len(fresh) == 3
    assert all(i["source_ref"].startswith("scenes.mp4@") for i in images)
    assert all(i["width"] == 640 for i in images)  # 640 px pictures stay below the 768 px frame width


async def test_a_file_that_is_not_a_video_is_refused_at_once(rig: Any) -> None:
    studio, api, koopa, _ = rig
    response = await api.post(
        "/api/ingest/video",
        data={"character_id": str(koopa)},
        files={"file": ("movie.mp4", b"\x00\x00\x00\x18ftypmp42 but nothing more", "video/mp4")},
    )
    assert response.status_code == 422, response.text
    assert _nothing_written(studio)


async def test_playlists_and_concat_lists_are_refused_so_no_other_file_is_read(rig: Any, tmp_path: Path) -> None:
    studio, api, koopa, _ = rig
    elsewhere = tmp_path / "elsewhere"  # outside the data folder
    elsewhere.mkdir()
    video = await asyncio.to_thread(scene_video, elsewhere)
    for data, what in (
        (await asyncio.to_thread(hls_playlist, video), "an HLS playlist"),
        (ffconcat_list(video), "an ffconcat list"),
    ):
        response = await api.post(
            "/api/ingest/video",
            data={"character_id": str(koopa)},
            files={"file": ("movie.mp4", data, "video/mp4")},
        )
        assert response.status_code == 422, response.text
        assert f"movie.mp4 is {what}, not a video; upload the video itself" in response.text
        assert _nothing_written(studio)


async def test_an_unreachable_url_fails_its_job_with_a_clear_error(rig: Any) -> None:
    studio, api, koopa, _ = rig
    refused = await api.post("/api/ingest/url", json={"character_id": koopa, "url": "ftp://example.com/a.mp4"})
    assert refused.status_code == 422 and "http(s)" in refused.json()["detail"]
    response = await api.post("/api/ingest/url", json={"character_id": koopa, "url": "http://127.0.0.1:9/v.mp4"})
    assert response.status_code == 202, response.text
    job = await _settled(api, response.json())
    assert job["state"] == "failed" and job["error"]
    assert "Traceback" not in job["error"]
    assert await _images(api, studio, koopa) == []
    await asyncio.sleep(0)
    assert _nothing_written(studio)


async def test_folder_scans_stay_inside_the_import_folders(rig: Any, tmp_path: Path) -> None:
    studio, api, koopa, imports = rig
    (imports / "set" / "deeper").mkdir(parents=True)
    (imports / "set" / "a.png").write_bytes(drawing(10))
    (imports / "set" / "deeper" / "b.jpg").write_bytes(reencoded(drawing(11)))
    (imports / "set" / "c.png").write_bytes(drawing(10))  # the same file again
    (imports / "set" / "notes.txt").write_text("not an image")
    (imports / "set" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.png").write_bytes(drawing(12))
    (imports / "set" / "escape.png").symlink_to(outside / "secret.png")

    for folder in (str(outside), str(imports / ".." / "private"), "/etc"):
        response = await api.post("/api/ingest/scan", json={"character_id": koopa, "folder": folder})
        assert response.status_code == 422 and "import_folders" in response.json()["detail"], response.text

    response = await api.post("/api/ingest/scan", json={"character_id": koopa, "folder": str(imports / "set")})
    assert response.status_code == 202, response.text
    job = await _settled(api, response.json())
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    assert (result["found"], result["added"], result["already_present"]) == (5, 2, 1)
    refused = {item["name"]: item["error"] for item in result["refused"]}
    assert set(refused) == {"broken.png", "escape.png"} and "outside the folder" in refused["escape.png"]
    assert {i["source"] for i in await _images(api, studio, koopa)} == {"folder"}

    both = await api.post("/api/ingest/scan", json={"character_id": koopa})
    assert both.status_code == 422


async def test_staged_uploads_no_job_needs_are_swept_and_a_waiting_jobs_are_kept(tmp_path: Path) -> None:
    studio = Studio.build(Settings(data_dir=tmp_path / "data"))
    studio.migrate()  # not started: no worker takes the job, so it stays queued
    project = await studio.projects.create(GALAXY, "t")
    koopa = await studio.characters.create(project.id, KOOPA, "t")  # type: ignore[arg-type]
    job = await studio.ingestion.ingest_images(koopa.id, [uploaded("a.png", drawing(2))], "t")  # type: ignore[arg-type]
    orphan = studio.settings.data_dir / "staging" / "orphan"
    orphan.mkdir()
    (orphan / "00000").write_bytes(drawing(1))
    assert await studio.ingestion.sweep_staging(older_than=0) == 1
    assert not orphan.exists()
    assert studio.media.path_of(job.payload["staging"]).is_dir()
    await studio.db.dispose()
