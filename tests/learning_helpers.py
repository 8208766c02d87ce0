"""A seeded review history for learning and drift tests: generated images with their provenance and decision,
inserted in one session (the facts learning reads, without ComfyUI or a vision model in between)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.autonomy import AutopilotChanges
from services.datasets.store import GENERATED_SOURCE
from studio.models import ApprovalState, Character, DatasetImage, Decider, ReviewDecision
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA, NOOB_VPRED

CHECKPOINT = NOOB_VPRED.checkpoint_model
_DECIDERS = {decider.value: decider for decider in Decider}


@dataclass(frozen=True)
class Review:
    """One generated image and how it was decided."""

    approved: bool
    checkpoint: str = CHECKPOINT
    cfg: float = 5.0
    steps: int = 28
    sampler: str = "euler_ancestral"
    scheduler: str = "normal"
    score: float | None = None
    categories: tuple[str, ...] = ()
    decided_by: str = "aiko"  # a person; "vision", "triage" or "dedup" for the studio's checks
    source: str = GENERATED_SOURCE
    extra: dict[str, object] = field(default_factory=dict)


def reviews(count: int, approved: int, **recipe: object) -> list[Review]:
    """`count` images of one recipe, the first `approved` of them approved."""
    return [Review(approved=n < approved, **recipe) for n in range(count)]  # type: ignore[arg-type]


def generated_image(character: Character, **fields: Any) -> DatasetImage:
    """A generated image of `character` (a fresh file name and hash), not yet added to a session."""
    digest = uuid.uuid4().hex * 2
    return DatasetImage(
        **{
            "project_id": character.project_id,
            "character_id": character.id,
            "file_path": f"datasets/{digest}.png",
            "content_hash": digest,
            "width": 832,
            "height": 1216,
            "source": GENERATED_SOURCE,
            **fields,
        }
    )


async def seed_reviews(studio: Studio, character: Character, history: list[Review], at: datetime) -> None:
    """Insert the images, all decided at `at` (ids follow the list's order: later in the list is newer), each
    with the review decision that decided it."""
    rows = []
    for review in history:
        rows.append(
            generated_image(
                character,
                source=review.source,
                approval_state=ApprovalState.APPROVED if review.approved else ApprovalState.REJECTED,
                quality_score=review.score,
                provenance={
                    "checkpoint": review.checkpoint,
                    "cfg": review.cfg,
                    "steps": review.steps,
                    "sampler": review.sampler,
                    "scheduler": review.scheduler,
                    **review.extra,
                },
                rejection_categories=[] if review.approved else list(review.categories),
                decided_by=review.decided_by,
                decided_at=at,
            )
        )
    async with studio.db.session() as session:
        session.add_all(rows)
        await session.flush()
        session.add_all(
            ReviewDecision(
                image_id=image.id,  # type: ignore[arg-type]
                project_id=image.project_id,
                character_id=image.character_id,
                previous_state=ApprovalState.PENDING,
                state=image.approval_state,
                decider=_DECIDERS.get(review.decided_by, Decider.HUMAN),
                actor=review.decided_by,
                categories=list(image.rejection_categories),
                quality_score=review.score,
                image_version=2,
                created_at=at,
            )
            for image, review in zip(rows, history, strict=True)
        )


async def autonomous_character(studio: Studio, *, name: str = "Koopa King", enabled: bool = True) -> Character:
    """A project with the noob-vpred style as default, its autopilot on (or off), and one character."""
    if NOOB_VPRED.name not in {style.name for style in await studio.styles.list()}:
        await studio.styles.create(NOOB_VPRED, "local")
    project = await studio.projects.create(
        GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}", "default_style": NOOB_VPRED.name}),
        "local",
    )
    if enabled:
        await studio.autonomy.config.update(project.id, AutopilotChanges(enabled=True), "local")  # type: ignore[arg-type]
    return await studio.characters.create(project.id, KOOPA.model_copy(update={"name": name}), "local")  # type: ignore[arg-type]
