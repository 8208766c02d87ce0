"""REST routes for analytics: quality over time, what to use (and the images behind a ranked value), why images
fail, lineage, who appears with whom, screen time, project health, drift and cross-project comparisons.

Every report takes the same filters (project, characters, a range of UTC days) and answers JSON, or with
`format=csv` the same numbers as a CSV download.
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from services.analytics import Scope
from services.analytics.reports import DIMENSIONS, CsvTable, Dimension, ImageRef, LineageKind, images_table
from services.analytics.scope import DEFAULT_DAYS, MAX_CHARACTERS, MAX_DAYS
from services.datasets import thumbnail_url
from services.prompts.params import Confidence
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import MAX_ROW_ID, RowId
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
Format = Annotated[
    Literal["json", "csv"],
    Query(alias="format", description="`csv`: the report's numbers as a CSV download instead of JSON."),
]
# The 200 answer's second form, for the OpenAPI document.
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv."}
}
# A drill-down lists enough images to judge a value at a glance, and stays one quick page.
MAX_IMAGES = 200


def _scope(
    project_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this project's; omitted: every project.")
    ] = None,
    character_id: Annotated[
        list[RowId] | None,
        Query(description=f"Only these characters (repeat the parameter, at most {MAX_CHARACTERS})."),
    ] = None,
    since: Annotated[date | None, Query(description="First UTC day, inclusive (YYYY-MM-DD).")] = None,
    until: Annotated[date | None, Query(description="Last UTC day, inclusive; omitted: today.")] = None,
) -> Scope:
    return Scope(project_id=project_id, character_ids=tuple(character_id or ()), since=since, until=until)


ScopeQuery = Annotated[Scope, Depends(_scope)]


def _csv(name: str, table: CsvTable) -> Response:
    """A report's CSV table as a download named `name`.csv."""
    header, rows = table
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date | datetime) else value


def _answer(report: Any, out: type[BaseModel], name: str, fmt: str) -> Any:
    """The report as its JSON model, or as `name`.csv when the caller asked for CSV."""
    return _csv(name, report.csv_table()) if fmt == "csv" else out.model_validate(report)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from the report's dataclass


class CharacterRefOut(_Out):
    id: int
    name: str
    project_id: int


class TrendDayOut(_Out):
    day: date = Field(description="A UTC day.")
    approved: int
    rejected: int
    mean_score: float | None = Field(description="Mean vision quality score; null when none was scored.")


class CharacterTrendOut(_Out):
    character: CharacterRefOut
    days: list[TrendDayOut] = Field(description="One per day of the range.")


class QualityTrendOut(_Out):
    days: list[date] = Field(description=f"Every UTC day of the range, oldest first (at most {MAX_DAYS}).")
    total: list[TrendDayOut] = Field(description="Every character in scope together.")
    characters: list[CharacterTrendOut] = Field(description="Characters with a decision in the range, by name.")


class RankedValueOut(_Out):
    value: str = Field(description="The checkpoint's or LoRA's file, the sampler, the steps, the cfg (0.5 buckets).")
    approved: int
    total: int = Field(description="Reviewed images with this value: the sample size.")
    rate: float = Field(ge=0, le=1, description="approved / total.")
    lower_bound: float = Field(ge=0, le=1, description="Lower end of the rate's 95% Wilson interval: the ranking.")
    confidence: Confidence = Field(description="low under 10 reviewed images, medium under 25, high from 25.")
    mean_score: float | None


class RankingsOut(_Out):
    by: Dimension
    values: list[RankedValueOut] = Field(description="Best lower bound first.")
    reviewed: int = Field(description="Reviewed images behind the ranking (LoRAs: of the newest sample).")


class ImageRefOut(_Out):
    id: int
    project_id: int
    character_id: int | None
    file_path: str = Field(description="In the media store (/media/...).")
    file_url: str = Field(default="", description="The image itself.")
    thumbnail_url: str = Field(default="", description="Its thumbnail, a WebP of at most 320 px.")
    state: str
    quality_score: float | None
    categories: list[str] = Field(description="Its rejection categories.")
    decided_at: datetime | None

    @classmethod
    def of(cls, image: ImageRef) -> ImageRefOut:
        out = cls.model_validate(image)
        out.file_url = f"/api/images/{image.id}/file"
        out.thumbnail_url = thumbnail_url(image.content_hash)
        return out


class CategoryCountOut(_Out):
    category: str
    label: str
    count: int


class CharacterRejectionsOut(_Out):
    character: CharacterRefOut
    rejected: int
    categories: list[CategoryCountOut] = Field(description="Most frequent first.")


class RejectionDayOut(_Out):
    day: date
    rejected: int
    categories: dict[str, int] = Field(description="Category name -> count, of the sampled rejections.")


class RejectionsOut(_Out):
    rejected: int = Field(description="Rejected images in scope.")
    categories: list[CategoryCountOut] = Field(description="Most frequent first; duplicates are not counted.")
    characters: list[CharacterRejectionsOut]
    days: list[RejectionDayOut] = Field(description="One per day of the range, oldest first.")
    sampled: int = Field(description="The newest rejected images whose categories were counted.")


class LineageNodeOut(_Out):
    image_id: int
    parent_id: int | None = Field(description="The image it was made from; null for the root.")
    kind: LineageKind = Field(description="How it came from its parent.")
    depth: int = Field(description="0 for the root.")
    character_id: int | None
    file_path: str
    state: str
    decided_by: str | None
    decided_at: datetime | None
    quality_score: float | None
    categories: list[str] = Field(description="Its rejection categories.")
    strategies: list[str] = Field(description="A correction's strategies.")
    created_at: datetime


class LineageOut(_Out):
    image_id: int = Field(description="The image asked about.")
    root_id: int
    nodes: list[LineageNodeOut] = Field(description="Root first, then depth first, children oldest first.")
    truncated: bool = Field(description="The tree was cut at its depth or size bound.")


class CoOccurrenceOut(_Out):
    characters: list[CharacterRefOut] = Field(description="The matrix's rows and columns, by name.")
    counts: list[list[int]] = Field(description="counts[i][j]: shots with both; counts[i][i]: shots with i.")
    shots: int = Field(description="Shots in scope.")


class ScreenTimeRowOut(_Out):
    episode_id: uuid.UUID
    episode_number: int
    episode_title: str
    character: CharacterRefOut
    seconds: float
    shots: int


class ScreenTimeOut(_Out):
    rows: list[ScreenTimeRowOut] = Field(description="By episode number, then most seconds first.")


class CharacterDatasetOut(_Out):
    character: CharacterRefOut
    approved: int
    pending: int
    rejected: int
    target: int = Field(description="The approved images the autopilot aims at.")


class DeviceHoursOut(_Out):
    device: str
    gpu_hours: float
    jobs: int
    failed: int


class ProjectHealthOut(_Out):
    project_id: int
    name: str
    characters: list[CharacterDatasetOut]
    loras_trained: int
    training_runs_failed: int
    scenes: int
    scenes_generated: int = Field(description="Scenes with every shot rendered.")
    scenes_assembled: int
    episodes: int
    episodes_published: int
    jobs_failed: int
    devices: list[DeviceHoursOut]


class HealthOut(_Out):
    projects: list[ProjectHealthOut]


class DriftRowOut(_Out):
    character: CharacterRefOut
    recent_samples: int = Field(description="Its newest reviewed images compared (drift_window).")
    recent_approval: float = Field(ge=0, le=1)
    recent_score: float | None
    history_samples: int = Field(description="Its reviewed images before them.")
    history_approval: float = Field(ge=0, le=1)
    history_score: float | None
    alert: str | None = Field(description="The open drift alert's reason; null when none is open.")


class DriftOut(_Out):
    window: int = Field(description="The recent window (drift_window).")
    rows: list[DriftRowOut] = Field(description="Largest drop in approval first.")
    too_few: list[CharacterRefOut] = Field(description="Characters without two windows of reviewed images.")


class CrossProjectRowOut(_Out):
    species: str
    project_id: int
    project_name: str
    character: CharacterRefOut
    checkpoint: str
    approved: int
    total: int
    rate: float = Field(ge=0, le=1)
    lower_bound: float = Field(ge=0, le=1)
    confidence: Confidence


class CrossProjectOut(_Out):
    species: list[str] = Field(description="The species compared: the first word of the scope's characters'.")
    rows: list[CrossProjectRowOut] = Field(description="By species, then best lower bound first.")


def analytics_router(studio: Studio) -> APIRouter:
    router = APIRouter(prefix="/analytics", tags=["analytics"])
    analytics = studio.analytics
    answers = {**errors(404, 422), **CSV_ANSWER}
    ranged = f"Per UTC day over since..until (without since: the {DEFAULT_DAYS} days up to until or today)."

    @router.get(
        "/quality-trend",
        response_model=QualityTrendOut,
        responses=answers,
        summary="Quality over time",
        description=f"Approvals, rejections and mean vision score of reviewed images, in total and per character. "
        f"{ranged}",
    )
    async def quality_trend(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.quality_trend(scope), QualityTrendOut, "quality-trend", fmt)

    @router.get(
        "/rankings",
        response_model=RankingsOut,
        responses=answers,
        summary="What to use",
        description="Checkpoints, samplers, steps, cfg (0.5 buckets) or LoRAs ranked by the lower bound of their "
        "approval rate, with sample sizes and confidence. LoRAs are counted over the newest reviewed images.",
    )
    async def rankings(
        scope: ScopeQuery,
        _: Caller,
        by: Annotated[Dimension, Query(description=f"One of {', '.join(DIMENSIONS)}.")] = "checkpoint",
        fmt: Format = "json",
    ) -> Any:
        return _answer(await analytics.rankings(scope, by), RankingsOut, f"rankings-{by}", fmt)

    @router.get(
        "/rankings/images",
        response_model=list[ImageRefOut],
        responses=answers,
        summary="The images behind a ranked value",
        description="The images one ranked value made in one state (a bad checkpoint's rejected images), newest "
        "decision first: from a ranking to the images and on to their lineage.",
    )
    async def ranked_images(
        scope: ScopeQuery,
        _: Caller,
        by: Annotated[Dimension, Query(description=f"One of {', '.join(DIMENSIONS)}.")],
        value: Annotated[
            str, Query(min_length=1, max_length=500, description="The ranked value, as /rankings names it.")
        ],
        state: Annotated[Literal["approved", "rejected"], Query(description="The images' state.")] = "rejected",
        limit: Annotated[int, Query(ge=1, le=MAX_IMAGES)] = 60,
        fmt: Format = "json",
    ) -> Any:
        images = await analytics.ranked_images(scope, by, value, state=state, limit=limit)
        if fmt == "csv":
            return _csv(f"{by}-images", images_table(images))
        return [ImageRefOut.of(image) for image in images]

    @router.get(
        "/rejections",
        response_model=RejectionsOut,
        responses=answers,
        summary="Why images fail",
        description="Rejection categories of reviewed images overall, per character and per day (duplicates are not "
        f"counted; categories over the newest rejections). {ranged}",
    )
    async def rejections(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.rejections(scope), RejectionsOut, "rejections", fmt)

    @router.get(
        "/lineage/{image_id}",
        response_model=LineageOut,
        responses=answers,
        summary="An image's lineage",
        description="The tree of regenerations and corrections the image came from and led to, from its root, with "
        "each step's decision.",
    )
    async def lineage(image_id: RowId, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.lineage(image_id), LineageOut, f"lineage-{image_id}", fmt)

    @router.get(
        "/co-occurrence",
        response_model=CoOccurrenceOut,
        responses=answers,
        summary="Who appears with whom",
        description="How many shots each pair of characters shares (the diagonal: each character's shots).",
    )
    async def co_occurrence(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.co_occurrence(scope), CoOccurrenceOut, "co-occurrence", fmt)

    @router.get(
        "/screen-time",
        response_model=ScreenTimeOut,
        responses=answers,
        summary="Screen time per episode",
        description="Each character's seconds and shots in each episode.",
    )
    async def screen_time(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.screen_time(scope), ScreenTimeOut, "screen-time", fmt)

    @router.get(
        "/project-health",
        response_model=HealthOut,
        responses=answers,
        summary="Project health",
        description="Per project: datasets against their targets, LoRAs trained, scenes generated and assembled, "
        "episodes published, failed jobs and GPU hours per device.",
    )
    async def project_health(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.project_health(scope), HealthOut, "project-health", fmt)

    @router.get(
        "/drift",
        response_model=DriftOut,
        responses=answers,
        summary="Drift",
        description="Each character's newest reviewed images (drift_window) against all before them, with its open "
        "drift alert; the range does not apply (drift compares a character's whole history).",
    )
    async def drift(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.drift(scope), DriftOut, "drift", fmt)

    @router.get(
        "/cross-project",
        response_model=CrossProjectOut,
        responses=answers,
        summary="Across projects, by species",
        description="For the species of the characters in scope (the first word, in any case), every character of "
        "that species in any project with each checkpoint's approvals over the range.",
    )
    async def cross_project(scope: ScopeQuery, _: Caller, fmt: Format = "json") -> Any:
        return _answer(await analytics.cross_project(scope), CrossProjectOut, "cross-project", fmt)

    return router
