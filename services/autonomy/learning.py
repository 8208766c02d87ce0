"""Learning: what the review history says about generation, in SQL over the images' decisions and provenance,
the same on SQLite and PostgreSQL (no ML library). Drift and the analytics pages reuse these queries.

The facts are generated images (their provenance holds checkpoint, sampler, scheduler, steps and cfg) whose
current state is approved or rejected by a person or the vision review. The image's current state is the
outcome, so an undone decision no longer counts and a re-decided image counts once, as it stands. Triage and
dedup decisions are left out: they judge the file (too small, blurry, a copy), not the parameters that made it.
Times are `decided_at`, which the decisions take from the studio's clock.

Parameter sets are grouped in SQL on the raw values; cfg is then bucketed to 0.5 in Python (SQL's rounding of
a half differs between the two databases) and sets are ranked by the Wilson lower bound of their approval rate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select

from services.autonomy.confidence import confidence_for, wilson_lower_bound
from services.datasets.categories import CATEGORY_BY_NAME, DUPLICATE
from services.datasets.store import GENERATED_SOURCE
from services.errors import Invalid, NotFound
from services.prompts.params import Confidence, LearnedParams
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import ApprovalState, Autopilot, Character, DatasetImage, Decider, Project

# Decisions about the file rather than the picture (see the module docstring).
FILE_DECIDERS = (Decider.TRIAGE.value, Decider.DEDUP.value)
CFG_BUCKET = 0.5
# Rejected images whose categories a pattern counts (the newest first): enough to be representative, bounded so
# a project with a long history still answers at once.
PATTERN_SAMPLE = 2000
MAX_TREND_DAYS = 366


@dataclass(frozen=True)
class ParameterSet:
    """One combination of generation parameters and how its images were reviewed."""

    checkpoint: str
    sampler: str | None
    scheduler: str | None
    steps: int | None
    cfg: float | None  # bucketed to 0.5
    approved: int
    total: int
    rate: float
    lower_bound: float  # Wilson, 95%: what the ranking uses
    confidence: Confidence
    mean_score: float | None

    def learned(self) -> LearnedParams:
        return LearnedParams(
            cfg=self.cfg,
            steps=self.steps,
            sampler=self.sampler,
            scheduler=self.scheduler,
            confidence=self.confidence,
            samples=self.total,
            approved=self.approved,
        )


@dataclass(frozen=True)
class Recommendations:
    """A character's parameter sets, best first, and what generation would take from the best."""

    character_id: int
    checkpoint: str | None  # the checkpoint asked about; None: all of them
    sets: list[ParameterSet]
    best: ParameterSet | None  # the first set, when it has an approval; None: nothing to recommend yet
    reviewed: int  # images behind all sets

    @property
    def recommended(self) -> LearnedParams | None:
        """The best set as the parameter cascade takes it."""
        return self.best.learned() if self.best else None


@dataclass(frozen=True)
class RejectionPattern:
    category: str
    label: str
    count: int
    share: float  # of the rejected images counted


@dataclass(frozen=True)
class CheckpointRanking:
    checkpoint: str
    approved: int
    total: int
    rate: float
    lower_bound: float
    confidence: Confidence
    mean_score: float | None


@dataclass(frozen=True)
class Measure:
    """A character's newest decided images (the recent window) against every one decided before them."""

    project_id: int
    character_id: int
    recent_samples: int
    recent_approval: float
    recent_score: float | None
    history_samples: int
    history_approval: float
    history_score: float | None


@dataclass(frozen=True)
class TrendDay:
    day: date  # UTC
    approved: int
    rejected: int
    mean_score: float | None


def reviewed_images() -> list[ColumnElement[bool]]:
    """The conditions that make an image one of learning's facts (see the module docstring)."""
    return [
        col(DatasetImage.source) == GENERATED_SOURCE,
        col(DatasetImage.approval_state).in_((ApprovalState.APPROVED, ApprovalState.REJECTED)),
        col(DatasetImage.character_id).is_not(None),
        col(DatasetImage.decided_at).is_not(None),
        func.coalesce(DatasetImage.decided_by, "").not_in(FILE_DECIDERS),
    ]


def count_state(state_column: Any, state: ApprovalState) -> Any:
    """SUM of the facts in `state`, for a GROUP BY over them."""
    return func.sum(case((state_column == state, 1), else_=0))


def cfg_bucket(cfg: float | None) -> float | None:
    """cfg to the nearest 0.5 (a half rounds up): 6.8 and 7.1 are the same setting for learning."""
    return None if cfg is None else math.floor(cfg / CFG_BUCKET + 0.5) * CFG_BUCKET


def _provenance() -> dict[str, Any]:
    # SQLAlchemy's JSON index operators: json_extract on SQLite, ->> with a cast on PostgreSQL.
    provenance = DatasetImage.provenance
    return {
        "checkpoint": provenance["checkpoint"].as_string(),  # type: ignore[index]
        "sampler": provenance["sampler"].as_string(),  # type: ignore[index]
        "scheduler": provenance["scheduler"].as_string(),  # type: ignore[index]
        # Read as a number and made an int in Python: a cast to INTEGER fails on PostgreSQL for "28.0".
        "steps": provenance["steps"].as_float(),  # type: ignore[index]
        "cfg": provenance["cfg"].as_float(),  # type: ignore[index]
    }


class Learning:
    def __init__(self, *, settings: Settings, db: Database, clock: Clock) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock

    @property
    def min_confidence(self) -> Confidence:
        """The confidence a recommendation needs before generation uses it (live setting)."""
        return self._settings.learning_min_confidence

    async def recommendations(self, character_id: int, checkpoint: str | None = None) -> Recommendations:
        """The character's parameter sets ranked by the lower bound of their approval rate (optionally for one
        checkpoint), and the recommended parameters. NotFound: no such character."""
        await self._character(character_id)
        values = _provenance()
        conditions = [*reviewed_images(), DatasetImage.character_id == character_id, values["checkpoint"].is_not(None)]
        if checkpoint is not None:
            conditions.append(values["checkpoint"] == checkpoint)
        # The JSON values are selected in a subquery and grouped outside it: PostgreSQL binds the JSON keys as
        # parameters, and an expression with its own parameters in GROUP BY never matches the one in SELECT.
        facts = (
            select(
                *(value.label(name) for name, value in values.items()),
                DatasetImage.approval_state,
                DatasetImage.quality_score,
            )
            .where(*conditions)
            .subquery()
        )
        keys = [facts.c.checkpoint, facts.c.sampler, facts.c.scheduler, facts.c.steps, facts.c.cfg]
        query = select(
            *keys,
            func.count().label("total"),
            count_state(facts.c.approval_state, ApprovalState.APPROVED).label("approved"),
            func.sum(facts.c.quality_score).label("score_sum"),
            func.count(facts.c.quality_score).label("scored"),
        ).group_by(*keys)
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        merged: dict[tuple[Any, ...], list[float]] = {}
        for ckpt, sampler, scheduler, steps, cfg, total, approved, score_sum, scored in rows:
            key = (ckpt, sampler, scheduler, None if steps is None else round(steps), cfg_bucket(cfg))
            tally = merged.setdefault(key, [0, 0, 0.0, 0])
            tally[0] += int(total)
            tally[1] += int(approved or 0)
            tally[2] += float(score_sum or 0.0)
            tally[3] += int(scored)
        sets = [
            ParameterSet(
                checkpoint=key[0],
                sampler=key[1],
                scheduler=key[2],
                steps=key[3],
                cfg=key[4],
                approved=int(approved),
                total=int(total),
                rate=approved / total,
                lower_bound=wilson_lower_bound(int(approved), int(total)),
                confidence=confidence_for(int(total)),
                mean_score=score_sum / scored if scored else None,
            )
            for key, (total, approved, score_sum, scored) in merged.items()
        ]
        sets.sort(key=_rank)
        best = sets[0] if sets and sets[0].approved > 0 else None
        return Recommendations(
            character_id=character_id,
            checkpoint=checkpoint,
            sets=sets,
            best=best,
            reviewed=sum(s.total for s in sets),
        )

    async def learned_params(self, character_id: int, checkpoint: str) -> LearnedParams | None:
        """The recommended parameters for a character drawn with `checkpoint`, at whatever confidence (the
        cascade decides whether to trust it); None without an approved set. NotFound: no such character."""
        return (await self.recommendations(character_id, checkpoint)).recommended

    async def planned(self, character: Character, checkpoint: str) -> LearnedParams | None:
        """What a generation plan takes from learning: the recommendation, when the project's autopilot has
        autonomy on (its switch covers learned parameters); None otherwise."""
        if not await self.enabled_for(character.project_id):
            return None
        return await self.learned_params(character.id, checkpoint)  # type: ignore[arg-type]

    async def enabled_for(self, project_id: int) -> bool:
        """Whether generation in the project uses learned parameters (its autopilot's autonomy switch)."""
        async with self._db.session() as session:
            autopilot = await session.get(Autopilot, project_id)
        return autopilot is not None and autopilot.enabled

    async def rejection_patterns(
        self, *, character_id: int | None = None, project_id: int | None = None, limit: int = 10
    ) -> list[RejectionPattern]:
        """The most frequent rejection categories of a character's (or a project's) rejected images, counted
        over the newest PATTERN_SAMPLE of them in Python (JSON lists unnest differently on each database).
        Duplicates are left out: they say nothing about the picture. NotFound: no such character/project."""
        scope = await self._scope(character_id, project_id)
        query = (
            select(DatasetImage.rejection_categories)
            .where(*reviewed_images(), scope, DatasetImage.approval_state == ApprovalState.REJECTED)
            .order_by(col(DatasetImage.decided_at).desc())
            .limit(PATTERN_SAMPLE)
        )
        async with self._db.session() as session:
            lists = (await session.exec(query)).all()
        counts = Counter(name for names in lists for name in names or () if name != DUPLICATE)
        rejected = len(lists)
        return [
            RejectionPattern(
                category=name,
                label=CATEGORY_BY_NAME[name].label if name in CATEGORY_BY_NAME else name,
                count=count,
                share=count / rejected,
            )
            for name, count in counts.most_common(limit)
        ]

    async def checkpoint_rankings(self, project_id: int) -> list[CheckpointRanking]:
        """Each checkpoint the project generated with, best lower bound first. NotFound: no such project."""
        scope = await self._scope(None, project_id)
        checkpoint = _provenance()["checkpoint"]
        facts = (
            select(checkpoint.label("checkpoint"), DatasetImage.approval_state, DatasetImage.quality_score)
            .where(*reviewed_images(), scope, checkpoint.is_not(None))
            .subquery()
        )
        query = select(
            facts.c.checkpoint,
            func.count().label("total"),
            count_state(facts.c.approval_state, ApprovalState.APPROVED).label("approved"),
            func.avg(facts.c.quality_score).label("mean_score"),
        ).group_by(facts.c.checkpoint)
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        rankings = [
            CheckpointRanking(
                checkpoint=name,
                approved=int(approved or 0),
                total=int(total),
                rate=int(approved or 0) / total,
                lower_bound=wilson_lower_bound(int(approved or 0), int(total)),
                confidence=confidence_for(int(total)),
                mean_score=float(mean) if mean is not None else None,
            )
            for name, total, approved, mean in rows
        ]
        return sorted(rankings, key=lambda r: (-r.lower_bound, -r.total, r.checkpoint))

    async def quality_trend(
        self, *, character_id: int | None = None, project_id: int | None = None, days: int = 7
    ) -> list[TrendDay]:
        """Approvals, rejections and mean score per UTC day, for the `days` days up to the clock's today (oldest
        first; days without decisions included). NotFound: no such character/project. Invalid: days out of range.

        Days are CASE buckets over `decided_at` computed from the clock: portable (no dialect date functions,
        no session time zone) and a range condition an index can use.
        """
        if not 1 <= days <= MAX_TREND_DAYS:
            raise Invalid("days", f"days must be 1 to {MAX_TREND_DAYS}")
        scope = await self._scope(character_id, project_id)
        now = self._clock.now()
        today = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        starts = [today - timedelta(days=back) for back in range(days)]  # today first
        # Bucketed in a subquery and grouped outside it (see recommendations: bound parameters in GROUP BY).
        bucket = case(
            *((col(DatasetImage.decided_at) >= start, index) for index, start in enumerate(starts)),
            else_=days,
        )
        facts = (
            select(bucket.label("bucket"), DatasetImage.approval_state, DatasetImage.quality_score)
            .where(
                *reviewed_images(),
                scope,
                col(DatasetImage.decided_at) >= starts[-1],
                col(DatasetImage.decided_at) < today + timedelta(days=1),
            )
            .subquery()
        )
        query = select(
            facts.c.bucket,
            count_state(facts.c.approval_state, ApprovalState.APPROVED).label("approved"),
            count_state(facts.c.approval_state, ApprovalState.REJECTED).label("rejected"),
            func.avg(facts.c.quality_score).label("mean_score"),
        ).group_by(facts.c.bucket)
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        found = {int(index): (approved, rejected, mean) for index, approved, rejected, mean in rows}
        trend = []
        for index in reversed(range(days)):
            approved, rejected, mean = found.get(index, (0, 0, None))
            trend.append(
                TrendDay(
                    day=starts[index].date(),
                    approved=int(approved or 0),
                    rejected=int(rejected or 0),
                    mean_score=float(mean) if mean is not None else None,
                )
            )
        return trend

    async def recent_against_history(
        self, window: int, *, project_ids: Collection[int] = (), character_ids: Collection[int] = ()
    ) -> list[Measure]:
        """For every character of the projects (or every named character) with at least `window` decided images
        in both parts: its newest `window` images against all earlier ones. One windowed GROUP BY over them all."""
        if not project_ids and not character_ids:
            return []
        recency = func.row_number().over(
            partition_by=DatasetImage.character_id,
            order_by=(col(DatasetImage.decided_at).desc(), col(DatasetImage.id).desc()),
        )
        ranked = (
            select(
                DatasetImage.project_id,
                DatasetImage.character_id,
                DatasetImage.approval_state,
                DatasetImage.quality_score,
                recency.label("recency"),
            )
            .where(
                *reviewed_images(),
                col(DatasetImage.project_id).in_(project_ids) if project_ids else true(),
                col(DatasetImage.character_id).in_(character_ids) if character_ids else true(),
            )
            .subquery()
        )
        # Split in one subquery, grouped in the next (see recommendations: bound parameters in GROUP BY).
        split = select(
            ranked.c.project_id,
            ranked.c.character_id,
            ranked.c.approval_state,
            ranked.c.quality_score,
            case((ranked.c.recency <= window, 1), else_=0).label("recent"),
        ).subquery()
        query = select(
            split.c.project_id,
            split.c.character_id,
            split.c.recent,
            func.count().label("total"),
            count_state(split.c.approval_state, ApprovalState.APPROVED).label("approved"),
            func.avg(split.c.quality_score).label("mean_score"),
        ).group_by(split.c.project_id, split.c.character_id, split.c.recent)
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        parts: dict[tuple[int, int], dict[int, tuple[int, int, float | None]]] = {}
        for project_id, character_id, recent, total, approved, mean in rows:
            parts.setdefault((project_id, character_id), {})[int(recent)] = (
                int(total),
                int(approved or 0),
                float(mean) if mean is not None else None,
            )
        measures = []
        for (project_id, character_id), halves in parts.items():
            recent_part, history_part = halves.get(1), halves.get(0)
            if recent_part is None or history_part is None or min(recent_part[0], history_part[0]) < window:
                continue
            measures.append(
                Measure(
                    project_id=project_id,
                    character_id=character_id,
                    recent_samples=recent_part[0],
                    recent_approval=recent_part[1] / recent_part[0],
                    recent_score=recent_part[2],
                    history_samples=history_part[0],
                    history_approval=history_part[1] / history_part[0],
                    history_score=history_part[2],
                )
            )
        return measures

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character

    async def _scope(self, character_id: int | None, project_id: int | None) -> ColumnElement[bool]:
        """The condition for one character's or one project's images; NotFound when it does not exist."""
        if character_id is not None:
            await self._character(character_id)
            return col(DatasetImage.character_id) == character_id
        if project_id is None:
            raise Invalid("scope", "name a character or a project")
        async with self._db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound(f"there is no project {project_id}")
        return col(DatasetImage.project_id) == project_id


def _rank(item: ParameterSet) -> tuple[Any, ...]:
    # Best lower bound first; then more evidence, then the higher rate; then a stable order by the values.
    return (-item.lower_bound, -item.total, -item.rate, item.checkpoint, str(item.sampler), str(item.steps))
