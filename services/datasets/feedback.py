"""The feedback loop: a character's rejections teach negative prompt terms for its next generations."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlmodel import select

from services.datasets.categories import DUPLICATE, negatives_for
from studio.db import Database
from studio.models import ApprovalState, DatasetImage


@dataclass(frozen=True)
class LearnedNegatives:
    terms: tuple[str, ...]  # most frequent category first
    counts: dict[str, int]  # rejection category -> rejected images carrying it

    @property
    def text(self) -> str:
        return ", ".join(self.terms)


class Feedback:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def learned_negatives(self, character_id: int) -> LearnedNegatives:
        """Negative terms from the categories of the character's rejected images (duplicates teach nothing)."""
        query = select(DatasetImage.rejection_categories).where(
            DatasetImage.character_id == character_id, DatasetImage.approval_state == ApprovalState.REJECTED
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        counts = Counter(name for categories in rows for name in categories or () if name != DUPLICATE)
        ordered = [name for name, _ in counts.most_common()]
        return LearnedNegatives(tuple(negatives_for(ordered)), dict(counts))
