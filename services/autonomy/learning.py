"""Learning: what the review history says about generation, in SQL over the images' decisions and provenance,
the same on SQLite and PostgreSQL (no ML library). Drift and the analytics pages reuse these queries.

The facts (generated images a person or the vision review decided, as they stand) and the query pieces are
services.analytics.facts'; rejection patterns are the analytics report's query (services.analytics.quality) for
one character or project, and rankings and the quality trend are read from the analytics service itself: one
query, one place.

Parameter sets are grouped in SQL on the images' parameter columns; cfg is then bucketed to 0.5 in Python (SQL's
rounding of a half differs between the two databases) and sets are ranked by the Wilson lower bound of their
approval rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from services.analytics import quality
from services.analytics.facts import PARAMETERS, Tally, cfg_bucket, reviewed_images, tallied
from services.analytics.scope import Scope
from services.autonomy.confidence import confidence_for, wilson_lower_bound
from services.errors import Invalid, NotFound
from services.prompts.params import Confidence, LearnedParams
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import Autopilot, Character, DatasetImage, Project


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
        keys = [PARAMETERS[name] for name in ("checkpoint", "sampler", "scheduler", "steps", "cfg")]
        conditions = [*reviewed_images(), DatasetImage.character_id == character_id, keys[0].is_not(None)]
        if checkpoint is not None:
            conditions.append(keys[0] == checkpoint)
        query = (
            select(*keys, *tallied(DatasetImage.approval_state, DatasetImage.quality_score))
            .where(*conditions)
            .group_by(*keys)
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        merged: dict[tuple[Any, ...], Tally] = defaultdict(Tally)
        for ckpt, sampler, scheduler, steps, cfg, *counts in rows:
            merged[(ckpt, sampler, scheduler, steps, cfg_bucket(cfg))].add(*counts)
        sets = [
            ParameterSet(
                checkpoint=key[0],
                sampler=key[1],
                scheduler=key[2],
                steps=key[3],
                cfg=key[4],
                approved=tally.approved,
                total=tally.total,
                rate=tally.rate,
                lower_bound=wilson_lower_bound(tally.approved, tally.total),
                confidence=confidence_for(tally.total),
                mean_score=tally.mean_score,
            )
            for key, tally in merged.items()
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
        over the newest of them (the rejections report's sample). Duplicates are left out: they say nothing
        about the picture. NotFound: no such character/project."""
        sample = await quality.rejected_sample(self._db, await self._scope(character_id, project_id))
        return [
            RejectionPattern(category=c.category, label=c.label, count=c.count, share=c.count / len(sample))
            for c in quality.category_counts(fact.categories for fact in sample)[:limit]
        ]

    async def recent_against_history(
        self, window: int, *, project_ids: Collection[int] = (), character_ids: Collection[int] = ()
    ) -> list[Measure]:
        """For every character of the projects (or every named character) with at least `window` decided images
        in both parts: its newest `window` images against all earlier ones.

        Two reads that indexes answer: each character's totals in one GROUP BY (covered by the character and
        checkpoint index), then the tallies of the newest `window` of each character with enough of them (see
        _newest); the history is the totals less the window. A window function over every decided image of every
        character would read them all."""
        if not project_ids and not character_ids:
            return []
        async with self._db.session() as session:
            # The characters by id, so both reads seek each character's entries (an image is in its character's
            # project); deleted characters too: their images are still facts.
            owners = select(Character.id, Character.project_id)
            owners = owners.where(
                col(Character.project_id).in_(project_ids) if project_ids else col(Character.id).in_(character_ids)
            )
            projects = dict((await session.exec(owners)).all())
            totals_query = (
                select(DatasetImage.character_id, *tallied(DatasetImage.approval_state, DatasetImage.quality_score))
                .where(*reviewed_images(), col(DatasetImage.character_id).in_(list(projects)))
                .group_by(DatasetImage.character_id)
            )
            totals = {row[0]: _tally(row[1:]) for row in (await session.exec(totals_query)).all()}  # type: ignore[call-overload]
            judged = sorted(c for c, tally in totals.items() if tally.total >= 2 * window)
            recent_query = _newest(window, judged)
            recent = {row[0]: _tally(row[1:]) for row in (await session.exec(recent_query)).all()}  # type: ignore[call-overload]
        measures = []
        for character_id in judged:
            newest, everything = recent[character_id], totals[character_id]
            before = Tally(
                total=everything.total - newest.total,
                approved=everything.approved - newest.approved,
                score_sum=everything.score_sum - newest.score_sum,
                scored=everything.scored - newest.scored,
            )
            measures.append(
                Measure(
                    project_id=projects[character_id],
                    character_id=character_id,
                    recent_samples=newest.total,
                    recent_approval=newest.rate,
                    recent_score=newest.mean_score,
                    history_samples=before.total,
                    history_approval=before.rate,
                    history_score=before.mean_score,
                )
            )
        return measures

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character

    async def _scope(self, character_id: int | None, project_id: int | None) -> Scope:
        """One character's or one project's facts; NotFound when it does not exist."""
        if character_id is not None:
            await self._character(character_id)
            return Scope(character_ids=(character_id,))
        if project_id is None:
            raise Invalid("scope", "name a character or a project")
        async with self._db.session() as session:
            if await session.get(Project, project_id) is None:
                raise NotFound(f"there is no project {project_id}")
        return Scope(project_id=project_id)


def _tally(counts: Any) -> Tally:
    tally = Tally()
    tally.add(*counts)
    return tally


def _newest(window: int, character_ids: list[int]) -> Any:
    """Each character's tally of its newest `window` facts, in one statement of fixed size: per character, the
    tally's columns over its newest `window` (a seek down its (character_id, decided_at) index and a LIMIT)."""
    window_rows = (
        select(DatasetImage.approval_state, DatasetImage.quality_score)
        .where(*reviewed_images(), DatasetImage.character_id == Character.id)
        .order_by(col(DatasetImage.decided_at).desc(), col(DatasetImage.id).desc())
        .limit(window)
        .correlate(Character)
        .subquery()
    )
    tally = tallied(window_rows.c.approval_state, window_rows.c.quality_score)
    return select(Character.id, *(select(column).select_from(window_rows).scalar_subquery() for column in tally)).where(
        col(Character.id).in_(character_ids)
    )


def _rank(item: ParameterSet) -> tuple[Any, ...]:
    # Best lower bound first; then more evidence, then the higher rate; then a stable order by the values.
    return (-item.lower_bound, -item.total, -item.rate, item.checkpoint, str(item.sampler), str(item.steps))
