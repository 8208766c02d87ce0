"""Review decisions: approve, reject (with reasons), undo, and moving images between characters.

Every decision, whether a person or the studio made it, is a `review_decisions` row and an
`ImageDecided` event, so learning and analytics see manual decisions too (the earlier system lost them).
A decision may name the image version it saw: two kiosk stations reviewing the same character then never
both win; the second gets a Conflict and moves on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select

from services.datasets.categories import CATEGORY_NAMES
from services.datasets.events import ImageDecided, ImagesReassigned
from services.errors import Conflict, Invalid, NotFound
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import ApprovalState, Character, DatasetImage, Decider, ReviewDecision

MAX_BULK = 5000


@dataclass(frozen=True)
class Verdict:
    state: ApprovalState
    decider: Decider = Decider.HUMAN
    categories: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    quality_score: float | None = None


class ReviewDecisions:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock

    async def decide(
        self,
        image_id: int,
        verdict: Verdict,
        actor: str,
        *,
        expected_version: int | None = None,
        only_from: Collection[ApprovalState] | None = None,
    ) -> tuple[DatasetImage, ReviewDecision]:
        """Record one decision. Conflict: the image changed since `expected_version`, or is not in `only_from`."""
        _check_categories(verdict)
        async with self._db.session() as session:
            image = await session.get(DatasetImage, image_id)
            if image is None:
                raise NotFound(f"image {image_id} does not exist")
            seen = image.version if expected_version is None else expected_version
            if expected_version is not None and image.version != expected_version:
                raise Conflict(_changed_message(image))
            if only_from is not None and image.approval_state not in only_from:
                raise Conflict(_changed_message(image))
            previous = image.approval_state
            now = self._clock.now()
            result = await session.exec(  # type: ignore[call-overload]
                update(DatasetImage)
                .where(col(DatasetImage.id) == image_id, col(DatasetImage.version) == seen)
                .values(
                    approval_state=verdict.state,
                    version=seen + 1,
                    # A card shows who decided: the person, or which check did.
                    decided_by=actor[:100] if verdict.decider == Decider.HUMAN else verdict.decider.value,
                    decided_at=now,
                    rejection_categories=list(verdict.categories) if verdict.state == ApprovalState.REJECTED else [],
                    quality_score=(verdict.quality_score if verdict.quality_score is not None else image.quality_score),
                    updated_at=now,
                )
            )
            # Raising leaves the rollback to the session's transaction; rolling back here would close it
            # under the context manager and turn the loser's 409 into a 500.
            if result.rowcount != 1:  # another station's decision landed between our read and write
                raise Conflict(f"image {image_id} was just decided elsewhere; showing the next one")
            decision = ReviewDecision(
                image_id=image_id,
                project_id=image.project_id,
                character_id=image.character_id,
                previous_state=previous,
                state=verdict.state,
                decider=verdict.decider,
                actor=actor[:100],
                categories=list(verdict.categories),
                reasons=list(verdict.reasons),
                quality_score=verdict.quality_score,
                image_version=seen + 1,
            )
            session.add(decision)
        decided = await self._get(image_id)
        await self._announce(decided, decision, actor, undo=False)
        return decided, decision

    async def decide_many(
        self, image_ids: list[int], verdict: Verdict, actor: str
    ) -> list[tuple[DatasetImage, ReviewDecision]]:
        """Bulk decision from the review grid; images already in that state are left as they are.

        Returns each changed image with its decision (what an undo needs)."""
        if len(image_ids) > MAX_BULK:
            raise Invalid("image_ids", f"decide at most {MAX_BULK} images at once")
        changed = []
        for image_id in dict.fromkeys(image_ids):
            image = await self._get(image_id)
            if image.approval_state == verdict.state and verdict.state != ApprovalState.REJECTED:
                continue
            try:
                changed.append(await self.decide(image_id, verdict, actor, expected_version=image.version))
            except Conflict:
                continue  # someone else decided it meanwhile: their decision stands
        return changed

    async def undo(self, decision_id: int, actor: str) -> DatasetImage:
        """Put an image back to its state before a decision. Conflict: it changed since, or already undone."""
        async with self._db.session() as session:
            decision = await session.get(ReviewDecision, decision_id)
            if decision is None:
                raise NotFound(f"decision {decision_id} does not exist")
            if decision.undone_at is not None:
                raise Conflict("this decision was already undone")
            image = await session.get(DatasetImage, decision.image_id)
            if image is None:
                raise NotFound(f"image {decision.image_id} no longer exists")
            if image.version != decision.image_version:
                raise Conflict(f"image {image.id} changed after this decision ({_changed_message(image)}); not undone")
            earlier = await self._earlier_categories(session, decision)
            now = self._clock.now()
            result = await session.exec(  # type: ignore[call-overload]
                update(DatasetImage)
                .where(col(DatasetImage.id) == image.id, col(DatasetImage.version) == decision.image_version)
                .values(
                    approval_state=decision.previous_state,
                    version=decision.image_version + 1,
                    decided_by=actor[:100],
                    decided_at=now,
                    rejection_categories=earlier if decision.previous_state == ApprovalState.REJECTED else [],
                    updated_at=now,
                )
            )
            if result.rowcount != 1:  # a simultaneous undo or decision won (see decide)
                raise Conflict(f"image {decision.image_id} was just undone or decided elsewhere; not undone")
            decision.undone_at = now
            session.add(decision)
        restored = await self._get(decision.image_id)
        await self._announce(restored, decision, actor, undo=True)
        return restored

    async def history(self, image_id: int) -> list[ReviewDecision]:
        query = select(ReviewDecision).where(ReviewDecision.image_id == image_id).order_by(col(ReviewDecision.id))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def reassign(self, image_ids: list[int], character_id: int, actor: str) -> list[DatasetImage]:
        """Move images to another character of the same project; they wait for review there.

        Invalid: the character is deleted or in another project. Images the target already has (same
        file) are left where they are.
        """
        if len(image_ids) > MAX_BULK:
            raise Invalid("image_ids", f"move at most {MAX_BULK} images at once")
        async with self._db.session() as session:
            target = await session.get(Character, character_id)
            if target is None or target.deleted_at is not None:
                raise Invalid("character_id", f"character {character_id} does not exist or is deleted")
            moved: list[int] = []
            for image_id in dict.fromkeys(image_ids):
                image = await session.get(DatasetImage, image_id)
                if image is None or image.character_id == character_id:
                    continue
                if image.project_id != target.project_id:
                    raise Invalid("character_id", f"{target.name} belongs to another project than image {image_id}")
                taken = await session.exec(
                    select(DatasetImage.id).where(
                        DatasetImage.character_id == character_id, DatasetImage.content_hash == image.content_hash
                    )
                )
                if taken.first() is not None:
                    continue
                image.character_id = character_id
                image.approval_state = ApprovalState.PENDING
                image.rejection_categories = []
                image.version += 1
                session.add(image)
                moved.append(image_id)
        if moved:
            await self._events.emit(
                ImagesReassigned(
                    actor=actor, image_ids=tuple(moved), project_id=target.project_id, character_id=character_id
                )
            )
        return [await self._get(image_id) for image_id in moved]

    async def _get(self, image_id: int) -> DatasetImage:
        async with self._db.session() as session:
            image = await session.get(DatasetImage, image_id)
        if image is None:
            raise NotFound(f"image {image_id} does not exist")
        return image

    @staticmethod
    async def _earlier_categories(session: object, decision: ReviewDecision) -> list[str]:
        """The categories of the live decision before `decision`, to restore a rejection's reasons."""
        query = (
            select(ReviewDecision)
            .where(
                ReviewDecision.image_id == decision.image_id,
                col(ReviewDecision.id) < decision.id,
                col(ReviewDecision.undone_at).is_(None),
            )
            .order_by(col(ReviewDecision.id).desc())
            .limit(1)
        )
        earlier = (await session.exec(query)).first()  # type: ignore[attr-defined]
        return list(earlier.categories) if earlier else []

    async def _announce(self, image: DatasetImage, decision: ReviewDecision, actor: str, *, undo: bool) -> None:
        await self._events.emit(
            ImageDecided(
                actor=actor,
                image_id=image.id,  # type: ignore[arg-type]
                decision_id=decision.id,  # type: ignore[arg-type]
                project_id=image.project_id,
                character_id=image.character_id,
                previous_state=(decision.state if undo else decision.previous_state).value,
                state=image.approval_state.value,
                decider=Decider.HUMAN.value if undo else decision.decider.value,
                version=image.version,
                categories=() if undo else tuple(decision.categories),
                reasons=("undo",) if undo else tuple(decision.reasons),
                quality_score=decision.quality_score,
                undo=undo,
            )
        )


def _check_categories(verdict: Verdict) -> None:
    unknown = [name for name in verdict.categories if name not in CATEGORY_NAMES]
    if unknown:
        raise Invalid("categories", f"unknown rejection categories: {', '.join(unknown)}")
    if verdict.categories and verdict.state != ApprovalState.REJECTED:
        raise Invalid("categories", "only a rejection carries rejection categories")


def _changed_message(image: DatasetImage) -> str:
    who = f" by {image.decided_by}" if image.decided_by else ""
    return f"image {image.id} is already {image.approval_state.value}{who}"
