"""Tag store benchmark: one character with 10,000 images of 30 tags each (plus 10 of them also from the prompt),
on SQLite and on PostgreSQL: the tag-frequency list (goal <= 200 ms) and a rename of a tag every image has
across the character (goal <= 1 s), and its undo. Seeding uses bulk inserts and is not timed.

PostgreSQL runs on a throwaway database of the server STUDIO_TEST_POSTGRES_URL names (the tests' server); without
one, its numbers say why they are missing. When tests/bench/tagger_throughput.py exists, its numbers join the line.

Prints one JSON line: {"images": 10000, "tags_per_image": 30, "sqlite": {"frequencies_ms": ..., "rename_ms": ...,
"undo_ms": ...}, "postgresql": {...}, "tagger": {...}}. Printed, not asserted.
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
from pathlib import Path
from typing import Any

from sqlmodel import Session

from services.tags import BulkEdit
from studio.config import Settings
from studio.models import Character, Project
from studio.root import Studio
from tests.bench.seeding import insert_approved_images, insert_tags, on_scratch_postgres

IMAGES = int(os.environ.get("BENCH_TAG_IMAGES", "10000"))
TAGS_PER_IMAGE = 30
VOCABULARY = 600
EVERYONE = "1girl"  # on every image: the rename touches the whole character


def _seed(studio: Studio) -> int:
    """Bulk-insert the project, character, images and tag rows; returns the character id."""
    rng = random.Random(7)
    # A long-tailed vocabulary, as real taggers give: a few tags on most images, most tags on a few.
    vocabulary = [f"tag {n}" for n in range(VOCABULARY)]
    weights = [1 / (rank + 1) for rank in range(VOCABULARY)]
    engine = studio.db.sync_engine
    with Session(engine) as session:
        project = Project(name="Bench")
        session.add(project)
        session.flush()
        character = Character(project_id=project.id, name="Mira", slug="mira")  # type: ignore[arg-type]
        session.add(character)
        session.commit()
        project_id, character_id = project.id, character.id
    with engine.begin() as conn:
        ids = insert_approved_images(conn, project_id, character_id, IMAGES, studio.clock.now())  # type: ignore[arg-type]
        rows: list[dict[str, Any]] = []
        for image_id in ids:
            chosen = {EVERYONE}
            while len(chosen) < TAGS_PER_IMAGE:
                chosen.update(rng.choices(vocabulary, weights, k=TAGS_PER_IMAGE - len(chosen)))
            for position, tag in enumerate(sorted(chosen)):
                row = {"image_id": image_id, "tag": tag, "character_id": character_id}
                rows.append({**row, "source": "tagger", "confidence": rng.uniform(0.35, 1.0), "category": "general"})
                if position < 10:
                    rows.append({**row, "source": "prompt", "confidence": None, "category": "general"})
        insert_tags(conn, rows)
    if studio.db.kind == "postgresql":
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return int(character_id)


async def _measure(studio: Studio, character_id: int) -> dict[str, Any]:
    await studio.tags.frequencies(character_id)  # warm the connection pool and the caches
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        frequencies = await studio.tags.frequencies(character_id)
        runs.append(time.perf_counter() - start)
    start = time.perf_counter()
    renamed = await studio.tags.bulk(character_id, BulkEdit("rename", EVERYONE, "solo girl"), "bench")
    rename = time.perf_counter() - start
    start = time.perf_counter()
    await studio.tags.undo(renamed.undo_token or "", "bench")
    undo = time.perf_counter() - start
    return {
        "frequencies_ms": round(statistics.median(runs) * 1000, 1),
        "distinct_tags": len(frequencies.tags),
        "rename_ms": round(rename * 1000, 1),
        "rename_images": renamed.images_changed,
        "undo_ms": round(undo * 1000, 1),
    }


def _run(database_url: str, data_dir: Path) -> dict[str, Any]:
    studio = Studio.build(Settings(data_dir=data_dir, database_url=database_url))
    studio.migrate()
    try:
        character_id = _seed(studio)
        return asyncio.run(_measure(studio, character_id))
    finally:
        studio.db.sync_engine.dispose()


def _postgresql(data_dir: Path) -> dict[str, Any]:
    return on_scratch_postgres(lambda url: _run(url, data_dir))


def _tagger() -> dict[str, Any] | None:
    try:
        from tests.bench.tagger_throughput import tagger_throughput
    except ImportError:
        return None
    return dict(tagger_throughput())


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="anime-studio-bench-tags-") as scratch:
        root = Path(scratch)
        result: dict[str, Any] = {"images": IMAGES, "tags_per_image": TAGS_PER_IMAGE}
        result["sqlite"] = _run(f"sqlite:///{root / 'sqlite' / 'studio.db'}", root / "sqlite")
        result["postgresql"] = _postgresql(root / "postgresql")
        tagger = _tagger()
        if tagger is not None:
            result["tagger"] = tagger
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
