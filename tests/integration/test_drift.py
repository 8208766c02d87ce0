"""Drift alerts on SQLite and PostgreSQL: a character whose newest reviews fall below its history gets one open
alert (an event and a logged decision), recovers and the alert closes; too few reviews judge nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from services.autonomy import DriftDetected
from services.datasets.decisions import Verdict
from services.errors import NotFound
from studio.clock import DrivenClock
from studio.config import Settings
from studio.models import ApprovalState, DatasetImage
from studio.root import Studio
from tests.learning_helpers import Review, autonomous_character, reviews, seed_reviews

WINDOW = 20


@pytest.fixture
async def clock() -> DrivenClock:
    return DrivenClock()


@pytest.fixture
async def studio(settings: Settings, clock: DrivenClock) -> AsyncIterator[Studio]:
    built = Studio.build(settings.model_copy(update={"autopilot_tick_seconds": 3600}), clock=clock)
    built.migrate()
    await built.start()
    yield built
    await built.stop()


@pytest.fixture
def drifts(studio: Studio) -> list[DriftDetected]:
    seen: list[DriftDetected] = []

    async def record(event: DriftDetected) -> None:
        seen.append(event)

    studio.events.subscribe(DriftDetected, record)
    return seen


async def test_a_falling_character_gets_one_alert_that_closes_when_it_recovers(
    studio: Studio, clock: DrivenClock, drifts: list[DriftDetected]
) -> None:
    falling = await autonomous_character(studio)
    steady = await autonomous_character(studio, name="Princess Peach")
    await seed_reviews(studio, falling, reviews(WINDOW, 19), clock.now())
    await seed_reviews(studio, steady, reviews(WINDOW, 15), clock.now())
    clock.advance(3600)
    await seed_reviews(studio, falling, reviews(WINDOW, 8), clock.now())
    await seed_reviews(studio, steady, reviews(WINDOW, 15), clock.now())  # 75% as before
    drift = studio.autonomy.drift

    await drift.check([falling.project_id, steady.project_id])
    [alert] = await drift.alerts()
    assert (alert.character_id, alert.character_name, alert.recent_samples) == (falling.id, "Koopa King", WINDOW)
    assert (alert.recent_approval, alert.overall_approval) == (0.4, 0.95)
    assert alert.reason == "40% of the last 20 images approved, against 95% of the 20 before"
    assert alert.detected_at == clock.now()
    assert [(e.character_id, e.resolved, e.reason) for e in drifts] == [(falling.id, False, alert.reason)]
    [decision] = await studio.autonomy.log.list(character_id=falling.id, loops=["drift"])
    assert (decision.action, decision.outcome, decision.reason) == ("alert", "acted", f"Koopa King: {alert.reason}")

    await drift.check([falling.project_id])  # still falling: the open alert stays the only one
    assert [a.id for a in await drift.alerts(falling.project_id)] == [alert.id]
    assert len(drifts) == 1

    clock.advance(3600)
    await seed_reviews(studio, falling, reviews(WINDOW, WINDOW), clock.now())
    await drift.check(None)  # every project with autonomy on
    assert await drift.alerts() == []
    [closed] = await drift.alerts(falling.project_id, include_resolved=True)
    assert (closed.id, closed.resolved_at) == (alert.id, clock.now())
    assert [(e.resolved, e.reason) for e in drifts[1:]] == [(True, "100% of the last 20 images approved, 68% before")]
    assert [d.action for d in await studio.autonomy.log.list(character_id=falling.id, loops=["drift"])] == [
        "recover",
        "alert",
    ]


async def test_the_floor_and_a_falling_score_alert_too(studio: Studio, clock: DrivenClock) -> None:
    always_low = await autonomous_character(studio)
    scored = await autonomous_character(studio, name="Princess Peach")
    await seed_reviews(studio, scored, reviews(WINDOW, WINDOW, score=0.9), clock.now())
    for _ in range(2):  # 50% all along: no drop, but under the floor
        await seed_reviews(studio, always_low, reviews(WINDOW, WINDOW // 2), clock.now())
        clock.advance(60)
    await seed_reviews(studio, scored, reviews(WINDOW, WINDOW, score=0.6), clock.now())

    await studio.autonomy.drift.check([always_low.project_id, scored.project_id])
    reasons = {a.character_name: a.reason for a in await studio.autonomy.drift.alerts()}
    assert reasons == {
        "Koopa King": "50% of the last 20 images approved (below 55%)",
        "Princess Peach": "mean score 0.60 against 0.90 before",
    }


async def test_too_few_reviews_or_the_studios_own_checks_judge_nothing(studio: Studio, clock: DrivenClock) -> None:
    character = await autonomous_character(studio)
    # History shorter than the window: not judged, however bad the recent images are.
    await seed_reviews(studio, character, reviews(WINDOW - 1, WINDOW - 1), clock.now())
    clock.advance(60)
    await seed_reviews(studio, character, reviews(WINDOW, 0), clock.now())
    # Triage rejections and uploads are not generation results.
    await seed_reviews(studio, character, [Review(approved=False, decided_by="triage")] * 5, clock.now())
    await seed_reviews(studio, character, [Review(approved=False, source="upload")] * 5, clock.now())
    await studio.autonomy.drift.check([character.project_id])
    assert await studio.autonomy.drift.alerts(character.project_id) == []

    disabled = await autonomous_character(studio, name="Princess Peach", enabled=False)
    await seed_reviews(studio, disabled, reviews(WINDOW, WINDOW), clock.now())
    clock.advance(60)
    await seed_reviews(studio, disabled, reviews(WINDOW, 0), clock.now())
    await studio.autonomy.drift.check(None)  # autonomy off: not checked
    assert await studio.autonomy.drift.alerts() == []
    await studio.autonomy.drift.check([disabled.project_id])  # named: checked
    assert [a.character_name for a in await studio.autonomy.drift.alerts()] == ["Princess Peach"]
    with pytest.raises(NotFound):
        await studio.autonomy.drift.alerts(999_999)


async def test_decisions_and_undos_after_a_pass_are_measured_again(studio: Studio, clock: DrivenClock) -> None:
    """Later passes measure only characters with new decisions: a decision (a new row) and an undo (no new row,
    an event) both count."""
    character = await autonomous_character(studio)
    await seed_reviews(studio, character, reviews(WINDOW, WINDOW), clock.now())
    clock.advance(60)
    await seed_reviews(studio, character, reviews(WINDOW, 8), clock.now())
    drift = studio.autonomy.drift
    await drift.check([character.project_id])
    assert [a.recent_approval for a in await drift.alerts()] == [0.4]

    async with studio.db.session() as session:
        query = select(DatasetImage.id).where(
            DatasetImage.character_id == character.id, DatasetImage.approval_state == ApprovalState.REJECTED
        )
        rejected = list((await session.exec(query)).all())
    clock.advance(60)
    approvals = [await studio.decisions.decide(i, Verdict(ApprovalState.APPROVED), "aiko") for i in rejected]  # type: ignore[arg-type]
    await drift.check([character.project_id])
    assert await drift.alerts() == []

    clock.advance(60)
    for _image, decision in approvals:
        await studio.decisions.undo(decision.id, "aiko")  # type: ignore[arg-type]
    await drift.check([character.project_id])
    assert [a.recent_approval for a in await drift.alerts()] == [0.4]
