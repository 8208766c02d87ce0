"""A small lineage for the page and browser tests: a rejected original, its correction (rejected again), and
from the correction a regeneration still pending, plus a second regeneration of the original."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.autonomy.strategies import FIX_APPEARANCE, FIX_QUALITY
from studio.models import ApprovalState, Character, DatasetImage
from studio.root import Studio
from tests.learning_helpers import generated_image


@dataclass(frozen=True)
class ThreeGenerations:
    root: int
    correction: int  # the middle: corrected from the root
    leaf: int  # regenerated from the correction
    sibling: int  # regenerated from the root


async def three_generations(studio: Studio, character: Character, at: datetime) -> ThreeGenerations:
    def image(hours: int, **fields: Any) -> DatasetImage:
        return generated_image(character, created_at=at + timedelta(hours=hours), **fields)

    async with studio.db.session() as session:
        root = image(
            0,
            approval_state=ApprovalState.REJECTED,
            rejection_categories=["bad_anatomy"],
            quality_score=0.31,
            decided_by="aiko",
            decided_at=at,
        )
        session.add(root)
        await session.flush()
        correction = image(
            1,
            derived_from_id=root.id,
            provenance={"correction": {"of": root.id, "strategies": [FIX_QUALITY, FIX_APPEARANCE]}},
            approval_state=ApprovalState.REJECTED,
            rejection_categories=["wrong_pose"],
            quality_score=0.52,
            decided_by="vision",
            decided_at=at + timedelta(hours=1),
        )
        sibling = image(2, derived_from_id=root.id)
        session.add_all([correction, sibling])
        await session.flush()
        leaf = image(3, derived_from_id=correction.id)
        session.add(leaf)
        await session.flush()
        return ThreeGenerations(root.id, correction.id, leaf.id, sibling.id)  # type: ignore[arg-type]
