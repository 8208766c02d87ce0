"""Hostile uploads through the REST API: memory stays bounded, bad input gets a 422 a person can act on.

Memory is measured with tracemalloc around one request; the client streams its files from disk, so
what the peak shows is what the studio held.
"""

from __future__ import annotations

import hashlib
import json
import random
import tracemalloc
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from services.bible.archive import FORMAT, VERSION
from studio.root import Studio
from tests.integration.test_api import guarded_api

MB = 1024 * 1024


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """Memory and messages do not depend on the database: SQLite only, to keep this fast."""
    return f"sqlite:///{tmp_path / 'data' / 'studio.db'}"


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api", timeout=120) as client:
        yield client


@pytest.fixture
async def character_id(api: httpx.AsyncClient) -> int:
    project = (await api.post("/projects", json={"name": "Galaxy"})).json()["id"]
    return int((await api.post(f"/projects/{project}/characters", json={"name": "Koopa"})).json()["id"])


async def _peak(request: Callable[[], Awaitable[httpx.Response]]) -> tuple[httpx.Response, int]:
    """The response, and the most memory Python held while the studio answered it."""
    tracemalloc.start()
    try:
        response = await request()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return response, peak


def _compressible_junk(size: int) -> bytes:
    """Junk that deflates about 80 times: well under the zip-bomb ratio, so only the sizes can stop it."""
    rng = random.Random(size)
    block = rng.randbytes(1000) + bytes(99_000)
    return (block * (size // len(block) + 1))[:size]


def _crafted_archive(folder: Path, entries: int, entry_size: int) -> Path:
    """A bible whose character names `entries` references of `entry_size` bytes of junk each."""
    names = [f"references/{hashlib.sha256(str(i).encode()).hexdigest()}.png" for i in range(entries)]
    bible = {
        "format": FORMAT,
        "version": VERSION,
        "project": {"name": "Crafted"},
        "characters": [{"name": "Koopa", "references": [{"file": name} for name in names]}],
    }
    path = folder / "crafted.bible.zip"
    junk = _compressible_junk(entry_size)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bible.json", json.dumps(bible))
        for name in names:
            archive.writestr(name, junk)
    return path


async def test_a_crafted_bible_archive_is_refused_holding_one_entry_at_a_time(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    archive = _crafted_archive(tmp_path, entries=10, entry_size=20 * MB)  # 200 MB unpacked from 2.5 MB
    assert archive.stat().st_size < 5 * MB
    with archive.open("rb") as handle:
        response, peak = await _peak(
            lambda: api.post("/projects/import", files={"file": ("crafted.bible.zip", handle, "application/zip")})
        )
    assert response.status_code == 422, response.text
    assert "not a readable image" in response.json()["detail"]
    assert peak < 80 * MB, f"the import held {peak / MB:.0f} MB"
    assert (await api.get("/projects")).json() == []


async def test_an_entry_unpacking_past_the_image_limit_is_refused_before_it_is_held(
    api: httpx.AsyncClient, tmp_path: Path
) -> None:
    archive = _crafted_archive(tmp_path, entries=1, entry_size=40 * MB)
    with archive.open("rb") as handle:
        response, peak = await _peak(
            lambda: api.post("/projects/import", files={"file": ("big.bible.zip", handle, "application/zip")})
        )
    assert response.status_code == 422, response.text
    assert "unpacks to more than 25 MB" in response.json()["detail"]
    assert peak < 20 * MB, f"the import held {peak / MB:.0f} MB"


def _nested(depth: int) -> str:
    return '{"name": "Koopa", "appearance_data": {"key_colors": ' + "[" * depth + "]" * depth + "}}"


@pytest.mark.parametrize("depth", [50, 100_000])
async def test_deeply_nested_json_in_an_import_answers_422(api: httpx.AsyncClient, tmp_path: Path, depth: int) -> None:
    head = f'{{"format": "{FORMAT}", "version": {VERSION}, "project": {{"name": "Deep"}}'
    path = tmp_path / "deep.bible.zip"
    with zipfile.ZipFile(path, "w") as archive:  # stored: brackets would compress like a zip bomb
        archive.writestr("bible.json", f'{head}, "characters": [{_nested(depth)}]}}')
    response = await api.post(
        "/projects/import", files={"file": ("deep.bible.zip", path.read_bytes(), "application/zip")}
    )
    assert response.status_code == 422, response.text
    assert "nests deeper than 32 levels" in response.json()["detail"]


async def test_many_junk_files_are_received_and_checked_one_at_a_time(
    api: httpx.AsyncClient, character_id: int, tmp_path: Path, studio: Studio
) -> None:
    files = []
    for index in range(10):
        path = tmp_path / f"junk{index}.png"
        path.write_bytes(random.Random(index).randbytes(5 * MB))
        files.append(path)
    handles = [path.open("rb") for path in files]
    try:
        response, peak = await _peak(
            lambda: api.post(
                "/ingest/images",
                data={"character_id": str(character_id)},
                files=[
                    ("files", (path.name, handle, "image/png")) for path, handle in zip(files, handles, strict=True)
                ],
            )
        )
    finally:
        for handle in handles:
            handle.close()
    assert response.status_code == 422, response.text
    assert "10 of 10 files refused, nothing was added" in response.json()["detail"]
    assert peak < 20 * MB, f"the upload held {peak / MB:.0f} MB"
    staging = studio.settings.data_dir / "staging"
    assert not staging.exists() or not any(staging.iterdir())


async def test_an_image_past_the_limit_is_refused_by_name(api: httpx.AsyncClient, character_id: int) -> None:
    response = await api.post(
        "/ingest/images",
        data={"character_id": str(character_id)},
        files=[("files", ("huge.png", bytes(26 * MB), "image/png"))],
    )
    assert response.status_code == 422, response.text
    assert "huge.png: the image is larger than 25 MB" in response.json()["detail"]


def _shows_no_internals(message: str, studio: Studio) -> None:
    for internal in ("0x", "object at", "Traceback", "_io.", str(studio.settings.data_dir), "/tmp"):
        assert internal not in message, f"{internal!r} in {message!r}"


@pytest.mark.parametrize(
    "content", [b"just some text, not a picture", b"\x89PNG\r\n\x1a\n" + bytes(200)], ids=["text", "broken-png"]
)
async def test_a_non_image_gets_a_message_without_internals(
    api: httpx.AsyncClient, character_id: int, studio: Studio, content: bytes
) -> None:
    reference = await api.post(f"/characters/{character_id}/references", files={"file": ("x.png", content)})
    dataset = await api.post(
        "/ingest/images", data={"character_id": str(character_id)}, files=[("files", ("x.png", content))]
    )
    for response in (reference, dataset):
        assert response.status_code == 422, response.text
        detail = response.json()["detail"]
        assert "not a readable image" in detail and ("use one of those" in detail or "save or export" in detail)
        _shows_no_internals(detail, studio)
