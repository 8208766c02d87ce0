"""The assistant's REST API behind the real access guard, with a fake Echo Brain or a fake LLM: status, asking
with sources, enhancing a motion prompt that changes the shot only on apply, narration, the thread, and the
refusals (nobody set up, a bad body, a failed answer kept in the thread)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from studio.root import Studio
from tests.fakes.echo_brain import FakeEchoBrain
from tests.fakes.ollama import FakeOllama
from tests.integration.test_api import guarded_api
from tests.integration.test_assistant import _studio, echo, ollama, production, with_echo, with_llm
from tests.integration.test_episodes_api import LOOPBACK, _refused
from tests.integration.test_scenes_api import _ok

__all__ = ["echo", "ollama", "with_echo", "with_llm"]  # fixtures shared with the service tests


async def _client(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio", timeout=30) as client:
        yield client


@pytest.fixture
async def echo_api(with_echo: Studio) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(with_echo):
        yield client


@pytest.fixture
async def llm_api(with_llm: Studio) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(with_llm):
        yield client


async def test_status_and_a_question_with_its_sources(
    echo_api: httpx.AsyncClient, with_echo: Studio, echo: FakeEchoBrain
) -> None:
    status = await _ok(await echo_api.get("/api/assistant/status"))
    assert (status["kind"], status["name"], status["url"], status["state"]) == (
        "echo_brain",
        "Echo Brain",
        echo.url,
        "ok",
    )

    made = await production(with_echo)
    project_id = made["project"].id
    echo.answer = "Green, with spikes [1]."
    turn = await _ok(
        await echo_api.post("/api/assistant/ask", json={"project_id": project_id, "question": "Koopa's shell?"})
    )
    assert turn["question"]["text"] == "Koopa's shell?" and turn["question"]["role"] == "user"
    assert turn["answer"]["text"] == "Green, with spikes [1]." and turn["answer"]["state"] == "done"
    assert turn["answer"]["sources"][0]["title"] == "Koopa King (character)"

    thread = await _ok(await echo_api.get("/api/assistant/messages", params={"project_id": project_id}))
    assert [m["id"] for m in thread] == [turn["question"]["id"], turn["answer"]["id"]]
    assert await _ok(await echo_api.get("/api/assistant/messages")) == []


async def test_bad_bodies_and_failed_answers_are_refused_with_why(
    echo_api: httpx.AsyncClient, echo: FakeEchoBrain
) -> None:
    _refused(await echo_api.post("/api/assistant/ask", json={"question": ""}), 422, "question")
    _refused(await echo_api.post("/api/assistant/ask", json={"question": "hi", "extra": 1}), 422, "extra")
    assert "there is no project 99" in _refused(
        await echo_api.post("/api/assistant/ask", json={"project_id": 99, "question": "hi"}), 404
    )
    _refused(await echo_api.post("/api/assistant/narrate", json={"scene_id": "not-a-uuid"}), 422, "scene_id")
    _refused(await echo_api.post("/api/assistant/enhance-prompt", json={"target": "episode", "id": "1"}), 422, "target")
    assert "no character" in _refused(
        await echo_api.post("/api/assistant/enhance-prompt", json={"target": "character", "id": "404"}), 404
    )

    echo.fail_with = 500
    detail = _refused(await echo_api.post("/api/assistant/ask", json={"question": "Are you there?"}), 502)
    assert detail.startswith("Echo Brain could not answer: ") and "HTTP 500" in detail
    [question, failure] = await _ok(await echo_api.get("/api/assistant/messages"))
    assert question["text"] == "Are you there?" and failure["state"] == "failed"


async def test_nobody_set_up_is_503_with_how_to(tmp_path: Path) -> None:
    async for studio in _studio(tmp_path):
        async for api in _client(studio):
            status = await _ok(await api.get("/api/assistant/status"))
            assert status["state"] == "not_configured" and "STUDIO_ECHO_BRAIN_URL" in status["detail"]
            assert "STUDIO_ECHO_BRAIN_URL" in _refused(
                await api.post("/api/assistant/ask", json={"question": "hi"}), 503
            )


async def test_enhance_then_apply_and_narrate(llm_api: httpx.AsyncClient, with_llm: Studio, ollama: FakeOllama) -> None:
    made = await production(with_llm)
    shot_id = str(made["shot"].id)
    ollama.replies.append("Koopa King stomps forward; the camera tilts up")
    turn = await _ok(await llm_api.post("/api/assistant/enhance-prompt", json={"target": "shot", "id": shot_id}))
    action = turn["answer"]["action"]
    assert (action["before"], action["after"], action["status"]) == (
        "koopa walks",
        "Koopa King stomps forward; the camera tilts up",
        "pending",
    )
    shot = await _ok(await llm_api.get(f"/api/shots/{shot_id}"))
    assert shot["motion_prompt"] == "koopa walks"

    message_id = turn["answer"]["id"]
    applied = await _ok(await llm_api.post(f"/api/assistant/messages/{message_id}/apply"))
    assert applied["action"]["status"] == "applied"
    assert (await _ok(await llm_api.get(f"/api/shots/{shot_id}")))["motion_prompt"] == action["after"]
    assert "applied, not pending" in _refused(await llm_api.post(f"/api/assistant/messages/{message_id}/apply"), 409)
    await _ok(await llm_api.post(f"/api/assistant/messages/{message_id}/revert"))
    assert (await _ok(await llm_api.get(f"/api/shots/{shot_id}")))["motion_prompt"] == "koopa walks"
    _refused(await llm_api.post("/api/assistant/messages/424242/discard"), 404)

    ollama.replies.append("At dusk, Koopa King storms the bridge.")
    narrated = await _ok(await llm_api.post("/api/assistant/narrate", json={"scene_id": str(made["scene"].id)}))
    assert narrated["answer"]["text"] == "At dusk, Koopa King storms the bridge."
    assert narrated["question"]["text"] == "Narrate scene 1 (The Bridge)"
