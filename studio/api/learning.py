"""REST routes for learning and drift: a character's parameter sets ranked by what its reviews say, the parameters
generation would take from them, its rejection patterns, and the drift alerts of the characters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from services.prompts.params import Confidence, is_trusted
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import MAX_ROW_ID, RowId
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
# The best sets are what matters; a character tried with hundreds of recipes still answers with a short list.
MAX_SETS = 50


class ParameterSetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from the service's dataclass

    checkpoint: str
    sampler: str | None = Field(description="ComfyUI's sampler name.")
    scheduler: str | None
    steps: int | None
    cfg: float | None = Field(description="Rounded to the nearest 0.5: 6.8 and 7.1 count as one setting.")
    approved: int
    total: int = Field(description="Images of this set a person or the vision review approved or rejected.")
    rate: float = Field(ge=0, le=1, description="approved / total.")
    lower_bound: float = Field(
        ge=0, le=1, description="Lower end of the rate's 95% Wilson interval: the ranking (rewards enough reviews)."
    )
    confidence: Confidence = Field(description="low under 10 reviewed images, medium under 25, high from 25.")
    mean_score: float | None = Field(description="Mean vision quality score; null when none was scored.")


class RecommendedOut(BaseModel):
    checkpoint: str
    cfg: float | None
    steps: int | None
    sampler: str | None
    scheduler: str | None
    confidence: Confidence
    reviewed: int = Field(description="Reviewed images behind it.")
    approved: int
    used: bool = Field(
        description="True: generation with this checkpoint uses it (the project's autonomy is on and the "
        "confidence reaches learning_min_confidence); false: the style's and profile's values are used."
    )


class RejectionPatternOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from the service's dataclass

    category: str = Field(description="The rejection category's name (duplicates are not counted).")
    label: str
    count: int
    share: float = Field(ge=0, le=1, description="Of the rejected images counted.")


class RecommendationsOut(BaseModel):
    character_id: int
    checkpoint: str | None = Field(description="The checkpoint asked about; null: all of them.")
    min_confidence: Confidence = Field(description="The confidence generation needs (learning_min_confidence).")
    autonomy: bool = Field(description="Whether the project's autopilot has autonomy on (learned parameters).")
    reviewed: int = Field(description="Generated images a person or the vision review decided.")
    recommended: RecommendedOut | None = Field(description="The best set's parameters; null without an approval.")
    sets: list[ParameterSetOut] = Field(description=f"Best lower bound first (at most {MAX_SETS}).")
    rejection_patterns: list[RejectionPatternOut] = Field(description="The most frequent rejection categories.")


class DriftAlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read straight from the service's dataclass

    id: int
    project_id: int
    character_id: int
    character_name: str
    detected_at: datetime
    recent_approval: float = Field(ge=0, le=1, description="Approval rate of the character's newest images.")
    overall_approval: float = Field(ge=0, le=1, description="Approval rate of the images before them.")
    recent_score: float | None = Field(description="Mean vision score of the newest images; null: none scored.")
    overall_score: float | None
    recent_samples: int = Field(description="How many newest images were compared (drift_window).")
    reason: str = Field(description="Why it was raised, in words.")
    resolved_at: datetime | None = Field(description="When the character recovered; null while open.")


def learning_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["learning"])
    learning = studio.autonomy.learning

    @router.get(
        "/characters/{character_id}/recommendations",
        response_model=RecommendationsOut,
        responses=errors(404, 422),
        summary="What a character's reviews recommend",
        description="Its generation parameter sets ranked by the lower bound of their approval rate, the "
        "parameters generation takes from the best one (and whether it does), and its rejection patterns.",
    )
    async def character_recommendations(
        character_id: RowId,
        _: Caller,
        checkpoint: Annotated[
            str | None, Query(min_length=1, max_length=500, description="Only sets drawn with this checkpoint file.")
        ] = None,
    ) -> RecommendationsOut:
        result = await learning.recommendations(character_id, checkpoint)
        character = await studio.characters.get(character_id)
        patterns = await learning.rejection_patterns(character_id=character_id)
        autonomy = await learning.enabled_for(character.project_id)
        best = result.best
        recommended = None
        if best is not None:
            recommended = RecommendedOut(
                checkpoint=best.checkpoint,
                cfg=best.cfg,
                steps=best.steps,
                sampler=best.sampler,
                scheduler=best.scheduler,
                confidence=best.confidence,
                reviewed=best.total,
                approved=best.approved,
                used=autonomy and is_trusted(best.confidence, learning.min_confidence),
            )
        return RecommendationsOut(
            character_id=character_id,
            checkpoint=checkpoint,
            min_confidence=learning.min_confidence,
            autonomy=autonomy,
            reviewed=result.reviewed,
            recommended=recommended,
            sets=[ParameterSetOut.model_validate(item) for item in result.sets[:MAX_SETS]],
            rejection_patterns=[RejectionPatternOut.model_validate(pattern) for pattern in patterns],
        )

    @router.get(
        "/drift",
        response_model=list[DriftAlertOut],
        responses=errors(404, 422),
        summary="Drift alerts",
        description="Characters whose newest reviewed images are approved (or scored) clearly less than their "
        "history: open alerts newest first, then (when asked) the latest resolved ones.",
    )
    async def drift_alerts(
        _: Caller,
        project_id: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this project's.")] = None,
        include_resolved: Annotated[bool, Query(description="Also the alerts whose character recovered.")] = False,
    ) -> list[DriftAlertOut]:
        alerts = await studio.autonomy.drift.alerts(project_id, include_resolved)
        return [DriftAlertOut.model_validate(alert) for alert in alerts]

    return router
