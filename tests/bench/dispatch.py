"""Benchmark: how well a device worker keeps a ComfyUI GPU busy.

Queues 100 image jobs of 200 ms each (the fake ComfyUI's execution time) through the real studio
(job queue, device worker, WebSocket completion, output collection into the dataset) and prints
{"ratio": wall time / sum of job durations, "jobs": 100, ...}. 1.0 means the GPU never waited for the
studio; a 5-second polling loop like the earlier system's gives about 13.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from services.generation import ImageBatchDraft
from studio.config import DeviceSettings, Settings
from studio.models import JobState
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA
from tests.fakes import FakeComfyUI

JOBS = 100
JOB_SECONDS = 0.2


async def _run(data_dir: Path, fake: FakeComfyUI) -> dict[str, float | int]:
    settings = Settings(data_dir=data_dir, devices=[DeviceSettings(name="gpu1", comfyui_url=fake.url)])
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    try:
        await studio.styles.create(COUNTERFEIT.model_copy(update={"width": 256, "height": 256}), "bench")
        project = await studio.projects.create(GALAXY.model_copy(update={"default_style": COUNTERFEIT.name}), "bench")
        koopa = await studio.characters.create(project.id, KOOPA, "bench")  # type: ignore[arg-type]
        began = time.perf_counter()
        jobs = []
        for count in (JOBS // 2, JOBS - JOBS // 2):  # a batch holds at most 64 images
            jobs += await studio.images.generate(koopa.id, ImageBatchDraft(count=count), "bench")  # type: ignore[arg-type]
        ids = [job.id for job in jobs]
        while True:
            states = [(await studio.jobs.get(i)).state for i in ids]  # type: ignore[arg-type]
            if all(s not in (JobState.QUEUED, JobState.RUNNING) for s in states):
                break
            await asyncio.sleep(0.05)
        wall = time.perf_counter() - began
        failed = sum(1 for s in states if s != JobState.SUCCEEDED)
    finally:
        await studio.stop()
    executed = [e.finished_at - e.started_at for e in fake.executions if e.finished_at is not None]
    return {
        "ratio": round(wall / (JOBS * JOB_SECONDS), 3),
        "jobs": JOBS,
        "failed": failed,
        "wall_s": round(wall, 2),
        "server_busy_ratio": round(sum(executed) / wall, 3),
    }


def main() -> None:
    # The fake server runs on a thread of this process; a shorter switch interval keeps our own work
    # from delaying its timers (a real ComfyUI is another process).
    sys.setswitchinterval(0.001)
    with tempfile.TemporaryDirectory() as scratch, FakeComfyUI(job_seconds=JOB_SECONDS) as fake:
        fake.models = {**fake.models, "checkpoints": [COUNTERFEIT.checkpoint_model]}
        result = asyncio.run(_run(Path(scratch) / "data", fake))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
