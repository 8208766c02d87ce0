"""Reading datasets for the review grid and the kiosk: filtered, sorted pages and state counts.

Pages are fetched by offset and limit (the grid shows 60-200 at a time), so a dataset of tens of
thousands of images never loads whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import func
from sqlmodel import col, or_, select

from services.errors import Invalid
from services.tags.filters import has_no_caption, has_tag
from studio.db import Database
from studio.models import ApprovalState, DatasetImage, VisionStatus

Sort = Literal["newest", "oldest", "score_high", "score_low"]
TRIAGE_FLAGS = ("small", "blurry", "dark", "bright", "nsfw", "no_face", "multiple_faces")
MAX_PAGE = 500


@dataclass(frozen=True)
class ImageQuery:
    project_id: int
    character_id: int | None = None
    states: tuple[ApprovalState, ...] = ()
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # any of these triage flags
    duplicates: Literal["any", "only", "hide"] = "any"
    needs_human: bool = False  # only images whose vision review failed
    tag: str | None = None  # only images that show this tag
    no_caption: bool = False  # only images without tags or caption text (a training export would have nothing)
    sort: Sort = "newest"
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class ImagePage:
    items: list[DatasetImage]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class StateCounts:
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    duplicates: int = 0
    by_character: dict[int, dict[str, int]] = field(default_factory=dict)


class DatasetBrowser:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def page(self, query: ImageQuery) -> ImagePage:
        """One page of images matching the filters, and how many match in all."""
        if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
            raise Invalid("limit", f"pages hold 1 to {MAX_PAGE} images, from offset 0")
        unknown = [flag for flag in query.flags if flag not in TRIAGE_FLAGS]
        if unknown:
            raise Invalid("flags", f"unknown triage flags {', '.join(unknown)}; use {', '.join(TRIAGE_FLAGS)}")
        conditions = _conditions(query)
        order = {
            "newest": [col(DatasetImage.id).desc()],
            "oldest": [col(DatasetImage.id)],
            "score_high": [col(DatasetImage.quality_score).desc().nulls_last(), col(DatasetImage.id).desc()],
            "score_low": [col(DatasetImage.quality_score).asc().nulls_last(), col(DatasetImage.id).desc()],
        }[query.sort]
        items_query = select(DatasetImage).where(*conditions).order_by(*order).offset(query.offset).limit(query.limit)
        count_query = select(func.count()).select_from(DatasetImage).where(*conditions)
        async with self._db.session() as session:
            items = list((await session.exec(items_query)).all())
            total = int((await session.exec(count_query)).one())
        return ImagePage(items, total, query.offset, query.limit)

    async def counts(self, project_id: int) -> StateCounts:
        """Images per approval state in a project, overall and per character."""
        query = (
            select(DatasetImage.character_id, DatasetImage.approval_state, func.count())
            .where(DatasetImage.project_id == project_id)
            .group_by(col(DatasetImage.character_id), col(DatasetImage.approval_state))
        )
        duplicates = (
            select(func.count())
            .select_from(DatasetImage)
            .where(DatasetImage.project_id == project_id, col(DatasetImage.duplicate_of_id).is_not(None))
        )
        totals = {state.value: 0 for state in ApprovalState}
        by_character: dict[int, dict[str, int]] = {}
        async with self._db.session() as session:
            for character_id, state, count in (await session.exec(query)).all():
                totals[state.value] += count
                if character_id is not None:
                    by_character.setdefault(character_id, {s.value: 0 for s in ApprovalState})[state.value] = count
            duplicate_count = int((await session.exec(duplicates)).one())
        return StateCounts(duplicates=duplicate_count, by_character=by_character, **totals)

    async def duplicates_of(self, image_id: int, limit: int = 100) -> list[DatasetImage]:
        """The images flagged as duplicates of `image_id`, oldest first."""
        return await self._linked(col(DatasetImage.duplicate_of_id) == image_id, limit)

    async def regenerations_of(self, image_id: int, limit: int = 100) -> list[DatasetImage]:
        """The images generated to replace the rejected `image_id`, oldest first."""
        return await self._linked(col(DatasetImage.derived_from_id) == image_id, limit)

    async def _linked(self, condition: object, limit: int) -> list[DatasetImage]:
        query = select(DatasetImage).where(condition).order_by(col(DatasetImage.id)).limit(limit)  # type: ignore[arg-type]
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def review_queue(
        self, project_id: int, character_id: int | None, after_id: int = 0, limit: int = 20
    ) -> list[DatasetImage]:
        """Pending images for the kiosk, oldest first, after the last one a station already holds."""
        query = ImageQuery(
            project_id=project_id,
            character_id=character_id,
            states=(ApprovalState.PENDING,),
            sort="oldest",
            limit=min(max(limit, 1), MAX_PAGE),
        )
        conditions = [*_conditions(query), col(DatasetImage.id) > after_id]
        async with self._db.session() as session:
            statement = select(DatasetImage).where(*conditions).order_by(col(DatasetImage.id)).limit(query.limit)
            return list((await session.exec(statement)).all())


def _conditions(query: ImageQuery) -> list[object]:
    conditions: list[object] = [DatasetImage.project_id == query.project_id]
    if query.character_id is not None:
        conditions.append(DatasetImage.character_id == query.character_id)
    if query.states:
        conditions.append(col(DatasetImage.approval_state).in_(list(query.states)))
    if query.sources:
        conditions.append(col(DatasetImage.source).in_(list(query.sources)))
    if query.flags:
        conditions.append(
            or_(*(col(DatasetImage.triage_flags).contains(f",{flag},", autoescape=True) for flag in query.flags))
        )
    if query.duplicates == "only":
        conditions.append(col(DatasetImage.duplicate_of_id).is_not(None))
    elif query.duplicates == "hide":
        conditions.append(col(DatasetImage.duplicate_of_id).is_(None))
    if query.needs_human:
        conditions.append(DatasetImage.vision_status == VisionStatus.NEEDS_HUMAN)
    if query.tag is not None:
        conditions.append(has_tag(query.tag))
    if query.no_caption:
        conditions.append(has_no_caption())
    return conditions
