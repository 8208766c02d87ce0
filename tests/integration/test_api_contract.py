"""The REST API against its own OpenAPI document, on SQLite and PostgreSQL: schemathesis sends every
operation generated requests (valid ones, boundary values, ids no database can hold, NUL characters,
nulls, wrong types) and checks that no answer is a server error, that each status is one the operation
documents, and that each body matches the documented schema.

The studio runs as a real server on loopback (trusted, so no login), its job workers stopped: the test
checks the answers, not the work they queue, so no operation needs leaving out. A generation style,
project, character, scene, shot, episode and music track are seeded, and a third of the generated requests
name them in their path, so they reach past the 404s.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckContext
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from starlette.applications import Starlette
from starlette.routing import Mount

from studio.config import Settings
from studio.root import Studio
from tests.conftest import _libpq, free_port
from tests.integration.test_api import guarded_api

# Per operation: enough to reach boundary values and bad types, small enough that all ~150 operations run in
# well under a minute per database on two cores. PostgreSQL gets more: it is the stricter store (column
# lengths, integer ranges, NUL characters), where a value the API lets through can still fail.
EXAMPLES = {"sqlite": 5, "postgresql": 10}


@dataclass
class ServedStudio:
    url: str
    examples: int
    ids: dict[str, Any] = field(default_factory=dict)


def _app(studio: Studio) -> Starlette:
    """The guarded API as the other API tests build it, started and stopped with the server."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await studio.start()
        await studio.workers.stop()  # queued jobs stay queued: the answers are under test, not the work
        yield
        await studio.stop()

    return Starlette(routes=[Mount("", guarded_api(studio))], lifespan=lifespan)


def _seed(url: str) -> dict[str, Any]:
    """One of each thing the API addresses by id, made through the API itself."""

    def made(response: httpx.Response) -> Any:
        assert response.status_code in (200, 201), response.text
        return response.json()

    with httpx.Client(base_url=f"{url}/api", timeout=60) as api:
        style = made(api.post("/generation-styles", json={"name": "anime", "checkpoint_model": "anime.safetensors"}))
        project = made(api.post("/projects", json={"name": "Contract", "default_style": style["name"]}))["id"]
        character = made(api.post(f"/projects/{project}/characters", json={"name": "Rin"}))["id"]
        scene = made(api.post(f"/projects/{project}/scenes", json={"title": "Harbour", "mood": "calm"}))["id"]
        shot = made(api.post(f"/scenes/{scene}/shots", json={"characters_present": [character]}))["id"]
        episode = made(api.post(f"/projects/{project}/episodes", json={"title": "Pilot"}))["id"]
        track = made(api.post(f"/projects/{project}/music/temp-beds", json={"mood": "peaceful"}))["id"]
    return {
        "project_id": project,
        "character_id": character,
        "scene_id": scene,
        "shot_id": shot,
        "episode_id": episode,
        "track_id": track,
        "name": "anime",
        "mood": "peaceful",
    }


@contextlib.contextmanager
def _serving(settings: Settings, examples: int) -> Iterator[ServedStudio]:
    studio = Studio.build(settings)
    studio.migrate()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(_app(studio), host="127.0.0.1", port=port, loop="asyncio", log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="contract-studio", daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            if not thread.is_alive():
                pytest.fail("the studio server did not start; see the log above")
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}"
        yield ServedStudio(url, examples, _seed(url))
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedStudio]:
    data = tmp_path_factory.mktemp(f"contract-{request.param}")
    if request.param == "sqlite":
        with _serving(
            Settings(data_dir=data, database_url=f"sqlite:///{data / 'studio.db'}"), EXAMPLES["sqlite"]
        ) as studio:
            yield studio
        return
    url = request.getfixturevalue("postgres_server_url")
    try:
        with _serving(Settings(data_dir=data, database_url=url), EXAMPLES["postgresql"]) as studio:
            yield studio
    finally:  # leave the session database empty, as every other test finds it
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("DROP SCHEMA public CASCADE")
            conn.execute("CREATE SCHEMA public")


def no_server_error(_ctx: CheckContext, response: Any, _case: Case) -> None:
    """A 5xx is a bug, except 503: a backend the operation needs is not set up here (and it says how)."""
    if response.status_code >= 500 and response.status_code != 503:
        raise AssertionError(f"answered {response.status_code}: {response.text[:500]}")


CHECKS = [no_server_error, status_code_conformance, response_schema_conformance]


def _cases(operation: APIOperation, seeded: dict[str, Any]) -> st.SearchStrategy[Case]:
    """Valid and invalid requests, and valid ones naming the seeded rows (they reach past the 404s)."""
    known = {name: value for name, value in seeded.items() if name in operation.path_parameters}
    strategies = [operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)]
    if known:
        strategies.append(operation.as_strategy(path_parameters=known))
    return st.one_of(strategies)


def test_every_operation_keeps_its_documented_contract(served: ServedStudio) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json")
    broken: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100
    for operation in operations:

        @given(case=_cases(operation, served.ids))
        @settings(
            max_examples=served.examples,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],  # no shrinking: the first failure is reported as is
            suppress_health_check=list(HealthCheck),
        )
        def keeps_contract(case: Case) -> None:
            response = case.call(base_url=f"{served.url}/api", timeout=60)
            case.validate_response(response, checks=CHECKS)

        try:
            keeps_contract()
        except (AssertionError, FailureGroup) as exc:  # every operation is tried; all that break are reported
            broken.append(f"{operation.label}: {exc}")
    assert not broken, f"{len(broken)} operations break their contract:\n\n" + "\n\n".join(broken)


async def test_the_document_shows_the_studios_own_error_bodies(served: ServedStudio) -> None:
    async with httpx.AsyncClient(base_url=served.url) as client:
        document = (await client.get("/api/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["InvalidOut"]["required"]) == {"detail", "status", "errors"}
    patch = document["paths"]["/projects/{project_id}"]["patch"]["responses"]
    assert patch["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/InvalidOut"}
    assert {"401", "404", "409", "422"} <= set(patch)
    assert patch["404"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert "503" in document["paths"]["/projects/{project_id}/music/generate"]["post"]["responses"]
