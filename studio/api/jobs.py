"""REST routes for jobs and image generation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from services.generation import ImageBatchDraft
from services.jobs import JobFilter
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import RowId
from studio.models import JobState
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    state: JobState
    device: str | None
    ran_on: str | None
    priority: int
    project_id: int | None
    batch: str | None
    attempts: int
    max_attempts: int
    requeues: int
    progress: float
    progress_message: str
    result: dict[str, Any] | None
    error: str | None
    external_handle: str | None
    gpu_seconds: float | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class JobDetail(JobOut):
    payload: dict[str, Any]


class BatchOut(BaseModel):
    batch: str
    jobs: list[JobOut]


def jobs_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["jobs"])
    jobs, images = studio.jobs, studio.images

    @router.get("/jobs", response_model=list[JobOut])
    async def list_jobs(
        _: Caller,
        state: Annotated[list[JobState] | None, Query(description="repeat to match several states")] = None,
        kind: Annotated[str | None, Query(max_length=64)] = None,
        device: Annotated[str | None, Query(max_length=32)] = None,
        batch: Annotated[str | None, Query(max_length=32)] = None,
        project_id: RowId | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[Any]:
        """Newest first, filtered by state, kind, device (pinned to it or ran on it) and batch."""
        return await jobs.list(
            JobFilter(states=state or (), kind=kind, device=device, batch=batch, project_id=project_id, limit=limit)
        )

    @router.get("/jobs/{job_id}", response_model=JobDetail, responses=errors(404))
    async def get_job(job_id: RowId, _: Caller) -> Any:
        return await jobs.get(job_id)

    @router.delete("/jobs/{job_id}", response_model=JobOut, responses=errors(404, 409))
    async def cancel_job(job_id: RowId, caller: Caller) -> Any:
        """Cancel a queued or running job (ComfyUI prompts are dequeued or interrupted). 409 when finished."""
        return await jobs.cancel(job_id, caller.name)

    @router.post("/jobs/{job_id}/retry", response_model=JobOut, responses=errors(404, 409))
    async def retry_job(job_id: RowId, caller: Caller) -> Any:
        """Queue a failed or cancelled job again. 409 otherwise."""
        return await jobs.retry(job_id, caller.name)

    @router.post(
        "/characters/{character_id}/generate", response_model=BatchOut, status_code=202, responses=errors(404, 503)
    )
    async def generate(character_id: RowId, body: ImageBatchDraft, caller: Caller) -> BatchOut:
        """Queue a batch of images for the character's dataset; follow it with `GET /api/jobs?batch=`."""
        queued = await images.generate(character_id, body, caller.name)
        return BatchOut(batch=queued[0].batch or "", jobs=[JobOut.model_validate(j) for j in queued])

    @router.post(
        "/images/{image_id}/generate-again", response_model=JobOut, status_code=202, responses=errors(404, 503)
    )
    async def generate_again(image_id: RowId, caller: Caller) -> Any:
        """Queue the exact recipe of a generated image again (same prompts, seed, models and LoRAs)."""
        return await images.again(image_id, caller.name)

    @router.post("/images/{image_id}/regenerate", response_model=BatchOut, status_code=202, responses=errors(404, 503))
    async def regenerate(image_id: RowId, caller: Caller, count: Annotated[int, Query(ge=1, le=16)] = 1) -> BatchOut:
        """Generate new images for a rejected image's character with the negatives its rejection taught;
        they link back to it (`derived_from_id`)."""
        queued = await images.regenerate(image_id, caller.name, count)
        return BatchOut(batch=queued[0].batch or "", jobs=[JobOut.model_validate(j) for j in queued])

    return router
