"""Learning over a seeded review history, on SQLite and PostgreSQL: ranked parameter sets, the cascade taking a
recommendation only at the configured confidence, rejection patterns, checkpoint rankings, the quality trend,
and the REST routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from services.analytics import Scope
from services.datasets.store import GENERATED_SOURCE, NewImage
from services.errors import Invalid, NotFound
from services.prompts import LearnedParams
from studio.api.errors import install_error_handlers
from studio.api.learning import learning_router
from studio.auth import AccessGuard
from studio.clock import DrivenClock
from studio.config import Settings
from studio.models import Character, DatasetImage
from studio.root import Studio
from tests.bible_helpers import png
from tests.learning_helpers import CHECKPOINT, Review, autonomous_character, reviews, seed_reviews

OTHER_CHECKPOINT = "counterfeitV30.safetensors"
TRUSTED_SOURCE = "recommended by learning (medium confidence, 8 of 10 reviewed images approved)"


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


async def _seeded(studio: Studio, clock: DrivenClock, *, enabled: bool = True) -> Character:
    """Set A (cfg 5, euler_ancestral): 8 of 10 approved. Set B (cfg 7, dpmpp_2m karras): 3 of 3, a higher raw rate
    on less evidence. Around them: what must not count (triage and dedup verdicts, uploads) and another checkpoint.
    """
    character = await autonomous_character(studio, enabled=enabled)
    history = [
        *reviews(9, 7, cfg=5.0),
        Review(approved=True, cfg=5.2),  # rounds into set A's cfg bucket
        *reviews(3, 3, cfg=7.0, steps=30, sampler="dpmpp_2m", scheduler="karras"),
        *reviews(4, 0, cfg=5.0, decided_by="triage", categories=("bad_quality",)),
        Review(approved=False, cfg=5.0, decided_by="dedup", categories=("duplicate",)),
        *reviews(5, 0, cfg=5.0, source="upload", categories=("wrong_style",)),
        Review(approved=True, checkpoint=OTHER_CHECKPOINT, cfg=6.0),
    ]
    await seed_reviews(studio, character, history, clock.now())
    return character


async def test_sets_rank_by_the_lower_bound_of_their_approval_rate_not_the_raw_rate(
    studio: Studio, clock: DrivenClock
) -> None:
    character = await _seeded(studio, clock)
    result = await studio.autonomy.learning.recommendations(character.id, CHECKPOINT)  # type: ignore[arg-type]
    assert [(s.cfg, s.sampler, s.approved, s.total, s.confidence) for s in result.sets] == [
        (5.0, "euler_ancestral", 8, 10, "medium"),
        (7.0, "dpmpp_2m", 3, 3, "low"),
    ]
    best, lucky = result.sets
    assert lucky.rate == 1.0 > best.rate == 0.8
    assert best.lower_bound == pytest.approx(0.4902, abs=1e-4)
    assert lucky.lower_bound == pytest.approx(0.4385, abs=1e-4)
    assert result.reviewed == 13
    assert result.recommended == LearnedParams(
        cfg=5.0, steps=28, sampler="euler_ancestral", scheduler="normal", confidence="medium", samples=10, approved=8
    )

    everything = await studio.autonomy.learning.recommendations(character.id)  # type: ignore[arg-type]
    assert [s.checkpoint for s in everything.sets] == [CHECKPOINT, CHECKPOINT, OTHER_CHECKPOINT]
    assert await studio.autonomy.learning.learned_params(character.id, OTHER_CHECKPOINT) == LearnedParams(  # type: ignore[arg-type]
        cfg=6.0, steps=28, sampler="euler_ancestral", scheduler="normal", confidence="low", samples=1, approved=1
    )
    assert await studio.autonomy.learning.learned_params(character.id, "never-used.safetensors") is None  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await studio.autonomy.learning.recommendations(999_999)


async def test_the_prompt_preview_takes_a_recommendation_only_at_the_confidence_the_settings_ask_for(
    studio: Studio, clock: DrivenClock
) -> None:
    character = await _seeded(studio, clock)
    plan = await studio.characters.prompt_preview(character.id)  # type: ignore[arg-type]
    assert (plan.params.cfg, plan.params.steps, plan.params.sampler, plan.params.scheduler) == (
        5.0,
        28,
        "euler_ancestral",
        "normal",
    )
    assert {plan.params.sources[name] for name in ("cfg", "steps", "sampler", "scheduler")} == {TRUSTED_SOURCE}
    assert not plan.explained("params", "skipped")

    studio.settings.learning_min_confidence = "high"  # live: the next plan reads it
    plan = await studio.characters.prompt_preview(character.id)  # type: ignore[arg-type]
    # The style's values (noob-vpred: cfg 4.5, 30 steps, Euler), and why the recommendation was left out.
    assert (plan.params.cfg, plan.params.steps, plan.params.sampler) == (4.5, 30, "euler")
    assert plan.params.sources["cfg"] == "style noob-vpred"
    assert [e.because for e in plan.explained("params", "skipped")] == [
        f"{TRUSTED_SOURCE} is not used: the settings ask for high confidence (learning_min_confidence)"
    ]

    studio.settings.learning_min_confidence = "low"
    three = await autonomous_character(studio, name="Bowser Jr")
    await seed_reviews(studio, three, reviews(3, 3, cfg=9.0), clock.now())
    plan = await studio.characters.prompt_preview(three.id)  # type: ignore[arg-type]
    assert plan.params.cfg == 9.0
    assert plan.params.sources["cfg"] == "recommended by learning (low confidence, 3 of 3 reviewed images approved)"


async def test_a_project_without_autonomy_generates_without_learned_parameters(
    studio: Studio, clock: DrivenClock
) -> None:
    character = await _seeded(studio, clock, enabled=False)
    plan = await studio.characters.prompt_preview(character.id)  # type: ignore[arg-type]
    assert plan.params.cfg == 4.5
    assert plan.params.sources["cfg"] == "style noob-vpred"


async def test_rejection_patterns_and_checkpoint_rankings(studio: Studio, clock: DrivenClock) -> None:
    character = await autonomous_character(studio)
    history = [
        *reviews(3, 0, categories=("wrong_pose", "bad_anatomy")),
        *reviews(2, 0, categories=("wrong_pose",)),
        Review(approved=False, categories=("duplicate",), decided_by="vision"),
        Review(approved=False, categories=("bad_quality",), decided_by="triage"),
        *reviews(6, 6, checkpoint=OTHER_CHECKPOINT, score=0.8),
    ]
    await seed_reviews(studio, character, history, clock.now())
    learning = studio.autonomy.learning
    patterns = await learning.rejection_patterns(character_id=character.id)
    assert [(p.category, p.label, p.count) for p in patterns] == [
        ("wrong_pose", "Wrong pose", 5),
        ("bad_anatomy", "Bad anatomy", 3),
    ]
    assert patterns[0].share == pytest.approx(5 / 6)
    assert await learning.rejection_patterns(project_id=character.project_id, limit=1) == patterns[:1]

    # The checkpoint ranking learning reports is the analytics one, for the project.
    rankings = (await studio.analytics.rankings(Scope(project_id=character.project_id), "checkpoint")).values
    assert [(r.value, r.approved, r.total, r.confidence) for r in rankings] == [
        (OTHER_CHECKPOINT, 6, 6, "low"),
        (CHECKPOINT, 0, 6, "low"),
    ]
    assert rankings[0].mean_score == pytest.approx(0.8)
    assert rankings[1].mean_score is None
    with pytest.raises(NotFound):
        await studio.analytics.rankings(Scope(project_id=999_999), "checkpoint")
    with pytest.raises(NotFound):
        await learning.rejection_patterns(character_id=999_999)


async def test_quality_trend_counts_per_utc_day_up_to_the_clocks_today(studio: Studio, clock: DrivenClock) -> None:
    character = await autonomous_character(studio)
    start = clock.now()  # 2026-01-05 09:00 UTC
    await seed_reviews(studio, character, [Review(approved=True, score=0.9)], start - timedelta(days=5))  # too old
    await seed_reviews(studio, character, reviews(2, 2, score=0.8), start)
    clock.advance(2 * 86_400 + 14 * 3600)  # 2026-01-07 23:00
    await seed_reviews(
        studio, character, [Review(approved=True, score=0.7), Review(approved=False, score=0.3)], clock.now()
    )
    today = clock.now().date()
    trend = (await studio.analytics.quality_trend(last_days(3, today, character_ids=(character.id,)))).total
    assert [(str(d.day), d.approved, d.rejected) for d in trend] == [
        ("2026-01-05", 2, 0),
        ("2026-01-06", 0, 0),
        ("2026-01-07", 1, 1),
    ]
    assert trend[0].mean_score == pytest.approx(0.8)
    assert trend[1].mean_score is None
    assert trend[2].mean_score == pytest.approx(0.5)

    clock.advance(3600)  # midnight: a new day with nothing yet
    today = clock.now().date()
    project_trend = (await studio.analytics.quality_trend(last_days(2, today, project_id=character.project_id))).total
    assert [(str(d.day), d.approved, d.rejected) for d in project_trend] == [("2026-01-07", 1, 1), ("2026-01-08", 0, 0)]
    with pytest.raises(Invalid):
        await studio.analytics.quality_trend(last_days(0, today, project_id=character.project_id))


def last_days(days: int, today: date, **scope: Any) -> Scope:
    """The `days` UTC days up to `today` (0 days: a range that ends before it starts)."""
    return Scope(since=today - timedelta(days=days - 1), until=today, **scope)


async def test_rest_recommendations_and_drift(studio: Studio, clock: DrivenClock) -> None:
    character = await _seeded(studio, clock)
    # Only these routes, behind the real guard with the API's error handling (building the whole API takes
    # seconds; its contract is test_api_contract's).
    api = FastAPI()
    install_error_handlers(api)
    api.include_router(learning_router(studio))
    guarded = AccessGuard(
        Starlette(routes=[Mount("/api", api)]),
        policy=studio.access,
        tokens=studio.tokens,
        accounts=studio.accounts,
        session_principal=lambda _scope: None,
        socket_of_public_page=lambda _scope: False,
    )
    transport = httpx.ASGITransport(app=guarded, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
        url = f"/api/characters/{character.id}/recommendations"
        response = await client.get(url, params={"checkpoint": CHECKPOINT})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["recommended"] == {
            "checkpoint": CHECKPOINT,
            "cfg": 5.0,
            "steps": 28,
            "sampler": "euler_ancestral",
            "scheduler": "normal",
            "confidence": "medium",
            "reviewed": 10,
            "approved": 8,
            "used": True,
        }
        assert [(s["cfg"], s["approved"], s["total"]) for s in body["sets"]] == [(5.0, 8, 10), (7.0, 3, 3)]
        assert body["min_confidence"] == "medium"
        assert body["rejection_patterns"] == []

        assert (await client.get("/api/characters/999999/recommendations")).status_code == 404
        assert (await client.get("/api/characters/0/recommendations")).status_code == 422

        drift = await client.get("/api/drift", params={"project_id": character.project_id})
        assert drift.status_code == 200
        assert drift.json() == []
        assert (await client.get("/api/drift", params={"project_id": 999_999})).status_code == 404
        assert (await client.get("/api/drift", params={"include_resolved": "maybe"})).status_code == 422

    paths = api.openapi()["paths"]
    assert paths["/characters/{character_id}/recommendations"]["get"]["description"].startswith("Its generation")
    assert set(paths["/drift"]["get"]["responses"]) == {"200", "404", "422"}


async def test_an_admitted_generated_image_carries_its_parameters_as_columns(studio: Studio) -> None:
    """Learning groups on the image's own columns: admission copies them out of the provenance (steps whole)."""
    character = await autonomous_character(studio)
    provenance = {"checkpoint": CHECKPOINT, "sampler": "euler", "scheduler": "karras", "steps": 27.5, "cfg": 6.8}
    admitted = await studio.dataset_store.add(
        character, NewImage(png(), GENERATED_SOURCE, "comfyui:p1/out.png", {**provenance, "seed": 7}), "aiko"
    )
    async with studio.db.session() as session:
        image = await session.get(DatasetImage, admitted.image.id)
    assert image is not None
    assert (image.checkpoint, image.sampler, image.scheduler, image.steps, image.cfg) == (
        CHECKPOINT,
        "euler",
        "karras",
        28,
        6.8,
    )
    assert image.provenance["seed"] == 7  # the provenance stays the whole record
