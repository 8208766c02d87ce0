"""The tags REST API on SQLite and PostgreSQL, as the Datasets page and scripts use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.tags import MachineTag
from studio.models import ApprovalState, DatasetImage, TagSource
from studio.root import Studio
from tests.bible_helpers import KOOPA
from tests.integration.test_api import guarded_api
from tests.integration.test_tag_store import koopa, seed_images

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_tags_captions_bulk_edit_and_undo_over_rest(studio: Studio, api: httpx.AsyncClient) -> None:
    character, ids = await koopa(studio, 3)
    for image_id in ids:
        await studio.tags.set_machine_tags(image_id, TagSource.TAGGER, [MachineTag("blonde_hair", 0.7)])
    first = ids[0]

    put = ok(await api.put(f"/images/{first}/tags", json={"tags": ["Blonde_Hair", "smile"], "caption": "A king"}))
    assert [t["tag"] for t in put["tags"]] == ["smile", "blonde hair"] and put["undo_token"]
    assert put["tags"][0] == {"tag": "smile", "category": "general", "confidence": 1.0, "sources": ["person"]}
    assert ok(await api.get(f"/images/{first}/tags"))["caption"] == "A king"

    ok(await api.put(f"/characters/{character.id}/trigger", json={"trigger_word": "kpa"}))
    assert ok(await api.get(f"/characters/{character.id}/trigger")) == {"trigger_word": "kpa"}
    ok(await api.put(f"/projects/{character.project_id}/tag-blacklist", json={"tags": ["Smile"]}))
    assert ok(await api.get(f"/projects/{character.project_id}/tag-blacklist")) == {"tags": ["smile"]}
    ok(await api.put(f"/characters/{character.id}/tag-blacklist", json={"tags": ["frown"]}))
    assert ok(await api.get(f"/characters/{character.id}/tag-blacklist")) == {"tags": ["frown"]}
    caption = ok(await api.get(f"/images/{first}/caption"))
    # No style names a checkpoint: the catch-all profile (prose) decides, and the image has a prose caption.
    assert (caption["text"], caption["prompt_format"], caption["profile"]) == ("kpa, A king", "prose", "Default")
    ok(await api.put(f"/images/{first}/tags", json={"tags": ["Blonde_Hair", "smile"], "caption": ""}))
    caption = ok(await api.get(f"/images/{first}/caption"))
    assert caption["text"] == "kpa, blonde hair" and caption["dropped"] == ["smile"]

    # A filter selects which of the character's images a bulk edit touches.
    async with studio.db.session() as session:
        image = await session.get(DatasetImage, ids[1])
        assert image is not None
        image.approval_state = ApprovalState.APPROVED
        session.add(image)
    body = {"operation": "add", "tag": "crown", "filter": {"states": ["approved"]}}
    added = ok(await api.post(f"/characters/{character.id}/tags/bulk", json=body))
    assert added["images_changed"] == 1 and "crown" in [
        t["tag"] for t in ok(await api.get(f"/images/{ids[1]}/tags"))["tags"]
    ]

    renamed = ok(
        await api.post(
            f"/characters/{character.id}/tags/bulk",
            json={"operation": "rename", "tag": "blonde hair", "new_tag": "yellow hair"},
        )
    )
    assert renamed["images_changed"] == 3 and not renamed["merged"]
    frequencies = ok(await api.get(f"/characters/{character.id}/tag-frequencies"))
    assert frequencies["images"] == 3
    assert frequencies["tags"][0] == {"tag": "yellow hair", "category": "general", "count": 3, "share": 1.0}

    undone = ok(await api.post(f"/tag-edits/{renamed['undo_token']}/undo"))
    assert undone["images_changed"] == 3 and undone["undo_token"] is None
    again = await api.post(f"/tag-edits/{renamed['undo_token']}/undo")
    assert again.status_code == 409 and "undone already" in again.json()["detail"]
    names = [t["tag"] for t in ok(await api.get(f"/characters/{character.id}/tag-frequencies"))["tags"]]
    assert names == ["blonde hair", "crown", "smile"]


async def test_bad_requests_get_clear_4xx(studio: Studio, api: httpx.AsyncClient) -> None:
    character, ids = await koopa(studio, 1)
    other = await studio.characters.create(character.project_id, character_draft("Bowser Jr"), "t")
    (stranger,) = await seed_images(studio, other, 1)
    bulk = f"/characters/{character.id}/tags/bulk"

    comma = await api.put(f"/images/{ids[0]}/tags", json={"tags": ["a, b"]})
    assert comma.status_code == 422 and "comma" in comma.json()["detail"]
    assert (await api.put(f"/images/{ids[0]}/tags", json={"tags": ["x" * 201]})).status_code == 422
    assert (await api.get("/images/999999/tags")).status_code == 404
    assert (await api.get("/images/999999/caption")).status_code == 404
    foreign = await api.post(bulk, json={"operation": "add", "tag": "crown", "image_ids": [ids[0], stranger]})
    assert foreign.status_code == 422 and "not images of" in foreign.json()["detail"]
    assert (await studio.tags.tags_of(ids[0])).tags == []  # nothing half-applied
    missing = await api.post(bulk, json={"operation": "replace", "tag": "crown"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "new_tag"
    assert (await api.post(bulk, json={"operation": "explode", "tag": "crown"})).status_code == 422
    assert (await api.post("/characters/999999/tags/bulk", json={"operation": "add", "tag": "x"})).status_code == 404
    assert (await api.post("/tag-edits/nope/undo")).status_code == 404
    long_trigger = await api.put(f"/characters/{character.id}/trigger", json={"trigger_word": "a, b"})
    assert long_trigger.status_code == 422
    assert (await api.get("/projects/999999/tag-blacklist")).status_code == 404


def character_draft(name: str) -> Any:
    return KOOPA.model_copy(update={"name": name})
