"""Ingest → triage → vision review job → automatic decisions, against the fake LLM server over loopback."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.bible.schemas import AppearanceData, CharacterDraft
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, Decider, JobState, VisionStatus
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import drawing, uploaded
from tests.fakes.ollama import DEFAULT_REVIEW, FakeOllama
from tests.integration.test_comfy_worker import _until

HERO = CharacterDraft(
    name="Rin",
    design_prompt="1woman, a courier with short red hair",
    appearance_data=AppearanceData(species="human", key_colors={"hair": "red hair"}),
)


async def _ingest(studio: Studio, character_id: int, seeds: range) -> dict[str, Any]:
    files = [uploaded(f"{seed}.png", drawing(seed)) for seed in seeds]
    job = await studio.ingestion.ingest_images(character_id, files, "aiko")

    async def done() -> bool:
        return (await studio.jobs.get(job.id)).state not in (JobState.QUEUED, JobState.RUNNING)  # type: ignore[arg-type]

    await _until(done, 60, "the ingest job")
    finished = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    review_job = finished.result["review_job_id"]  # type: ignore[index]
    assert review_job is not None

    async def reviewed() -> bool:
        return (await studio.jobs.get(review_job)).state not in (JobState.QUEUED, JobState.RUNNING)

    await _until(reviewed, 60, "the review job")
    reviewed_job = await studio.jobs.get(review_job)
    assert reviewed_job.state == JobState.SUCCEEDED, reviewed_job.error
    return dict(reviewed_job.result or {})


@contextlib.asynccontextmanager
async def running_studio(tmp_path: Path, database_url: str, llm: FakeOllama, **settings: Any) -> AsyncIterator[Any]:
    """A started studio whose LLM device is `llm`, and a project to work in."""
    studio = Studio.build(
        Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            devices=[DeviceSettings(name="gpu1", llm_url=llm.url)],
            job_claim_poll_seconds=0.5,
            **settings,
        )
    )
    studio.migrate()
    await studio.start()
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"G {uuid.uuid4().hex[:6]}"}), "a")
    try:
        yield studio, project.id
    finally:
        await studio.stop()


@pytest.fixture
async def rig(tmp_path: Path, database_url: str) -> Any:
    with FakeOllama() as llm:
        async with running_studio(tmp_path, database_url, llm) as (studio, project_id):
            yield studio, llm, project_id


async def test_clear_passes_are_approved_failures_rejected_and_the_rest_wait(rig: Any) -> None:
    studio, llm, project_id = rig
    rin = await studio.characters.create(project_id, HERO, "aiko")
    low = {**DEFAULT_REVIEW, "character_match": 2, "clarity": 3, "training_value": 2, "issues": ["blurry face"]}
    middle = {**DEFAULT_REVIEW, "character_match": 6, "clarity": 6, "training_value": 6}
    llm.replies = [json.dumps(DEFAULT_REVIEW), json.dumps(low), json.dumps(middle)]
    tally = await _ingest(studio, rin.id, range(3))
    assert (tally["approved"], tally["rejected"], tally["pending"]) == (1, 1, 1)

    images = sorted(await studio.images.images(list(range(1, 100))), key=lambda i: i.id)  # type: ignore[arg-type]
    approved, rejected, waiting = images
    assert approved.approval_state == ApprovalState.APPROVED and approved.quality_score == pytest.approx(0.9, 0.1)
    assert rejected.approval_state == ApprovalState.REJECTED and "bad_quality" in rejected.rejection_categories
    assert waiting.approval_state == ApprovalState.PENDING and waiting.vision_status == VisionStatus.DONE
    (decision,) = await studio.decisions.history(rejected.id)  # type: ignore[arg-type]
    assert decision.decider == Decider.VISION and decision.reasons
    # The model saw each picture with the checklist built from the character's appearance.
    first = llm.chats[0]
    assert "red hair" in json.dumps(first) and first["model"] == "gemma3:12b"


async def test_non_human_characters_are_never_approved_automatically(rig: Any) -> None:
    studio, llm, project_id = rig
    koopa = await studio.characters.create(project_id, KOOPA, "aiko")
    llm.reply_for = lambda body: json.dumps(DEFAULT_REVIEW) if body.get("format") else "Yes."
    tally = await _ingest(studio, koopa.id, range(10, 12))
    assert tally["approved"] == 0 and tally["pending"] == 2
    (image, _) = await studio.images.images([1, 2])
    assert any("non-human" in reason for reason in image.review["reasons"])


async def test_a_review_that_fails_twice_leaves_the_image_to_a_person(rig: Any) -> None:
    studio, llm, project_id = rig
    rin = await studio.characters.create(project_id, HERO, "aiko")
    llm.replies = ["this is not json", "still not json"]
    tally = await _ingest(studio, rin.id, range(20, 21))
    assert tally["needs_human"] == 1
    (image,) = await studio.images.images([1])
    assert image.approval_state == ApprovalState.PENDING and image.vision_status == VisionStatus.NEEDS_HUMAN
    assert image.review["error"]


async def test_a_model_that_cannot_see_decides_nothing_and_teaches_nothing(tmp_path: Path, database_url: str) -> None:
    # Behind a server that drops images, a text-only model would invent a verdict (here: a rejection).
    rejecting = {**DEFAULT_REVIEW, "character_match": 1, "clarity": 2, "training_value": 1, "issues": ["off-model"]}
    with FakeOllama(models=["qwen2.5:7b"], drops_images=True, reply_for=lambda body: json.dumps(rejecting)) as llm:
        async with running_studio(tmp_path, database_url, llm, vision_model="qwen2.5:7b") as (studio, project_id):
            rin = await studio.characters.create(project_id, HERO, "aiko")
            tally = await _ingest(studio, rin.id, range(30, 32))
            assert (tally["needs_human"], tally["rejected"]) == (2, 0)
            for image in await studio.images.images([1, 2]):
                assert image.approval_state == ApprovalState.PENDING
                assert image.vision_status == VisionStatus.NEEDS_HUMAN and image.rejection_categories == []
                assert "qwen2.5:7b cannot see images" in image.review["error"]
                assert "STUDIO_VISION_MODEL" in image.review["reasons"][0]
                assert await studio.decisions.history(image.id) == []  # no rejection, so no learned negative
    assert llm.chats == []
