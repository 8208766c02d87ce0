"""Autopilot benchmark: one autopilot pass (drift, then the orchestrator; replenishment runs inside the orchestrator's
training-data phase) over 50 projects x 10 characters with 100,000 generated images of review history, on SQLite and
on PostgreSQL. Goal: p50 <= 200 ms per pass on each.

Seeding (not timed, bulk inserts): 50 projects drawn with one style, 10 characters each, 200 generated images per
character (provenance with checkpoint, sampler, scheduler, steps and cfg; approved, rejected with categories, or
pending) with a review decision for each decided one, 2,000 finished autopilot jobs and 20,000 decisions of
history. Every project's autopilot has autonomy and the orchestrator on. Eight characters of each project are past
their target with an active LoRA (ready); two aim higher, have no LoRA and are held by a replenishment guard (their
images wait for review), so each project is blocked by its characters: every pass reads every character's standing
and gates, drift for every character, and launches nothing (no ComfyUI device is set, so a launch would fail and
pause the project, after which passes would skip it). That is the steady state a running studio spends most
passes in. The first pass after seeding is a warm-up (it writes the pipeline states and logs each verdict once);
the timed passes follow it, the driven clock moved a minute before each so cooldowns and daily limits are read as
a running studio reads them.

PostgreSQL runs on a throwaway database of the server STUDIO_TEST_POSTGRES_URL names; without one, its numbers
say why they are missing. BENCH_AUTOPILOT_PASSES changes the number of timed passes (default 20).

Prints one JSON line: {"projects": 50, "characters": 500, "images": 100000, "passes": 20, "sqlite": {"warmup_ms":
..., "p50_ms": ..., "p95_ms": ..., "max_ms": ..., "decisions_logged": ..., "jobs_queued": ...}, "postgresql": {...}}.
Printed, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from services.bible.schemas import StyleDraft
from studio.clock import DrivenClock
from studio.config import Settings
from studio.models import (
    AutonomyDecision,
    Autopilot,
    Character,
    CharacterLora,
    CharacterTarget,
    DatasetImage,
    Job,
    Project,
    ReviewDecision,
)
from studio.root import Studio
from tests.bench.seeding import on_scratch_postgres

PROJECTS = 50
CHARACTERS = 10  # per project
IMAGES = 100_000
JOBS = 2_000
DECISIONS = 20_000
PASSES = int(os.environ.get("BENCH_AUTOPILOT_PASSES", "20"))
TARGET = 40  # the projects' default target: a character's ~120 approved images pass it
# The last HELD characters of each project aim higher (their own target) and have no LoRA yet: they stay in their
# training-data phase, held by the pending-review guard (~20 of their images wait for review), so the project is
# blocked by its characters and every pass reads every gate without launching anything.
HELD = 2
HELD_TARGET = 500
CHECKPOINTS = ("noobaiXL_v10.safetensors", "illustriousXL_v01.safetensors")
SAMPLERS = (("euler_ancestral", "normal"), ("dpmpp_2m", "karras"))
CATEGORIES = ("wrong_appearance", "bad_quality", "bad_anatomy", "wrong_pose", "not_solo")
START = datetime.fromisoformat("2026-01-05T09:00:00+00:00")
_BATCH = 20_000


def _table(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def _insert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        conn.execute(sa.insert(_table(model)), rows[start : start + _BATCH])


def _ids(conn: Connection, model: Any, order: Any) -> list[int]:
    return list(conn.execute(sa.select(_table(model).c.id).order_by(order)).scalars())


def _seed(studio: Studio) -> None:
    """Everything the pass reads, in a few statements per table."""
    rng = random.Random(11)
    history = START - timedelta(days=30)
    with studio.db.sync_engine.begin() as conn:
        _insert(
            conn,
            Project,
            [
                {
                    "name": f"Bench {p}",
                    "description": "",
                    "genre": "",
                    "premise": "",
                    "content_rating": "PG-13",
                    "default_style": "noob",
                    "frame_width": 1280,
                    "frame_height": 720,
                    "frame_rate": 24.0,
                    "tag_blacklist": [],
                    "created_at": history,
                    "updated_at": history,
                }
                for p in range(PROJECTS)
            ],
        )
        projects = _ids(conn, Project, _table(Project).c.id)
        _insert(
            conn,
            Character,
            [
                {
                    "project_id": project_id,
                    "name": f"Character {p}-{c}",
                    "slug": f"character_{c}",
                    "design_prompt": "",
                    "appearance_data": {"species": "human"},
                    "voice_profile": {},
                    "trigger_word": f"bench{p}c{c}",
                    "tag_blacklist": [],
                    "created_at": history,
                    "updated_at": history,
                }
                for p, project_id in enumerate(projects)
                for c in range(CHARACTERS)
            ],
        )
        characters = list(
            conn.execute(
                sa.select(_table(Character).c.id, _table(Character).c.project_id, _table(Character).c.slug)
            ).all()
        )
        held = [(cid, pid) for cid, pid, slug in characters if int(slug.rsplit("_", 1)[1]) >= CHARACTERS - HELD]
        characters = [(cid, pid) for cid, pid, _slug in characters]
        _insert(
            conn,
            Autopilot,
            [
                {
                    "project_id": project_id,
                    "enabled": True,
                    "auto_correction": False,
                    "orchestrator": True,
                    "default_target": TARGET,
                    "updated_by": "bench",
                    "updated_at": history,
                }
                for project_id in projects
            ],
        )
        _insert(
            conn,
            CharacterLora,
            [
                {
                    "character_id": character_id,
                    "file_name": f"bench/character_{character_id}.safetensors",
                    "family": "sdxl",
                    "family_label": "NoobAI-XL",
                    "trigger_word": f"bench{character_id}",
                    "weight": 0.8,
                    "file_metadata": {},
                    "active": True,
                    "created_at": history,
                }
                for character_id, project_id in characters
                if (character_id, project_id) not in held
            ],
        )
        _insert(conn, CharacterTarget, [{"character_id": cid, "target": HELD_TARGET} for cid, _pid in held])
        _seed_images(conn, rng, characters, history)
        _seed_jobs_and_decisions(conn, rng, characters, history)
    # A running database has planner statistics (autovacuum gathers them after bulk changes); fresh bulk rows
    # have none, and PostgreSQL then plans the standing queries as if the tables were empty (a pass took ~70 s).
    with studio.db.sync_engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")


def _seed_images(conn: Connection, rng: random.Random, characters: list[Any], history: datetime) -> None:
    per_character = IMAGES // len(characters)
    rows = []
    for character_id, project_id in characters:
        for n in range(per_character):
            roll = rng.random()
            state = "APPROVED" if roll < 0.6 else "REJECTED" if roll < 0.9 else "PENDING"
            decided = None if state == "PENDING" else history + timedelta(minutes=rng.randrange(30 * 24 * 60))
            sampler, scheduler = rng.choice(SAMPLERS)
            rows.append(
                {
                    "project_id": project_id,
                    "character_id": character_id,
                    "file_path": f"images/bench/{character_id}/{n}.png",
                    "content_hash": f"{character_id:032d}{n:032d}",
                    "width": 832,
                    "height": 1216,
                    "source": "generated",
                    "source_ref": "",
                    "approval_state": state,
                    "quality_score": round(rng.uniform(0.3, 0.95), 3),
                    "provenance": {
                        "checkpoint": rng.choice(CHECKPOINTS),
                        "sampler": sampler,
                        "scheduler": scheduler,
                        "steps": rng.choice((24, 28, 32)),
                        "cfg": rng.choice((5.0, 6.0, 7.0)),
                        "seed": rng.randrange(2**32),
                    },
                    "triage": {},
                    "review": {},
                    "triage_flags": "",
                    "vision_status": "NONE",
                    "rejection_categories": rng.sample(CATEGORIES, rng.randint(1, 2)) if state == "REJECTED" else [],
                    "caption": "",
                    "caption_source": "",
                    "decided_by": None if decided is None else rng.choice(("local", "vision")),
                    "decided_at": decided,
                    "version": 1 if decided is None else 2,
                    "created_at": decided or history,
                    "updated_at": decided or history,
                }
            )
    _insert(conn, DatasetImage, rows)
    images = _table(DatasetImage)
    decided = conn.execute(
        sa.select(
            images.c.id,
            images.c.project_id,
            images.c.character_id,
            images.c.approval_state,
            images.c.decided_by,
            images.c.rejection_categories,
            images.c.decided_at,
        ).where(images.c.decided_at.is_not(None))
    ).all()
    _insert(
        conn,
        ReviewDecision,
        [
            {
                "image_id": image_id,
                "project_id": project_id,
                "character_id": character_id,
                "previous_state": "PENDING",
                "state": state,
                "decider": "HUMAN" if decided_by == "local" else "VISION",
                "actor": decided_by,
                "categories": categories,
                "reasons": [],
                "image_version": 2,
                "created_at": at,
            }
            for image_id, project_id, character_id, state, decided_by, categories, at in decided
        ],
    )


def _seed_jobs_and_decisions(conn: Connection, rng: random.Random, characters: list[Any], history: datetime) -> None:
    jobs = []
    for n in range(JOBS):
        character_id, project_id = characters[n % len(characters)]
        at = history + timedelta(minutes=rng.randrange(30 * 24 * 60))
        jobs.append(
            {
                "kind": "image.generate",
                "title": f"character {character_id} · image 1 of 3",
                "payload": {"character_id": character_id},
                "project_id": project_id,
                "priority": 10,
                "state": "SUCCEEDED",
                "attempts": 1,
                "max_attempts": 1,
                "requeues": 0,
                "progress": 1.0,
                "progress_message": "",
                "created_by": "autopilot",
                "created_at": at,
                "started_at": at,
                "finished_at": at + timedelta(seconds=20),
                "updated_at": at + timedelta(seconds=20),
            }
        )
    _insert(conn, Job, jobs)
    decisions = []
    for n in range(DECISIONS):
        character_id, project_id = characters[n % len(characters)]
        acted = rng.random() < 0.3
        decisions.append(
            {
                "at": history + timedelta(minutes=rng.randrange(30 * 24 * 60)),
                "project_id": project_id,
                "character_id": character_id,
                "loop": "replenishment",
                "action": "generate" if acted else "wait",
                "outcome": "acted" if acted else "waiting",
                "phase": "training_data",
                "reason": "3 images below target" if acted else "cooldown",
                "count": 3 if acted else 0,
                "actor": "autopilot",
                "data": {},
            }
        )
    _insert(conn, AutonomyDecision, decisions)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _count(studio: Studio, model: Any) -> int:
    async with studio.db.session() as session:
        return int((await session.exec(sa.select(sa.func.count()).select_from(_table(model)))).one()[0])  # type: ignore[call-overload]


async def _measure(studio: Studio, clock: DrivenClock) -> dict[str, Any]:
    await studio.styles.create(StyleDraft(name="noob", checkpoint_model=CHECKPOINTS[0]), "bench")
    await asyncio.to_thread(_seed, studio)
    runner = studio.autonomy.runner
    decisions, jobs = await _count(studio, AutonomyDecision), await _count(studio, Job)
    started = time.perf_counter()
    await runner.tick()  # warm-up: the pipeline states are written, each gate's verdict logged once
    warmup = (time.perf_counter() - started) * 1000
    after_warmup = await _count(studio, AutonomyDecision)
    times = []
    for _ in range(PASSES):
        clock.advance(60)
        started = time.perf_counter()
        await runner.tick()
        times.append((time.perf_counter() - started) * 1000)
    return {
        "warmup_ms": round(warmup, 1),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(_percentile(times, 0.95), 1),
        "max_ms": round(max(times), 1),
        "warmup_decisions": after_warmup - decisions,
        "decisions_logged": await _count(studio, AutonomyDecision) - after_warmup,
        "jobs_queued": await _count(studio, Job) - jobs,
    }


def _run(database_url: str, data_dir: Path) -> dict[str, Any]:
    clock = DrivenClock(START)
    # The background loop stays out of the way: only the timed passes run.
    settings = Settings(data_dir=data_dir, database_url=database_url, autopilot_tick_seconds=3600)
    studio = Studio.build(settings, clock=clock)
    studio.migrate()

    async def measure() -> dict[str, Any]:
        try:
            return await _measure(studio, clock)
        finally:
            await studio.db.dispose()

    return asyncio.run(measure())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="anime-studio-bench-autopilot-") as scratch:
        root = Path(scratch)
        result: dict[str, Any] = {
            "projects": PROJECTS,
            "characters": PROJECTS * CHARACTERS,
            "images": IMAGES,
            "passes": PASSES,
            "goal_ms": 200,
        }
        result["sqlite"] = _run(f"sqlite:///{root / 'sqlite' / 'studio.db'}", root / "sqlite")
        result["postgresql"] = on_scratch_postgres(lambda url: _run(url, root / "postgresql"))
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
