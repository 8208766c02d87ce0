"""ONNX tagger throughput with the tiny test model: the studio's own overhead around a tagger model.

The tiny model's arithmetic is nothing, so what is measured is everything else a real model pays too: reading
each image from the media store, decoding, white padding, resizing to 448 px, BGR conversion, onnxruntime's call,
the category split, and storing the tags — once as a whole `image.tag` job through the queue and the cpu worker
on SQLite (`job_images_per_second`), once as the tagger alone on images in memory (`tagger_images_per_second`).

Prints one JSON line: {"images": 64, "job_images_per_second": ..., "tagger_images_per_second": ...,
"load_seconds": ...}. Printed, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from services.jobs import JobChanged
from services.tags.taggers import OnnxWd14Tagger, TaggerThresholds
from studio.config import Settings
from studio.models import JobState, TagSource
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import drawing, seed_pending
from tests.tiny_tagger import tagger_folder

IMAGES = 64
SIDE = 768  # a typical generated dataset image


async def _job_seconds(folder: Path, data_dir: Path) -> float:
    studio = Studio.build(Settings(data_dir=data_dir, tagger_model_dir=folder, job_claim_poll_seconds=0.5))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "bench")
        character = await studio.characters.create(project.id, KOOPA, "bench")  # type: ignore[arg-type]
        await seed_pending(studio, character, IMAGES, SIDE, thumbnails=False)
        ended = asyncio.Event()

        async def on_change(event: JobChanged) -> None:
            if event.change in ("succeeded", "failed", "cancelled"):
                ended.set()

        studio.events.subscribe(JobChanged, on_change)
        start = time.perf_counter()
        [job] = await studio.tagging.start(character.id, TagSource.TAGGER, None, "bench")  # type: ignore[arg-type]
        await asyncio.wait_for(ended.wait(), 600)
        seconds = time.perf_counter() - start
        job = await studio.jobs.get(job.id)  # type: ignore[arg-type]
        if job.state != JobState.SUCCEEDED or (job.result or {}).get("tagged") != IMAGES:
            raise RuntimeError(f"the tagging job did not tag every image: {job.state} {job.error} {job.result}")
        return seconds
    finally:
        await studio.stop()


def tagger_throughput() -> dict[str, float]:
    """Images per second of the ONNX tagging path (whole job, and the tagger alone) on IMAGES images."""
    with tempfile.TemporaryDirectory(prefix="anime-studio-bench-tagger-") as temp:
        root = Path(temp)
        folder = tagger_folder(root / "tagger")
        start = time.perf_counter()
        tagger = OnnxWd14Tagger.load(folder)
        load_seconds = time.perf_counter() - start
        pictures = [drawing(seed, (SIDE, SIDE), "JPEG") for seed in range(IMAGES)]
        start = time.perf_counter()
        for first in range(0, IMAGES, tagger.batch):
            tagger.tag(pictures[first : first + tagger.batch], TaggerThresholds())
        tagger_seconds = time.perf_counter() - start
        job_seconds = asyncio.run(_job_seconds(folder, root / "data"))
    return {
        "images": IMAGES,
        "job_images_per_second": round(IMAGES / job_seconds, 1),
        "tagger_images_per_second": round(IMAGES / tagger_seconds, 1),
        "load_seconds": round(load_seconds, 3),
    }


if __name__ == "__main__":
    print(json.dumps(tagger_throughput()))
