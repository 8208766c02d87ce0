"""The analytics REST routes on SQLite and PostgreSQL, behind the real guard with the API's error handling: each
report as JSON and as a CSV download, unknown ids 404, impossible ranges and bad parameters 422, and all ten
paths documented in the OpenAPI."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from studio.api.analytics import analytics_router
from studio.api.errors import install_error_handlers
from studio.auth import AccessGuard
from studio.models import Character
from studio.root import Studio
from tests.learning_helpers import CHECKPOINT, autonomous_character, reviews, seed_reviews

DAY = "2026-01-04"
BAD = "bad.safetensors"
PATHS = {
    "/analytics/quality-trend",
    "/analytics/rankings",
    "/analytics/rankings/images",
    "/analytics/rejections",
    "/analytics/lineage/{image_id}",
    "/analytics/co-occurrence",
    "/analytics/screen-time",
    "/analytics/project-health",
    "/analytics/drift",
    "/analytics/cross-project",
}


@pytest.fixture
def api(studio: Studio) -> FastAPI:
    # Only these routes (building the whole API takes seconds; its contract is test_api_contract's).
    built = FastAPI()
    install_error_handlers(built)
    built.include_router(analytics_router(studio))
    return built


@pytest.fixture
async def client(studio: Studio, api: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    guarded = AccessGuard(
        Starlette(routes=[Mount("/api", api)]),
        policy=studio.access,
        tokens=studio.tokens,
        accounts=studio.accounts,
        session_principal=lambda _scope: None,
        socket_of_public_page=lambda _scope: False,
    )
    transport = httpx.ASGITransport(app=guarded, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as http:
        yield http


async def _koopa(studio: Studio) -> Character:
    """Koopa King on 2026-01-04: its usual checkpoint 3 of 4 approved, a bad one 0 of 2 (wrong pose)."""
    koopa = await autonomous_character(studio, enabled=False)
    history = [
        *reviews(4, 3, score=0.5, categories=("bad_anatomy",)),
        *reviews(2, 0, checkpoint=BAD, categories=("wrong_pose",)),
    ]
    await seed_reviews(studio, koopa, history, datetime(2026, 1, 4, 12, tzinfo=UTC))
    return koopa


async def _json(client: httpx.AsyncClient, report: str, params: dict[str, Any]) -> Any:
    response = await client.get(f"/api/analytics/{report}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _csv(client: httpx.AsyncClient, report: str, params: dict[str, Any], name: str) -> list[list[str]]:
    """The report downloaded as CSV: its header and rows."""
    response = await client.get(f"/api/analytics/{report}", params={**params, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
    return list(csv.reader(io.StringIO(response.text)))


async def test_each_reviewed_image_report_as_json_and_csv(studio: Studio, client: httpx.AsyncClient) -> None:
    koopa = await _koopa(studio)
    scope = {"project_id": koopa.project_id, "character_id": [koopa.id], "since": DAY, "until": DAY}

    trend = await _json(client, "quality-trend", scope)
    assert trend["total"] == [{"day": DAY, "approved": 3, "rejected": 3, "mean_score": 0.5}]
    assert (await _csv(client, "quality-trend", scope, "quality-trend"))[:2] == [
        ["day", "character_id", "character", "approved", "rejected", "mean_score"],
        [DAY, "", "all", "3", "3", "0.5"],
    ]

    ranked = await _json(client, "rankings", scope)
    assert [(v["value"], v["approved"], v["total"]) for v in ranked["values"]] == [(CHECKPOINT, 3, 4), (BAD, 0, 2)]
    rows = await _csv(client, "rankings", {**scope, "by": "cfg"}, "rankings-cfg")
    assert rows[0] == ["cfg", "approved", "total", "rate", "lower_bound", "confidence", "mean_score"]
    assert rows[1][:3] == ["5.0", "3", "6"]

    drill = {**scope, "by": "checkpoint", "value": BAD}
    images = await _json(client, "rankings/images", drill)
    assert [(image["state"], image["categories"]) for image in images] == [("rejected", ["wrong_pose"])] * 2
    assert images[0]["file_url"] == f"/api/images/{images[0]['id']}/file"
    assert images[0]["thumbnail_url"].startswith("/thumbs/") and images[0]["thumbnail_url"].endswith(".webp")
    rows = await _csv(client, "rankings/images", drill, "checkpoint-images")
    assert rows[0][:3] == ["image_id", "project_id", "character_id"]
    assert [row[0] for row in rows[1:]] == [str(image["id"]) for image in images]

    rejections = await _json(client, "rejections", scope)
    assert rejections["rejected"] == 3
    assert rejections["days"] == [{"day": DAY, "rejected": 3, "categories": {"wrong_pose": 2, "bad_anatomy": 1}}]
    assert (await _csv(client, "rejections", scope, "rejections"))[1] == ["", "all", "wrong_pose", "Wrong pose", "2"]

    drift = await _json(client, "drift", scope)
    assert (drift["rows"], [ref["id"] for ref in drift["too_few"]]) == ([], [koopa.id])
    assert len(await _csv(client, "drift", scope, "drift")) == 1  # the header: nobody has two windows yet

    cross = await _json(client, "cross-project", scope)
    assert cross["species"] == ["turtle"]
    assert [(r["checkpoint"], r["approved"], r["total"]) for r in cross["rows"]] == [(CHECKPOINT, 3, 4), (BAD, 0, 2)]
    rows = await _csv(client, "cross-project", scope, "cross-project")
    assert rows[1][:4] == ["turtle", cross["rows"][0]["project_name"], "Koopa King", CHECKPOINT]


async def test_the_production_reports_answer_json_and_csv(studio: Studio, client: httpx.AsyncClient) -> None:
    koopa = await _koopa(studio)
    scope = {"project_id": koopa.project_id}
    health = await _json(client, "project-health", scope)
    assert [project["project_id"] for project in health["projects"]] == [koopa.project_id]
    row = (await _csv(client, "project-health", scope, "project-health"))[1]
    assert (row[0], row[2]) == (str(koopa.project_id), "1")  # the project, its one character
    assert (await _json(client, "screen-time", scope))["rows"] == []
    assert (await _csv(client, "screen-time", scope, "screen-time"))[0][0] == "episode_number"
    assert (await _json(client, "co-occurrence", scope))["shots"] == 0
    assert (await _csv(client, "co-occurrence", scope, "co-occurrence"))[0][0] == "character"
    assert (await client.get("/api/analytics/lineage/999999")).status_code == 404

    # From a bad checkpoint to an image it made and that image's lineage (here just itself).
    image_id = (await _json(client, "rankings/images", {**scope, "by": "checkpoint", "value": BAD}))[0]["id"]
    lineage = await _json(client, f"lineage/{image_id}", {})
    assert (lineage["root_id"], [node["image_id"] for node in lineage["nodes"]]) == (image_id, [image_id])
    assert (await _csv(client, f"lineage/{image_id}", {}, f"lineage-{image_id}"))[1][0] == str(image_id)


async def test_unknown_ids_are_404_and_impossible_input_422(studio: Studio, client: httpx.AsyncClient) -> None:
    koopa = await _koopa(studio)
    other = await autonomous_character(studio, name="Bowser Jr", enabled=False)
    reports = ["quality-trend", "rankings", "rejections", "drift", "cross-project"]
    production = ["co-occurrence", "screen-time", "project-health"]
    for report in reports + production:
        url = f"/api/analytics/{report}"
        assert (await client.get(url, params={"project_id": 999_999})).status_code == 404, report
        assert (await client.get(url, params={"since": "2026-01-05", "until": "2026-01-04"})).status_code == 422
    for report in reports:
        assert (await client.get(f"/api/analytics/{report}", params={"character_id": 999_999})).status_code == 404

    trend = "/api/analytics/quality-trend"
    impossible = await client.get(trend, params={"since": "2026-01-05", "until": "2026-01-04"})
    assert impossible.json()["errors"] == [
        {"field": "since", "message": "the range starts (2026-01-05) after it ends (2026-01-04)"}
    ]
    elsewhere = await client.get(trend, params={"project_id": koopa.project_id, "character_id": other.id})
    assert elsewhere.status_code == 422
    assert (await client.get(trend, params={"since": "2025-01-01", "until": "2026-01-04"})).status_code == 422
    assert (await client.get(trend, params={"since": "yesterday"})).status_code == 422
    assert (await client.get(trend, params={"character_id": list(range(1, 52))})).status_code == 422
    assert (await client.get(trend, params={"format": "xml"})).status_code == 422
    assert (await client.get("/api/analytics/rankings", params={"by": "colour"})).status_code == 422
    drill = "/api/analytics/rankings/images"
    assert (await client.get(drill, params={"by": "cfg", "value": "seven"})).status_code == 422
    assert (await client.get(drill, params={"by": "checkpoint", "value": BAD, "state": "pending"})).status_code == 422
    assert (await client.get(drill, params={"by": "checkpoint"})).status_code == 422
    assert (await client.get("/api/analytics/lineage/0")).status_code == 422


async def test_the_openapi_documents_all_ten_reports(api: FastAPI) -> None:
    paths = api.openapi()["paths"]
    assert set(paths) == PATHS
    for path in PATHS:
        operation = paths[path]["get"]
        assert operation["summary"] and operation["description"], path
        assert set(operation["responses"]) == {"200", "404", "422"}, path
        assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/csv"}, path
        names = {parameter["name"] for parameter in operation["parameters"]}
        assert "format" in names, path
        if path != "/analytics/lineage/{image_id}":
            assert {"project_id", "character_id", "since", "until"} <= names, path
