"""Training benchmark.

Run part: a 10-epoch run on the fake sd-scripts (tests/fakes/kohya) at a fixed step time, through the real queue,
device worker and trainer runner on SQLite: the studio's wall time from the request to the finished run over the
trainer's own time (its process's life, which the run's log states; goal <= 1.02: the studio adds nearly
nothing). BENCH_TRAINING_STEP_SECONDS changes the pace.

Export part: one character with 1,000 approved images (real PNG files of noise, so they do
not compress away, 30 tagger tags each), exported in kohya's layout on SQLite and on PostgreSQL: the folder the
trainers get (`write_folder`) and the zip download (`write_zip`), each timed from the request to the finished
files (goal <= 5 s on 2 cores). Seeding is not timed.

PostgreSQL runs on a throwaway database of the server STUDIO_TEST_POSTGRES_URL names; without one, its numbers
say why they are missing. BENCH_TRAINING_IMAGES and BENCH_TRAINING_IMAGE_SIDE change the set's size.

Prints one JSON line: {"run": {"epochs": 10, "steps": ..., "wall_s": ..., "trainer_s": ..., "wall_over_trainer": ...},
"export": {"images": 1000, "image_side": 256, "sqlite": {"captions_ms": ..., "folder_ms": ..., "zip_ms": ...,
"zip_megabytes": ...}, "postgresql": {...}}}. Printed, not asserted.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from sqlmodel import Session

from services.bible.schemas import ProjectDraft, StyleDraft
from studio.config import DeviceSettings, Settings
from studio.models import Character
from studio.root import Studio
from tests.bench.seeding import insert_approved_images, insert_tags, on_scratch_postgres

IMAGES = int(os.environ.get("BENCH_TRAINING_IMAGES", "1000"))
SIDE = int(os.environ.get("BENCH_TRAINING_IMAGE_SIDE", "256"))
TAGS_PER_IMAGE = 30
RUN_EPOCHS = 10
RUN_IMAGES = 5  # x 2 repeats: 10 steps an epoch
RUN_STEP_SECONDS = float(os.environ.get("BENCH_TRAINING_STEP_SECONDS", "0.2"))
FAKE_KOHYA = Path(__file__).resolve().parents[1] / "fakes" / "kohya"
DISTINCT_PICTURES = 16  # files differ by name and row; their pixels repeat, which the export never looks at


def _pictures() -> list[bytes]:
    rng = random.Random(3)
    pictures = []
    for _ in range(DISTINCT_PICTURES):
        buffer = io.BytesIO()
        Image.frombytes("RGB", (SIDE, SIDE), rng.randbytes(SIDE * SIDE * 3)).save(buffer, "PNG", compress_level=1)
        pictures.append(buffer.getvalue())
    return pictures


async def _character(studio: Studio) -> int:
    await studio.styles.create(StyleDraft(name="noob", checkpoint_model="noobaiXL_v10.safetensors"), "bench")
    project = await studio.projects.create(ProjectDraft(name="Bench", default_style="noob"), "bench")
    async with studio.db.session() as session:
        character = Character(
            project_id=project.id,  # type: ignore[arg-type]
            name="Mira",
            slug="mira",
            trigger_word="mira_oc",
            appearance_data={"species": "human", "gender": "female"},
        )
        session.add(character)
        await session.flush()
        return int(character.id)  # type: ignore[arg-type]


def _seed(studio: Studio, character_id: int, pictures: list[bytes], images: int = IMAGES) -> int:
    """Files in the media store plus bulk-inserted image and tag rows; returns the bytes written."""
    rng = random.Random(7)
    vocabulary = [f"tag {n}" for n in range(600)]
    written = 0
    for n in range(images):
        path = studio.media.path_of(f"images/bench/{n}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        written += path.write_bytes(pictures[n % len(pictures)])
    with Session(studio.db.sync_engine) as session:
        project_id = session.get(Character, character_id).project_id  # type: ignore[union-attr]
    with studio.db.sync_engine.begin() as conn:
        now = studio.clock.now()
        ids = insert_approved_images(conn, project_id, character_id, images, now, side=SIDE, folder="images/bench")
        rows = [
            {
                "image_id": image_id,
                "tag": tag,
                "character_id": character_id,
                "source": "tagger",
                "confidence": rng.uniform(0.35, 1.0),
                "category": "general",
            }
            for image_id in ids
            for tag in rng.sample(vocabulary, TAGS_PER_IMAGE)
        ]
        insert_tags(conn, rows)
    return written


def _remove(path: Path) -> int:
    """Remove a file; its size."""
    size = path.stat().st_size
    path.unlink()
    return size


async def _timed(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work()
    return round((time.perf_counter() - start) * 1000, 1), result


async def _measure(studio: Studio, data_dir: Path) -> dict[str, Any]:
    studio.settings.training_min_images = 1
    character_id = await _character(studio)
    megabytes = await asyncio.to_thread(_seed, studio, character_id, _pictures())
    export = studio.training_export
    await studio.captions.captions([1])  # warm the connection pool
    captions_ms, _ = await _timed(lambda: export.training_set(character_id))
    folder_ms, training_set = await _timed(lambda: export.write_folder(character_id, data_dir / "sets" / "mira"))
    zip_ms, (_, zipped) = await _timed(lambda: export.write_zip(character_id))
    result = {
        "megabytes": round(megabytes / 1e6, 1),
        "exported": len(training_set.images),
        "captions_ms": captions_ms,
        "folder_ms": folder_ms,
        "zip_ms": zip_ms,
        "zip_megabytes": round(await asyncio.to_thread(_remove, zipped) / 1e6, 1),
    }
    return result


def _run(database_url: str, data_dir: Path) -> dict[str, Any]:
    studio = Studio.build(Settings(data_dir=data_dir, database_url=database_url))
    studio.migrate()

    async def measure() -> dict[str, Any]:
        try:
            return await _measure(studio, data_dir)
        finally:
            await studio.db.dispose()

    return asyncio.run(measure())


def _postgresql(data_dir: Path) -> dict[str, Any]:
    return on_scratch_postgres(lambda url: _run(url, data_dir))


async def _training_run(root: Path) -> dict[str, Any]:
    """One run of RUN_EPOCHS epochs on the fake trainer, timed from the request to the run's end."""
    os.environ["FAKE_KOHYA_STEP_SECONDS"] = str(RUN_STEP_SECONDS)
    checkpoint = root / "models" / "noobaiXL_v10.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"the fake trainer only checks that it exists")
    device = DeviceSettings(name="gpu1", kohya_dir=FAKE_KOHYA, kohya_python=Path(sys.executable))
    studio = Studio.build(
        Settings(
            data_dir=root / "data",
            database_url=f"sqlite:///{root / 'data' / 'studio.db'}",
            devices=[device],
            training_min_images=RUN_IMAGES,
        )
    )
    studio.migrate()
    await studio.start()
    try:
        character_id = await _character(studio)
        await asyncio.to_thread(_seed, studio, character_id, _pictures(), RUN_IMAGES)
        overrides = {"base_checkpoint": str(checkpoint), "epochs": RUN_EPOCHS, "repeats": 2}
        started = time.perf_counter()
        run = await studio.training.start(character_id, "gpu1", "sdxl-12gb", overrides, "bench")
        while run.state in ("queued", "running"):
            await asyncio.sleep(0.05)
            run = await studio.training.get(run.id)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
        if run.state != "succeeded":
            return {"error": f"the run {run.state}: {run.error}"}
        log = await asyncio.to_thread(Path(run.log_path or "").read_text, encoding="utf-8")
        trainer = float(re.findall(r"sd-scripts ended with status 0 after ([\d.]+) s", log)[-1])
        return {
            "epochs": run.epochs_done,
            "steps": run.steps_total,
            "step_seconds": RUN_STEP_SECONDS,
            "wall_s": round(wall, 2),
            "trainer_s": trainer,
            "wall_over_trainer": round(wall / trainer, 3),
        }
    finally:
        await studio.stop()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="anime-studio-bench-training-") as scratch:
        root = Path(scratch)
        run = asyncio.run(_training_run(root / "run"))
        result: dict[str, Any] = {"images": IMAGES, "image_side": SIDE, "tags_per_image": TAGS_PER_IMAGE}
        result["sqlite"] = _run(f"sqlite:///{root / 'sqlite' / 'studio.db'}", root / "sqlite")
        result["postgresql"] = _postgresql(root / "postgresql")
    print(json.dumps({"run": run, "export": result}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
