"""The bible's REST API: every route a page uses, with invalid input giving 4xx JSON that names the field."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from studio.root import Studio
from tests.bible_helpers import noisy_png
from tests.integration.test_api import guarded_api


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


STYLE = {"name": "noob", "checkpoint_model": "noobaiXLVpred_v10.safetensors", "width": 832, "height": 1216}
KOOPA = {
    "name": "Koopa",
    "design_prompt": "turtle king, 1boy",
    "appearance_data": {"species": "turtle (NOT human)", "key_colors": {"shell": "green"}},
}


async def test_a_bible_is_built_through_the_api(api: httpx.AsyncClient) -> None:
    assert (await api.post("/generation-styles", json=STYLE)).status_code == 201
    project = (await api.post("/projects", json={"name": "Galaxy", "default_style": "noob"})).json()
    pid = project["id"]
    story = await api.put(f"/projects/{pid}/storyline", json={"summary": "Stars fall", "themes": ["hope"]})
    assert story.json()["themes"] == ["hope"]
    world = await api.put(f"/projects/{pid}/world-settings", json={"negative_prompt_guidance": "photo"})
    assert (
        world.status_code == 200
        and (await api.get(f"/projects/{pid}/world-settings")).json()["negative_prompt_guidance"] == "photo"
    )
    koopa = (await api.post(f"/projects/{pid}/characters", json=KOOPA)).json()
    upload = await api.post(
        f"/characters/{koopa['id']}/references", files={"file": ("koopa.png", noisy_png(), "image/png")}
    )
    assert upload.status_code == 201 and upload.json()["width"] == 128
    image = await api.get(f"/references/{upload.json()['id']}/image")
    assert image.content == noisy_png() and image.headers["content-type"] == "image/png"
    cards = (await api.get(f"/projects/{pid}/characters")).json()
    assert [(c["character"]["name"], c["non_human"], len(c["references"])) for c in cards] == [("Koopa", True, 1)]
    preview = (await api.get(f"/characters/{koopa['id']}/prompt-preview")).json()
    assert preview["profile"] == "NoobAI-XL v-pred" and "no_humans" in preview["positive"]
    assert "human face" in preview["negative"] and preview["params"]["prediction_type"] == "v_prediction"
    assert any(e["part"] == "species" for e in preview["explanations"])
    listed = (await api.get("/projects")).json()
    assert [(p["project"]["name"], p["characters"]) for p in listed] == [("Galaxy", 1)]


async def test_soft_deletes_are_undone_with_patch(api: httpx.AsyncClient) -> None:
    pid = (await api.post("/projects", json={"name": "Galaxy"})).json()["id"]
    cid = (await api.post(f"/projects/{pid}/characters", json=KOOPA)).json()["id"]
    assert (await api.delete(f"/characters/{cid}")).json()["deleted_at"] is not None
    assert (await api.get(f"/projects/{pid}/characters")).json() == []
    assert (await api.patch(f"/characters/{cid}", json={"deleted": False})).json()["deleted_at"] is None
    assert (await api.delete(f"/projects/{pid}")).json()["archived_at"] is not None
    assert (await api.get("/projects")).json() == []
    assert (await api.patch(f"/projects/{pid}", json={"archived": False})).json()["archived_at"] is None


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/projects", {"name": ""}, 422, "name"),
        ("post", "/projects", {"name": "X", "content_rating": "XXX"}, 422, "content_rating"),
        ("post", "/projects", {"name": "X", "frame_width": 1281}, 422, "frame_width"),
        ("post", "/projects", {"name": "X", "default_style": "missing"}, 422, "default_style"),
        ("post", "/projects", {"name": "X", "surprise": 1}, 422, "surprise"),
        ("post", "/generation-styles", {**STYLE, "width": 830}, 422, "width"),
        ("post", "/generation-styles", {**STYLE, "steps": 0}, 422, "steps"),
        ("post", "/generation-styles", {**STYLE, "checkpoint_model": "../../etc/passwd"}, 422, "checkpoint_model"),
        ("post", "/generation-styles", {**STYLE, "vae": "../vae/x.safetensors"}, 422, "vae"),
        ("post", "/generation-styles", {**STYLE, "vae": ".hidden.safetensors"}, 422, "vae"),
        ("post", "/generation-styles", {**STYLE, "vae": "v" * 201}, 422, "vae"),
        ("put", "/generation-styles/other", STYLE, 422, "name"),
        ("put", "/species-rules/slime", {"name": "slime", "keywords": []}, 422, "keywords"),
        ("get", "/projects/999", None, 404, None),
        ("get", "/characters/999/prompt-preview", None, 404, None),
        ("delete", "/model-profiles/NoobAI-XL v-pred", None, 409, None),
    ],
)
async def test_bad_requests_get_clear_errors(
    api: httpx.AsyncClient, method: str, path: str, body: dict | None, status: int, field: str | None
) -> None:
    response = await api.request(method, path, json=body)
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["status"] == status and payload["detail"]
    if field:
        assert field in [e["field"].split(".")[-1] for e in payload["errors"]]


async def test_a_styles_vae_round_trips_and_a_blank_one_means_the_checkpoints_own(api: httpx.AsyncClient) -> None:
    created = await api.post("/generation-styles", json={**STYLE, "vae": " sdxl_vae.safetensors "})
    assert created.status_code == 201, created.text
    assert created.json()["vae"] == "sdxl_vae.safetensors"
    assert (await api.get("/generation-styles/noob")).json()["vae"] == "sdxl_vae.safetensors"

    cleared = await api.put("/generation-styles/noob", json={**STYLE, "vae": ""})
    assert cleared.status_code == 200, cleared.text
    assert (await api.get("/generation-styles/noob")).json()["vae"] is None
    assert (await api.put("/generation-styles/noob", json=STYLE)).json()["vae"] is None


async def test_duplicates_conflict(api: httpx.AsyncClient) -> None:
    await api.post("/generation-styles", json=STYLE)
    assert (await api.post("/generation-styles", json=STYLE)).status_code == 409
    pid = (await api.post("/projects", json={"name": "Galaxy", "default_style": "noob"})).json()["id"]
    assert (await api.post("/projects", json={"name": "galaxy"})).status_code == 409
    assert (await api.delete("/generation-styles/noob")).status_code == 409
    await api.post(f"/projects/{pid}/characters", json=KOOPA)
    assert (await api.post(f"/projects/{pid}/characters", json=KOOPA)).status_code == 409


async def test_bad_uploads_are_refused_and_nothing_is_stored(api: httpx.AsyncClient, studio: Studio) -> None:
    pid = (await api.post("/projects", json={"name": "Galaxy"})).json()["id"]
    cid = (await api.post(f"/projects/{pid}/characters", json=KOOPA)).json()["id"]
    for name, data in (
        ("x.png", b"GIF89a...."),
        ("evil.svg", b"<svg onload=alert(1)>"),
        ("half.png", noisy_png()[:9000]),
    ):
        response = await api.post(f"/characters/{cid}/references", files={"file": (name, data, "image/png")})
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "reference_image"
    assert (await api.get(f"/characters/{cid}/references")).json() == []
    assert not (studio.settings.data_dir / "projects").exists()


async def test_export_and_import_over_http(api: httpx.AsyncClient) -> None:
    pid = (await api.post("/projects", json={"name": "Galaxy", "premise": "Stars"})).json()["id"]
    exported = await api.get(f"/projects/{pid}/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="galaxy.bible.zip"'
    imported = await api.post(
        "/projects/import", files={"file": ("galaxy.bible.zip", exported.content, "application/zip")}
    )
    assert imported.status_code == 201
    assert imported.json()["project"]["name"] == "Galaxy (imported)" and imported.json()["renamed_from"] == "Galaxy"
    refused = await api.post("/projects/import", files={"file": ("x.zip", b"PK nonsense", "application/zip")})
    assert refused.status_code == 422 and "not a zip archive" in refused.json()["detail"]
