"""The reviewed-image reports in portable SQL: quality over time, rankings (and the images behind a ranked
value), rejection categories, drift and cross-project comparisons.

The facts are learning's (services.analytics.facts): SQL groups them into flat rows, Python shapes the rows into
the reports. Days are UTC days of `decided_at`; the range conditions on it are what the (character|project,
decided_at) indexes serve.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.analytics.facts import (
    PARAMETERS,
    PATTERN_SAMPLE,
    Tally,
    cfg_bucket,
    count_state,
    provenance_loras,
    reviewed_images,
    tallied,
    utc_day,
)
from services.analytics.reports import (
    CategoryCount,
    CharacterRef,
    CharacterRejections,
    CharacterTrend,
    CrossProject,
    CrossProjectRow,
    Dimension,
    Drift,
    DriftRow,
    ImageRef,
    QualityTrend,
    RankedValue,
    Rankings,
    RejectionDay,
    Rejections,
    TrendDay,
)
from services.analytics.scope import Scope
from services.autonomy.confidence import confidence_for, wilson_lower_bound
from services.datasets.categories import CATEGORY_BY_NAME, DUPLICATE
from services.errors import Invalid
from studio.db import Database
from studio.models import ApprovalState, Character, DatasetImage, DriftAlert, Project

if TYPE_CHECKING:  # learning builds on this module: imported at run time, it would be a cycle
    from services.autonomy.learning import Learning

# The states a drill-down lists.
DRILL_STATES = (ApprovalState.APPROVED.value, ApprovalState.REJECTED.value)


@dataclass(frozen=True)
class RejectedFact:
    """One rejected image of the category sample."""

    character_id: int
    day: date
    categories: list[str]


# --- quality over time ----------------------------------------------------------------------------------------


async def quality_trend(db: Database, scope: Scope, today: date) -> QualityTrend:
    """Approvals, rejections and mean score per UTC day of the scope's days, in total and per character."""
    days = scope.days(today)
    if not days:
        return QualityTrend(days=[], total=[], characters=[])
    day = utc_day(DatasetImage.decided_at)
    facts = (
        select(day.label("day"), DatasetImage.character_id, DatasetImage.approval_state, DatasetImage.quality_score)
        .where(*_conditions(replace(scope, since=days[0], until=days[-1])))
        .subquery()
    )
    query = select(facts.c.day, facts.c.character_id, *tallied(facts.c.approval_state, facts.c.quality_score))
    query = query.group_by(facts.c.day, facts.c.character_id)
    async with db.session() as session:
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        total: dict[date, Tally] = defaultdict(Tally)
        per_character: dict[int, dict[date, Tally]] = defaultdict(lambda: defaultdict(Tally))
        for text, character_id, *counts in rows:
            on = date.fromisoformat(text)
            total[on].add(*counts)
            per_character[character_id][on].add(*counts)
        refs = await _character_refs(session, per_character)
    return QualityTrend(
        days=days,
        total=_trend_days(days, total),
        characters=[CharacterTrend(character=ref, days=_trend_days(days, per_character[ref.id])) for ref in refs],
    )


def _trend_days(days: list[date], tallies: dict[date, Tally]) -> list[TrendDay]:
    empty = Tally()
    return [
        TrendDay(
            day=day,
            approved=tallies.get(day, empty).approved,
            rejected=tallies.get(day, empty).total - tallies.get(day, empty).approved,  # a fact is one or the other
            mean_score=tallies.get(day, empty).mean_score,
        )
        for day in days
    ]


# --- what to use ----------------------------------------------------------------------------------------------


async def rankings(db: Database, scope: Scope, by: Dimension) -> Rankings:
    """The values of one generation parameter ranked by the Wilson lower bound of their approval rate."""
    if by == "lora":
        return await _lora_rankings(db, scope)
    value = PARAMETERS[by]
    query = (
        select(value, *tallied(DatasetImage.approval_state, DatasetImage.quality_score))
        .where(*_conditions(scope), value.is_not(None))
        .group_by(value)
    )
    async with db.session() as session:
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    merged: dict[str, Tally] = defaultdict(Tally)
    for raw, *counts in rows:
        merged[_ranked_label(by, raw)].add(*counts)
    return Rankings(by=by, values=_ranked(merged), reviewed=sum(tally.total for tally in merged.values()))


async def _lora_rankings(db: Database, scope: Scope) -> Rankings:
    # A LoRA list unnests differently on each database: counted in Python over the newest PATTERN_SAMPLE
    # reviewed images, so on a long history this ranking is a sample's.
    query = select(provenance_loras(), DatasetImage.approval_state, DatasetImage.quality_score).where(
        col(DatasetImage.id).in_(_newest_reviewed(scope))
    )
    async with db.session() as session:
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    merged: dict[str, Tally] = defaultdict(Tally)
    reviewed = 0
    for loras, state, score in rows:
        names = _lora_names(loras)
        reviewed += bool(names)
        for name in names:
            merged[name].add(1, state == ApprovalState.APPROVED, score, score is not None)
    return Rankings(by="lora", values=_ranked(merged), reviewed=reviewed)


def _newest_reviewed(scope: Scope) -> Any:
    """The ids of the newest PATTERN_SAMPLE facts in scope, picked from the newest of each state: one state's newest
    are a walk down an index by decision time (both states at once would sort every fact), and only the ids picked
    read the rows themselves."""
    newest = (col(DatasetImage.decided_at).desc(), col(DatasetImage.id).desc())
    per_state = [
        select(DatasetImage.id, DatasetImage.decided_at)
        .where(*_conditions(scope), DatasetImage.approval_state == state)
        .order_by(*newest)
        .limit(PATTERN_SAMPLE)
        .subquery()
        for state in (ApprovalState.APPROVED, ApprovalState.REJECTED)
    ]
    both = union_all(*(select(*part.c) for part in per_state)).subquery()
    return select(both.c.id).order_by(both.c.decided_at.desc(), both.c.id.desc()).limit(PATTERN_SAMPLE)


def _lora_names(loras: Any) -> set[str]:
    """The LoRA files of one provenance's list (entries without a name are not counted)."""
    return {str(entry["name"]) for entry in loras or () if isinstance(entry, dict) and entry.get("name")}


def _ranked_label(by: Dimension, raw: Any) -> str:
    """A grouped raw value as the ranking names it: cfg in its 0.5 bucket."""
    if by == "cfg":
        return str(cfg_bucket(raw))
    return str(raw)


def _ranked(merged: dict[str, Tally]) -> list[RankedValue]:
    values = [
        RankedValue(
            value=value,
            approved=tally.approved,
            total=tally.total,
            rate=tally.rate,
            lower_bound=wilson_lower_bound(tally.approved, tally.total),
            confidence=confidence_for(tally.total),
            mean_score=tally.mean_score,
        )
        for value, tally in merged.items()
    ]
    # Best lower bound first; then more evidence; then a stable order by name.
    return sorted(values, key=lambda v: (-v.lower_bound, -v.total, v.value))


async def ranked_images(
    db: Database, scope: Scope, by: Dimension, value: str, *, state: str, limit: int
) -> list[ImageRef]:
    """The images behind one ranked value in one state, newest decision first. Invalid: a state other than
    approved/rejected, or a steps/cfg value that is not a number."""
    if state not in DRILL_STATES:
        raise Invalid("state", f"state must be one of {', '.join(DRILL_STATES)}")
    conditions = [*_conditions(scope), DatasetImage.approval_state == state]
    newest = (col(DatasetImage.decided_at).desc(), col(DatasetImage.id).desc())
    async with db.session() as session:
        if by == "lora":
            # The LoRA ranking's sample, filtered in Python (see _lora_rankings).
            query = select(DatasetImage.id, provenance_loras()).where(*conditions).order_by(*newest)
            sample = (await session.exec(query.limit(PATTERN_SAMPLE))).all()  # type: ignore[call-overload]
            ids = [image_id for image_id, loras in sample if value in _lora_names(loras)][:limit]
            conditions.append(col(DatasetImage.id).in_(ids))
        else:
            conditions.append(_value_condition(by, value))
        images = (await session.exec(select(DatasetImage).where(*conditions).order_by(*newest).limit(limit))).all()
    return [
        ImageRef(
            id=image.id,  # type: ignore[arg-type]
            project_id=image.project_id,
            character_id=image.character_id,
            file_path=image.file_path,
            content_hash=image.content_hash,
            state=image.approval_state,
            quality_score=image.quality_score,
            categories=list(image.rejection_categories),
            decided_at=image.decided_at,
        )
        for image in images
    ]


def _value_condition(by: Dimension, value: str) -> ColumnElement[bool]:
    """The condition for the images a ranked value stands for: steps and cfg match their whole range."""
    column = PARAMETERS[by]
    if by not in ("steps", "cfg"):
        return column == value  # type: ignore[no-any-return]
    try:
        number = float(value)
    except ValueError:
        raise Invalid("value", f"{by} is a number; '{value}' is not one") from None
    if by == "steps":  # whole steps: the one in [number - 0.5, number + 0.5) is number's, a half rounded up
        centre, half = number, 0.5
    else:
        centre, half = cfg_bucket(number), 0.25  # type: ignore[assignment]
    return (column >= centre - half) & (column < centre + half)  # type: ignore[no-any-return]


# --- why images fail ------------------------------------------------------------------------------------------


async def rejections(db: Database, scope: Scope, today: date) -> Rejections:
    """Rejected images in scope, their categories overall and per character (counted over the newest
    PATTERN_SAMPLE), and per day of the scope's days."""
    is_rejected = DatasetImage.approval_state == ApprovalState.REJECTED
    days = scope.days(today)
    per_day: dict[date, int] = {}
    async with db.session() as session:
        by_character = select(DatasetImage.character_id, func.count()).where(*_conditions(scope), is_rejected)
        counts = dict((await session.exec(by_character.group_by(DatasetImage.character_id))).all())
        if days:
            ranged = _conditions(replace(scope, since=days[0], until=days[-1]))
            facts = select(utc_day(DatasetImage.decided_at).label("day")).where(*ranged, is_rejected).subquery()
            rows = (await session.exec(select(facts.c.day, func.count()).group_by(facts.c.day))).all()
            per_day = {date.fromisoformat(text): int(count) for text, count in rows}
        refs = await _character_refs(session, counts)
    sample = await rejected_sample(db, scope)
    of_character: dict[int, list[RejectedFact]] = defaultdict(list)
    of_day: dict[date, list[RejectedFact]] = defaultdict(list)
    for fact in sample:
        of_character[fact.character_id].append(fact)
        of_day[fact.day].append(fact)
    return Rejections(
        rejected=sum(counts.values()),
        categories=category_counts(fact.categories for fact in sample),
        characters=[
            CharacterRejections(
                character=ref,
                rejected=counts[ref.id],
                categories=category_counts(fact.categories for fact in of_character[ref.id]),
            )
            for ref in refs
        ],
        days=[
            RejectionDay(
                day=day,
                rejected=per_day.get(day, 0),
                categories={c.category: c.count for c in category_counts(f.categories for f in of_day[day])},
            )
            for day in days
        ],
        sampled=len(sample),
    )


async def rejected_sample(db: Database, scope: Scope) -> list[RejectedFact]:
    """The newest PATTERN_SAMPLE rejected images in scope with their categories (JSON lists unnest differently
    on each database, so categories are counted in Python)."""
    query = (
        select(DatasetImage.character_id, utc_day(DatasetImage.decided_at), DatasetImage.rejection_categories)
        .where(*_conditions(scope), DatasetImage.approval_state == ApprovalState.REJECTED)
        .order_by(col(DatasetImage.decided_at).desc(), col(DatasetImage.id).desc())
        .limit(PATTERN_SAMPLE)
    )
    async with db.session() as session:
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
    return [RejectedFact(character_id, date.fromisoformat(day), list(names or ())) for character_id, day, names in rows]


def category_counts(lists: Iterable[Sequence[str]]) -> list[CategoryCount]:
    """How often each category was given, most frequent first (then by name). Duplicates are left out: they say
    nothing about the picture."""
    counts = Counter(name for names in lists for name in names if name != DUPLICATE)
    return [
        CategoryCount(category=name, label=CATEGORY_BY_NAME[name].label if name in CATEGORY_BY_NAME else name, count=n)
        for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]


# --- drift ----------------------------------------------------------------------------------------------------


async def drift(db: Database, learning: Learning, scope: Scope, window: int) -> Drift:
    """Each character's newest `window` decided images against all before them (its whole history: the range
    does not cut it), with its open drift alert; characters without two windows of decisions in `too_few`."""
    async with db.session() as session:
        characters = await _characters_in(session, scope)
        ids = [character.id for character in characters]
        query = (
            select(DriftAlert.character_id, DriftAlert.reason)
            .where(col(DriftAlert.resolved_at).is_(None), col(DriftAlert.character_id).in_(ids))
            .order_by(col(DriftAlert.detected_at))
        )
        alerts = dict((await session.exec(query)).all())  # the newest open alert wins
    if scope.character_ids:
        measures = await learning.recent_against_history(window, character_ids=ids)
    else:
        measures = await learning.recent_against_history(window, project_ids=sorted({c.project_id for c in characters}))
    refs = {character.id: _ref(character) for character in characters}
    rows = [
        DriftRow(
            character=refs[measure.character_id],
            recent_samples=measure.recent_samples,
            recent_approval=measure.recent_approval,
            recent_score=measure.recent_score,
            history_samples=measure.history_samples,
            history_approval=measure.history_approval,
            history_score=measure.history_score,
            alert=alerts.get(measure.character_id),
        )
        for measure in measures
        if measure.character_id in refs
    ]
    rows.sort(key=lambda row: (row.recent_approval - row.history_approval, row.character.name, row.character.id))
    measured = {row.character.id for row in rows}
    return Drift(window=window, rows=rows, too_few=[ref for ref in refs.values() if ref.id not in measured])


# --- across projects ------------------------------------------------------------------------------------------


async def cross_project(db: Database, scope: Scope) -> CrossProject:
    """For the species of the characters in scope, every character of that species in any project, with each
    checkpoint's approvals over the range."""
    async with db.session() as session:
        wanted = {species_word(c.appearance_data) for c in await _characters_in(session, scope)} - {None}
        if not wanted:
            return CrossProject(species=[], rows=[])
        everyone = (await session.exec(select(Character).where(col(Character.deleted_at).is_(None)))).all()
        kin = {c.id: (c, word) for c in everyone if (word := species_word(c.appearance_data)) in wanted}
        checkpoint = PARAMETERS["checkpoint"]
        query = (
            select(
                DatasetImage.character_id,
                checkpoint,
                # No scores: the comparison shows none, and this reads every kin character's facts.
                func.count(),
                count_state(DatasetImage.approval_state, ApprovalState.APPROVED),
            )
            .where(
                *reviewed_images(),
                *_range(scope),
                col(DatasetImage.character_id).in_(list(kin)),
                checkpoint.is_not(None),
            )
            .group_by(DatasetImage.character_id, checkpoint)
        )
        rows = (await session.exec(query)).all()  # type: ignore[call-overload]
        project_ids = {character.project_id for character, _ in kin.values()}
        names = dict(
            (await session.exec(select(Project.id, Project.name).where(col(Project.id).in_(project_ids)))).all()
        )
    found = []
    for character_id, name, total, approved in rows:
        character, word = kin[character_id]
        tally = Tally(total=int(total), approved=int(approved or 0))
        found.append(
            CrossProjectRow(
                species=word,  # type: ignore[arg-type]
                project_id=character.project_id,
                project_name=names[character.project_id],
                character=_ref(character),
                checkpoint=name,
                approved=tally.approved,
                total=tally.total,
                rate=tally.rate,
                lower_bound=wilson_lower_bound(tally.approved, tally.total),
                confidence=confidence_for(tally.total),
            )
        )
    found.sort(key=lambda r: (r.species, -r.lower_bound, -r.total, r.project_name, r.character.name, r.checkpoint))
    return CrossProject(species=sorted(wanted), rows=found)  # type: ignore[type-var]


def species_word(appearance: dict[str, Any] | None) -> str | None:
    """A character's species as the comparison takes it: the first word, lower case (the earlier system's rule);
    None without a species."""
    species = (appearance or {}).get("species")
    if isinstance(species, list):  # hand-edited appearance data may list it
        species = next((item for item in species if item), None)
    words = str(species or "").replace(",", " ").split()
    return words[0].lower() if words else None


# --- the scope as conditions ----------------------------------------------------------------------------------


def _conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """The reviewed facts in scope: its project, its characters, its range."""
    conditions = [*reviewed_images(), *_range(scope)]
    if scope.project_id is not None:
        conditions.append(col(DatasetImage.project_id) == scope.project_id)
    if scope.character_ids:
        conditions.append(col(DatasetImage.character_id).in_(scope.character_ids))
    return conditions


def _range(scope: Scope) -> list[ColumnElement[bool]]:
    conditions = []
    if scope.start is not None:
        conditions.append(col(DatasetImage.decided_at) >= scope.start)
    if scope.end is not None:
        conditions.append(col(DatasetImage.decided_at) < scope.end)
    return conditions


async def characters(db: Database, scope: Scope) -> list[CharacterRef]:
    """The characters a filter can name: the scope's project's (every project's without one), by name."""
    async with db.session() as session:
        return [_ref(character) for character in await _characters_in(session, Scope(project_id=scope.project_id))]


async def _characters_in(session: AsyncSession, scope: Scope) -> list[Character]:
    """The scope's characters (not deleted), by name: the named ones, or every one of its project(s)."""
    query = select(Character).where(col(Character.deleted_at).is_(None))
    if scope.project_id is not None:
        query = query.where(Character.project_id == scope.project_id)
    if scope.character_ids:
        query = query.where(col(Character.id).in_(scope.character_ids))
    return list((await session.exec(query.order_by(col(Character.name), col(Character.id)))).all())


async def _character_refs(session: AsyncSession, ids: Iterable[int]) -> list[CharacterRef]:
    """The characters with these ids, by name."""
    query = select(Character).where(col(Character.id).in_(list(ids))).order_by(col(Character.name), col(Character.id))
    return [_ref(character) for character in (await session.exec(query)).all()]


def _ref(character: Character) -> CharacterRef:
    return CharacterRef(id=character.id, name=character.name, project_id=character.project_id)  # type: ignore[arg-type]
