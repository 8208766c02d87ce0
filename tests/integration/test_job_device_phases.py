"""A job a device queues before running it (ComfyUI's prompt queued ahead), and the moment its outputs are
stored: the queue's side, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from services.errors import Conflict
from services.jobs import JobChanged, JobDraft
from studio.models import JobState
from studio.root import Studio


async def test_a_job_waits_on_its_device_until_started_and_runs_from_then(studio: Studio) -> None:
    jobs = studio.jobs
    changes: list[str] = []
    studio.events.subscribe(JobChanged, lambda event: changes.append(event.change))
    [job] = await jobs.submit([JobDraft("image.generate", {})], "aiko")
    claimed = await jobs.claim("w", "gpu1", {"image.generate"}, started=False)
    assert claimed is not None and claimed.id == job.id
    assert (claimed.state, claimed.started_at, claimed.progress_message) == (JobState.RUNNING, None, "waiting on gpu1")
    assert await jobs.start(job.id, "running on gpu1") is True  # type: ignore[arg-type]
    assert await jobs.start(job.id, "running on gpu1") is False  # type: ignore[arg-type]
    started = await jobs.get(job.id)  # type: ignore[arg-type]
    assert started.started_at is not None and started.progress_message == "running on gpu1"
    assert changes == ["submitted", "claimed", "started"]


async def test_storing_outputs_takes_the_job_out_of_a_cancels_reach(studio: Studio) -> None:
    jobs = studio.jobs
    [stored, dropped] = await jobs.submit([JobDraft("image.generate", {}), JobDraft("image.generate", {})], "aiko")
    for job in (stored, dropped):
        assert await jobs.claim("w", "gpu1", {"image.generate"}, started=False) is not None
        await jobs.attach(job.id, f"prompt-{job.id}")  # type: ignore[arg-type]

    assert await jobs.finishing(stored.id, f"prompt-{stored.id}", "storing the outputs") is True  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="its outputs are being stored; it can no longer be cancelled"):
        await jobs.cancel(stored.id, "aiko")  # type: ignore[arg-type]
    assert await jobs.succeed(stored.id, {"image_ids": [1]}) is True  # type: ignore[arg-type]

    # Cancelled first: the worker must store nothing (and a stale handle never matches).
    await jobs.cancel(dropped.id, "aiko")  # type: ignore[arg-type]
    assert await jobs.finishing(dropped.id, f"prompt-{dropped.id}", "storing the outputs") is False  # type: ignore[arg-type]
    retried = await jobs.retry(dropped.id, "aiko")  # type: ignore[arg-type]
    assert retried.finished_at is None
    assert await jobs.claim("w", "gpu1", {"image.generate"}, started=False) is not None
    assert await jobs.finishing(dropped.id, f"prompt-{dropped.id}", "storing the outputs") is False  # type: ignore[arg-type]
