"""The reviewed-image reports over a seeded history with hand-computed answers, on SQLite and PostgreSQL: quality
per UTC day (a decision at 23:30 and one at 00:30 fall on two days), rankings by checkpoint, steps, cfg and LoRA
in lower-bound order, the images behind a ranked value, rejection categories, drift with its open alert, and
characters of one species compared across projects."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest

from services.analytics import Scope
from services.errors import Invalid, NotFound
from studio.clock import DrivenClock
from studio.config import Settings
from studio.models import Character, DriftAlert
from studio.root import Studio
from tests.bible_helpers import PEACH
from tests.learning_helpers import CHECKPOINT, Review, autonomous_character, reviews, seed_reviews

COUNTERFEIT = "counterfeitV30.safetensors"
BAD = "bad.safetensors"
V1 = [{"name": "koopa_v1.safetensors", "strength_model": 0.8, "strength_clip": 0.8}]
V2 = [{"name": "koopa_v2.safetensors", "strength_model": 0.8, "strength_clip": 0.8}]
DAY_3, DAY_4, DAY_5 = date(2026, 1, 3), date(2026, 1, 4), date(2026, 1, 5)
THREE_DAYS = (DAY_3, DAY_5)


@dataclass(frozen=True)
class History:
    koopa: Character
    peach: Character
    bowser: Character  # another project's turtle


@pytest.fixture
async def clock() -> DrivenClock:
    return DrivenClock()  # 2026-01-05 09:00 UTC


@pytest.fixture
async def studio(settings: Settings, clock: DrivenClock) -> AsyncIterator[Studio]:
    changes = {"autopilot_tick_seconds": 3600, "drift_window": 5}
    built = Studio.build(settings.model_copy(update=changes), clock=clock)
    built.migrate()
    await built.start()
    yield built
    await built.stop()


async def _history(studio: Studio) -> History:
    """Koopa King: 19 reviewed images over three days (checkpoints 8 of 10, 3 of 3, 1 of 6), Princess Peach 2,
    and in another project Bowser Jr (a turtle too) 2; around them what must not count."""
    koopa = await autonomous_character(studio, enabled=False)
    peach = await studio.characters.create(koopa.project_id, PEACH, "local")
    bowser = await autonomous_character(studio, name="Bowser Jr", enabled=False)
    async with studio.db.session() as session:  # the species compares on its first word, in any case
        stored = await session.get(Character, bowser.id)
        stored.appearance_data = {**stored.appearance_data, "species": "Turtle, koopa"}  # type: ignore[union-attr]
    await seed_reviews(
        studio,
        koopa,
        [*reviews(4, 4, score=0.8), Review(approved=False, score=0.8, categories=("wrong_pose",))],
        datetime(2026, 1, 3, 23, 30, tzinfo=UTC),
    )
    await seed_reviews(
        studio,
        koopa,
        [
            *reviews(4, 4, score=0.6, extra={"loras": V2}),
            Review(approved=False, score=0.6, categories=("wrong_pose", "bad_anatomy"), extra={"loras": V2}),
            Review(approved=True, checkpoint=BAD, cfg=7.2, score=0.2, extra={"loras": V1}),
            *reviews(3, 0, checkpoint=BAD, cfg=7.2, score=0.2, categories=("bad_anatomy",), extra={"loras": V1}),
            *reviews(2, 0, checkpoint=BAD, cfg=7.2, score=0.2, categories=("duplicate",), extra={"loras": V1}),
            Review(approved=False, checkpoint=BAD, categories=("bad_quality",), decided_by="triage"),
            Review(approved=False, checkpoint=BAD, categories=("wrong_style",), source="upload"),
        ],
        datetime(2026, 1, 4, 0, 30, tzinfo=UTC),
    )
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    await seed_reviews(studio, koopa, reviews(3, 3, checkpoint=COUNTERFEIT, cfg=6.8, steps=30, score=0.9), at)
    await seed_reviews(studio, peach, [Review(approved=True), Review(approved=False, categories=("wrong_style",))], at)
    await seed_reviews(studio, bowser, reviews(2, 2, checkpoint=COUNTERFEIT), at)
    return History(koopa=koopa, peach=peach, bowser=bowser)


def _scope(history: History, *, koopa_only: bool = False, days: tuple[date, date] = THREE_DAYS) -> Scope:
    characters = (history.koopa.id,) if koopa_only else ()
    return Scope(project_id=history.koopa.project_id, character_ids=characters, since=days[0], until=days[1])  # type: ignore[arg-type]


async def test_quality_per_utc_day_in_total_and_per_character(studio: Studio) -> None:
    history = await _history(studio)
    trend = await studio.analytics.quality_trend(_scope(history))
    assert trend.days == [DAY_3, DAY_4, DAY_5]
    assert [(d.approved, d.rejected) for d in trend.total] == [(4, 1), (5, 6), (4, 1)]
    assert [d.mean_score for d in trend.total] == pytest.approx([0.8, (5 * 0.6 + 6 * 0.2) / 11, 0.9])
    assert [t.character.name for t in trend.characters] == ["Koopa King", "Princess Peach"]
    koopa, peach = trend.characters
    assert [(d.approved, d.rejected) for d in koopa.days] == [(4, 1), (5, 6), (3, 0)]
    assert [(d.approved, d.rejected, d.mean_score) for d in peach.days] == [(0, 0, None), (0, 0, None), (1, 1, None)]
    assert trend.csv_table()[1][0] == ["2026-01-03", "", "all", 4, 1, pytest.approx(0.8)]

    # Open ranges: the 30 days up to the clock's today; a range ending before the history is empty.
    recent = await studio.analytics.quality_trend(Scope(project_id=history.koopa.project_id))
    assert (len(recent.days), recent.days[-1]) == (30, DAY_5)
    assert sum(d.approved for d in recent.total) == 13
    empty = await studio.analytics.quality_trend(_scope(history, days=(date(2025, 12, 1), date(2025, 12, 31))))
    assert (len(empty.days), empty.characters, {d.approved for d in empty.total}) == (31, [], {0})


async def test_rankings_order_by_the_lower_bound_with_sample_sizes(studio: Studio) -> None:
    history = await _history(studio)
    scope = _scope(history, koopa_only=True)
    by_checkpoint = await studio.analytics.rankings(scope, "checkpoint")
    assert [(v.value, v.approved, v.total, v.confidence) for v in by_checkpoint.values] == [
        (CHECKPOINT, 8, 10, "medium"),
        (COUNTERFEIT, 3, 3, "low"),
        (BAD, 1, 6, "low"),
    ]
    assert [v.lower_bound for v in by_checkpoint.values[:2]] == pytest.approx([0.4902, 0.4385], abs=1e-4)
    assert by_checkpoint.values[0].mean_score == pytest.approx(0.7)
    assert by_checkpoint.reviewed == 19

    # 3 of 3 at 30 steps beats 9 of 16 at 28 (lower bounds 0.44 and 0.33); cfg 6.8 and 7.2 share the 7.0 bucket.
    steps = await studio.analytics.rankings(scope, "steps")
    assert [(v.value, v.approved, v.total) for v in steps.values] == [("30", 3, 3), ("28", 9, 16)]
    cfg = await studio.analytics.rankings(scope, "cfg")
    assert [(v.value, v.approved, v.total) for v in cfg.values] == [("5.0", 8, 10), ("7.0", 4, 9)]
    loras = await studio.analytics.rankings(scope, "lora")
    assert [(v.value, v.approved, v.total) for v in loras.values] == [
        ("koopa_v2.safetensors", 4, 5),
        ("koopa_v1.safetensors", 1, 6),
    ]
    assert loras.reviewed == 11
    assert (await studio.analytics.rankings(_scope(history, days=(DAY_5, DAY_5)), "sampler")).values[0].total == 5

    with pytest.raises(NotFound):
        await studio.analytics.rankings(Scope(project_id=999_999), "checkpoint")
    with pytest.raises(Invalid):
        await studio.analytics.rankings(Scope(since=DAY_5, until=DAY_3), "checkpoint")


async def test_the_images_behind_a_ranked_value_newest_first(studio: Studio) -> None:
    history = await _history(studio)
    scope = _scope(history, koopa_only=True)
    rejected = await studio.analytics.ranked_images(scope, "checkpoint", BAD)
    assert len(rejected) == 5
    assert [image.id for image in rejected] == sorted((image.id for image in rejected), reverse=True)
    assert [image.categories for image in rejected] == [["duplicate"]] * 2 + [["bad_anatomy"]] * 3
    assert {(image.state, image.character_id) for image in rejected} == {("rejected", history.koopa.id)}
    assert len(await studio.analytics.ranked_images(scope, "checkpoint", BAD, limit=2)) == 2

    approved_at_7 = await studio.analytics.ranked_images(scope, "cfg", "7.0", state="approved")
    assert [image.decided_at for image in approved_at_7].count(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == 3
    assert len(approved_at_7) == 4
    assert len(await studio.analytics.ranked_images(scope, "steps", "30", state="approved")) == 3
    assert len(await studio.analytics.ranked_images(scope, "lora", "koopa_v1.safetensors")) == 5
    assert await studio.analytics.ranked_images(scope, "lora", "never.safetensors") == []
    with pytest.raises(Invalid):
        await studio.analytics.ranked_images(scope, "cfg", "seven")
    with pytest.raises(Invalid):
        await studio.analytics.ranked_images(scope, "checkpoint", BAD, state="pending")


async def test_rejection_categories_overall_per_character_and_per_day(studio: Studio) -> None:
    history = await _history(studio)
    report = await studio.analytics.rejections(_scope(history))
    assert (report.rejected, report.sampled) == (8, 8)
    assert [(c.category, c.label, c.count) for c in report.categories] == [
        ("bad_anatomy", "Bad anatomy", 4),
        ("wrong_pose", "Wrong pose", 2),
        ("wrong_style", "Wrong style", 1),
    ]
    koopa, peach = report.characters
    assert (koopa.character.id, koopa.rejected) == (history.koopa.id, 7)
    assert [(c.category, c.count) for c in koopa.categories] == [("bad_anatomy", 4), ("wrong_pose", 2)]
    assert [(c.category, c.count) for c in peach.categories] == [("wrong_style", 1)]
    assert [(d.day, d.rejected, d.categories) for d in report.days] == [
        (DAY_3, 1, {"wrong_pose": 1}),
        (DAY_4, 6, {"bad_anatomy": 4, "wrong_pose": 1}),
        (DAY_5, 1, {"wrong_style": 1}),
    ]
    header, rows = report.csv_table()
    assert header == ["character_id", "character", "category", "label", "count"]
    assert rows[0] == ["", "all", "bad_anatomy", "Bad anatomy", 4]


async def test_drift_compares_each_characters_newest_window_with_its_history(studio: Studio) -> None:
    history = await _history(studio)
    async with studio.db.session() as session:
        for reason, resolved in (("recovered long ago", datetime(2026, 1, 1, tzinfo=UTC)), ("approval fell", None)):
            session.add(
                DriftAlert(
                    project_id=history.koopa.project_id,
                    character_id=history.koopa.id,  # type: ignore[arg-type]
                    recent_approval=0.6,
                    overall_approval=0.64,
                    recent_samples=5,
                    reason=reason,
                    detected_at=datetime(2025, 12, 31, tzinfo=UTC) if resolved else datetime(2026, 1, 5, tzinfo=UTC),
                    resolved_at=resolved,
                )
            )
    report = await studio.analytics.drift(Scope(project_id=history.koopa.project_id))
    assert report.window == 5
    (row,) = report.rows
    # The newest five: three approved at 01-05, then the two newest of the bad checkpoint's rejections.
    assert (row.character.id, row.recent_samples, row.recent_approval) == (history.koopa.id, 5, 0.6)
    assert (row.history_samples, row.history_approval) == (14, pytest.approx(9 / 14))
    assert row.alert == "approval fell"
    assert [ref.name for ref in report.too_few] == ["Princess Peach"]
    assert (await studio.analytics.drift(Scope(character_ids=(history.bowser.id,)))).rows == []  # type: ignore[arg-type]


async def test_characters_of_one_species_are_compared_across_projects(studio: Studio) -> None:
    history = await _history(studio)
    report = await studio.analytics.cross_project(_scope(history, koopa_only=True))
    assert report.species == ["turtle"]
    assert [(r.character.name, r.checkpoint, r.approved, r.total) for r in report.rows] == [
        ("Koopa King", CHECKPOINT, 8, 10),
        ("Koopa King", COUNTERFEIT, 3, 3),
        ("Bowser Jr", COUNTERFEIT, 2, 2),
        ("Koopa King", BAD, 1, 6),
    ]
    assert report.rows[2].project_id == history.bowser.project_id != history.koopa.project_id
    assert report.rows[2].lower_bound == pytest.approx(0.3424, abs=1e-4)

    one_day = await studio.analytics.cross_project(_scope(history, days=(DAY_5, DAY_5)))
    assert sorted(one_day.species) == ["human", "turtle"]
    assert [(r.species, r.character.name, r.total) for r in one_day.rows] == [
        ("human", "Princess Peach", 2),
        ("turtle", "Koopa King", 3),
        ("turtle", "Bowser Jr", 2),
    ]
