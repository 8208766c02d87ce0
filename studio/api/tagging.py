"""REST routes for tagging jobs: tag a character's images with one machine source, and which sources can run."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.tags.tagging import MAX_IMAGES, SourceState
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.jobs import JobOut
from studio.auth import Principal
from studio.ids import RowId
from studio.models import TagSource
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: TagSource = Field(description="prompt, tagger, comfyui or llm (a person's tags are edited instead).")
    image_ids: list[RowId] | None = Field(
        None,
        max_length=MAX_IMAGES,
        description="Images of the character to tag; unset: all of its images but the rejected ones.",
    )


class TaggingOut(BaseModel):
    jobs: list[JobOut] = Field(description="One job (ComfyUI: one per 16 images); follow them in /api/jobs.")


class SourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    source: TagSource
    label: str
    available: bool
    reason: str = Field(description="Why the source cannot run, or where it runs.")

    @classmethod
    def of(cls, state: SourceState) -> SourceOut:
        return cls(source=state.source, label=state.label, available=state.available, reason=state.reason)


def tagging_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["tags"])
    tagging = studio.tagging

    @router.post(
        "/characters/{character_id}/tag", response_model=TaggingOut, status_code=202, responses=errors(404, 503)
    )
    async def tag_images(character_id: RowId, body: TagIn, caller: Caller) -> TaggingOut:
        """Queue tagging of the character's images (or `image_ids`, which must be its own) by one source; each
        image's tags replace that source's earlier ones, a person's tags and removals stay."""
        jobs = await tagging.start(character_id, body.source, body.image_ids, caller.name)
        return TaggingOut(jobs=[JobOut.model_validate(job) for job in jobs])

    @router.get("/tagging/sources", response_model=list[SourceOut])
    async def sources(_: Caller) -> list[SourceOut]:
        """Each machine tag source, whether it can run now and why not (the ComfyUI devices are asked)."""
        return [SourceOut.of(state) for state in await tagging.refresh_sources()]

    return router
