"""REST routes for datasets: ingestion, browsing, review decisions, undo, reassignment and feedback."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from services.datasets import (
    REJECTION_CATEGORIES,
    TRIAGE_FLAGS,
    ImageQuery,
    UploadedFile,
    Verdict,
    thumbnail_url,
)
from services.datasets.browse import Sort
from services.errors import Invalid, NotFound
from services.media import FramePlan
from studio.api.deps import IMMUTABLE_CACHE, current_principal
from studio.api.errors import errors
from studio.api.jobs import JobOut
from studio.api.uploads import chunks_of
from studio.auth import Principal
from studio.ids import MAX_ROW_ID, RowId
from studio.models import ApprovalState, DatasetImage, ReviewDecision
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class ImageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    character_id: int | None
    width: int
    height: int
    source: str
    source_ref: str
    content_hash: str
    perceptual_hash: str | None
    approval_state: ApprovalState
    version: int
    quality_score: float | None
    triage: dict[str, Any]
    review: dict[str, Any]
    vision_status: str
    rejection_categories: list[str]
    duplicate_of_id: int | None
    duplicate_kind: str | None
    duplicate_distance: int | None
    derived_from_id: int | None
    decided_by: str | None
    decided_at: datetime | None
    provenance: dict[str, Any]
    created_at: datetime
    file_url: str = ""
    thumbnail_url: str = ""

    @classmethod
    def of(cls, image: DatasetImage) -> ImageOut:
        out = cls.model_validate(image)
        out.file_url = f"/api/images/{image.id}/file"
        out.thumbnail_url = thumbnail_url(image.content_hash)
        return out


class ImagePageOut(BaseModel):
    items: list[ImageOut]
    total: int
    offset: int
    limit: int


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    image_id: int
    previous_state: ApprovalState
    state: ApprovalState
    decider: str
    actor: str
    categories: list[str]
    reasons: list[str]
    quality_score: float | None
    image_version: int
    undone_at: datetime | None
    created_at: datetime


class DecidedOut(BaseModel):
    image: ImageOut
    decision: DecisionOut


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: ApprovalState
    version: int | None = Field(None, description="The version you saw: a later change answers 409.")
    categories: list[str] = Field(default_factory=list, max_length=10)
    reasons: list[str] = Field(default_factory=list, max_length=10)


class BulkDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[RowId] = Field(min_length=1, max_length=5000)
    state: ApprovalState
    categories: list[str] = Field(default_factory=list, max_length=10)
    reasons: list[str] = Field(default_factory=list, max_length=10)


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    image_ids: list[RowId] = Field(min_length=1, max_length=5000)
    character_id: RowId


class FramesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_frames: int | None = Field(None, ge=1, le=2000)
    interval_seconds: float | None = Field(None, gt=0, le=3600)
    scene_threshold: float | None = Field(None, gt=0, lt=1)


class UrlIngestIn(FramesIn):
    character_id: RowId
    url: str = Field(min_length=8, max_length=2000)


class ScanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    character_id: RowId
    folder: str | None = Field(None, max_length=4000, description="A folder inside an import folder.")
    device: str | None = Field(None, max_length=32, description="A ComfyUI device whose outputs to import.")


class LearnedNegativesOut(BaseModel):
    terms: list[str]
    counts: dict[str, int]


def datasets_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["datasets"])
    ingestion, decisions, browser = studio.ingestion, studio.decisions, studio.datasets

    def plan_of(body: FramesIn) -> FramePlan:
        s = studio.settings
        return FramePlan(
            max_frames=body.max_frames or s.video_max_frames,
            interval_seconds=body.interval_seconds or s.video_interval_seconds,
            scene_threshold=body.scene_threshold or s.video_scene_threshold,
        )

    @router.post("/ingest/images", response_model=JobOut, status_code=202, responses=errors(404))
    async def ingest_images(
        caller: Caller, character_id: Annotated[RowId, Form()], files: Annotated[list[UploadFile], File()]
    ) -> Any:
        """Upload images (PNG, JPEG, WebP) into a character's dataset. One bad file refuses them all (422)."""
        uploaded = [UploadedFile(upload.filename or "", chunks_of(upload)) for upload in files]
        return await ingestion.ingest_images(character_id, uploaded, caller.name)

    @router.post("/ingest/video", response_model=JobOut, status_code=202, responses=errors(404))
    async def ingest_video(
        caller: Caller,
        character_id: Annotated[RowId, Form()],
        file: Annotated[UploadFile, File()],
        max_frames: Annotated[int | None, Form(ge=1, le=2000)] = None,
        interval_seconds: Annotated[float | None, Form(gt=0, le=3600)] = None,
        scene_threshold: Annotated[float | None, Form(gt=0, lt=1)] = None,
    ) -> Any:
        """Upload a video; frames at scene changes and at an interval (capped) join the dataset."""

        plan = plan_of(
            FramesIn(max_frames=max_frames, interval_seconds=interval_seconds, scene_threshold=scene_threshold)
        )
        return await ingestion.ingest_video(character_id, file.filename or "video", chunks_of(file), caller.name, plan)

    @router.post("/ingest/url", response_model=JobOut, status_code=202, responses=errors(404))
    async def ingest_url(body: UrlIngestIn, caller: Caller) -> Any:
        """Download a video page or file with yt-dlp, then take frames as for an uploaded video."""
        return await ingestion.ingest_url(body.character_id, body.url, caller.name, plan_of(body))

    @router.post("/ingest/scan", response_model=JobOut, status_code=202, responses=errors(404))
    async def ingest_scan(body: ScanIn, caller: Caller) -> Any:
        """Import the images of a folder (inside an import folder) or of a ComfyUI device's history."""
        if (body.folder is None) == (body.device is None):
            raise Invalid("folder", "give either a folder or a ComfyUI device to scan")
        if body.folder is not None:
            return await ingestion.scan_folder(body.character_id, body.folder, caller.name)
        return await ingestion.scan_comfyui(body.character_id, body.device or "", caller.name)

    @router.get("/images", response_model=ImagePageOut, responses=errors(404))
    async def list_images(
        _: Caller,
        project_id: RowId,
        character_id: RowId | None = None,
        state: Annotated[list[ApprovalState] | None, Query()] = None,
        source: Annotated[list[str] | None, Query()] = None,
        flag: Annotated[list[str] | None, Query(description=f"triage flags: {', '.join(TRIAGE_FLAGS)}")] = None,
        duplicates: Literal["any", "only", "hide"] = "any",
        needs_human: bool = False,
        tag: Annotated[str | None, Query(max_length=200, description="only images with this tag")] = None,
        no_caption: Annotated[bool, Query(description="only images with neither tags nor a caption")] = False,
        sort: Sort = "newest",
        offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> ImagePageOut:
        """A page of a project's dataset images, filtered and sorted, with the total that match."""
        page = await browser.page(
            ImageQuery(
                project_id=project_id,
                character_id=character_id,
                states=tuple(state or ()),
                sources=tuple(source or ()),
                flags=tuple(flag or ()),
                duplicates=duplicates,
                needs_human=needs_human,
                tag=tag,
                no_caption=no_caption,
                sort=sort,
                offset=offset,
                limit=limit,
            )
        )
        return ImagePageOut(items=[ImageOut.of(i) for i in page.items], total=page.total, offset=offset, limit=limit)

    @router.get("/images/{image_id}", response_model=ImageOut, responses=errors(404))
    async def get_image(image_id: RowId, _: Caller) -> ImageOut:
        """A dataset image with its triage values, vision review, duplicate link and provenance."""
        return ImageOut.of(await studio.images.image(image_id))

    @router.get("/images/{image_id}/file", response_class=FileResponse, responses=errors(404))
    async def image_file(image_id: RowId, _: Caller) -> FileResponse:
        image = await studio.images.image(image_id)
        path = studio.media.path_of(image.file_path)
        if not await asyncio.to_thread(path.is_file):  # removed by hand from the data folder: the row outlives it
            raise NotFound(f"image {image_id}'s file is missing from the data folder")
        return FileResponse(path, headers=IMMUTABLE_CACHE)

    @router.get("/images/{image_id}/decisions", response_model=list[DecisionOut], responses=errors(404))
    async def image_decisions(image_id: RowId, _: Caller) -> list[ReviewDecision]:
        """Every decision about the image, oldest first, including automatic ones and undone ones."""
        return await decisions.history(image_id)

    @router.post("/images/{image_id}/decision", response_model=DecidedOut, responses=errors(404, 409))
    async def decide(image_id: RowId, body: DecisionIn, caller: Caller) -> DecidedOut:
        """Approve, reject (with categories) or reset an image. 409 when `version` is stale."""
        verdict = Verdict(body.state, categories=tuple(body.categories), reasons=tuple(body.reasons))
        image, decision = await decisions.decide(image_id, verdict, caller.name, expected_version=body.version)
        return DecidedOut(image=ImageOut.of(image), decision=DecisionOut.model_validate(decision))

    @router.post("/images/decisions", response_model=list[ImageOut], responses=errors(404, 409))
    async def decide_many(body: BulkDecisionIn, caller: Caller) -> list[ImageOut]:
        """Decide many images at once; returns the ones that changed."""
        verdict = Verdict(body.state, categories=tuple(body.categories), reasons=tuple(body.reasons))
        return [ImageOut.of(image) for image, _ in await decisions.decide_many(body.image_ids, verdict, caller.name)]

    @router.post("/decisions/{decision_id}/undo", response_model=ImageOut, responses=errors(404, 409))
    async def undo(decision_id: RowId, caller: Caller) -> ImageOut:
        """Put the image back as it was before the decision. 409 when it changed since."""
        return ImageOut.of(await decisions.undo(decision_id, caller.name))

    @router.post("/images/reassign", response_model=list[ImageOut], responses=errors(404, 409))
    async def reassign(body: ReassignIn, caller: Caller) -> list[ImageOut]:
        """Move images to another character of the same project; they wait for review there."""
        return [ImageOut.of(i) for i in await decisions.reassign(body.image_ids, body.character_id, caller.name)]

    @router.get("/review/queue", response_model=list[ImageOut], responses=errors(404))
    async def review_queue(
        _: Caller,
        project_id: RowId,
        character_id: RowId | None = None,
        after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> list[ImageOut]:
        """Pending images for a review station, oldest first, after image id `after`."""
        return [ImageOut.of(i) for i in await browser.review_queue(project_id, character_id, after, limit)]

    @router.get("/review/categories")
    async def categories(_: Caller) -> list[dict[str, Any]]:
        """The rejection categories, their kiosk keys and the negative terms each teaches."""
        return [
            {"key": c.key, "name": c.name, "label": c.label, "negatives": list(c.negatives)}
            for c in REJECTION_CATEGORIES
        ]

    @router.get(
        "/characters/{character_id}/learned-negatives", response_model=LearnedNegativesOut, responses=errors(404)
    )
    async def learned_negatives(character_id: RowId, _: Caller) -> LearnedNegativesOut:
        """The negative terms the character's rejected images teach its next generations."""
        learned = await studio.feedback.learned_negatives(character_id)
        return LearnedNegativesOut(terms=list(learned.terms), counts=learned.counts)

    return router
