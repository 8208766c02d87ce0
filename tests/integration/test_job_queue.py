"""The persistent job queue and the cpu worker, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from services.errors import Conflict, NotFound
from services.jobs import CpuWorker, JobChanged, JobDraft, JobFilter, JobHandlers, JobQueue, ProgressSink
from studio.models import Job, JobPriority, JobState
from studio.root import Studio


async def test_interactive_jobs_are_claimed_before_background_ones(studio: Studio) -> None:
    jobs = studio.jobs
    background = await jobs.submit([JobDraft("thumbnail", {"n": 1}, priority=JobPriority.BACKGROUND)], "loop")
    interactive = await jobs.submit([JobDraft("thumbnail", {"n": 2}), JobDraft("thumbnail", {"n": 3})], "aiko")
    order = [(await jobs.claim("w", "cpu", {"thumbnail"})) for _ in range(3)]
    assert [j.id for j in order if j] == [interactive[0].id, interactive[1].id, background[0].id]
    assert await jobs.claim("w", "cpu", {"thumbnail"}) is None
    assert all(j is not None and j.state == JobState.RUNNING and j.attempts == 1 for j in order)


async def test_pinned_jobs_go_only_to_their_device(studio: Studio) -> None:
    jobs = studio.jobs
    [pinned] = await jobs.submit([JobDraft("image.generate", {}, device="rtx3060")], "aiko")
    assert await jobs.claim("a", "rx9070", {"image.generate"}) is None
    assert await jobs.claim("a", "rtx3060", {"thumbnail"}) is None
    claimed = await jobs.claim("b", "rtx3060", {"image.generate"})
    assert claimed is not None and (claimed.id, claimed.ran_on, claimed.claimed_by) == (pinned.id, "rtx3060", "b")


async def test_cancel_retry_and_finish_rules(studio: Studio) -> None:
    jobs = studio.jobs
    [job] = await jobs.submit([JobDraft("thumbnail", {}, title="Koopa · image 1 of 1")], "aiko")
    claimed = await jobs.claim("w", "cpu", {"thumbnail"})
    assert claimed is not None
    cancelled = await jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    assert cancelled.state == JobState.CANCELLED and cancelled.error == "cancelled by aiko"
    # The worker finishing afterwards must not resurrect it.
    assert await jobs.succeed(job.id, {"image_ids": [1]}) is False  # type: ignore[arg-type]
    assert (await jobs.get(job.id)).state == JobState.CANCELLED  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="already cancelled"):
        await jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    retried = await jobs.retry(job.id, "aiko")  # type: ignore[arg-type]
    assert (retried.state, retried.error, retried.progress, retried.max_attempts) == (JobState.QUEUED, None, 0.0, 2)
    again = await jobs.claim("w", "cpu", {"thumbnail"})
    assert again is not None and again.attempts == 2
    assert await jobs.fail(job.id, "ffmpeg exited with 1") is True  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="only failed or cancelled"):
        await jobs.retry((await jobs.submit([JobDraft("thumbnail", {})], "aiko"))[0].id, "aiko")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await jobs.get(99999)
    summaries = [r.summary for r in await studio.audit.recent(event_prefix="job.")]
    assert f"Job {job.id} (Koopa · image 1 of 1) failed on cpu: ffmpeg exited with 1" in summaries
    assert f"Job {job.id} (Koopa · image 1 of 1) cancelled on cpu: cancelled by aiko" in summaries


async def test_a_lost_job_is_requeued_once_then_failed(studio: Studio) -> None:
    jobs = studio.jobs
    [job] = await jobs.submit([JobDraft("image.generate", {})], "aiko")
    await jobs.claim("w", "gpu", {"image.generate"})
    assert await jobs.requeue_lost(job.id, "ComfyUI at http://gpu:8188") is True  # type: ignore[arg-type]
    requeued = await jobs.get(job.id)  # type: ignore[arg-type]
    assert (requeued.state, requeued.requeues, requeued.attempts) == (JobState.QUEUED, 1, 0)
    await jobs.claim("w", "gpu", {"image.generate"})
    assert await jobs.requeue_lost(job.id, "ComfyUI at http://gpu:8188") is False  # type: ignore[arg-type]
    failed = await jobs.get(job.id)  # type: ignore[arg-type]
    assert failed.state == JobState.FAILED
    assert failed.error is not None and failed.error.startswith("ComfyUI at http://gpu:8188 lost this job twice")


async def test_list_filters(studio: Studio) -> None:
    jobs = studio.jobs
    first = await jobs.submit([JobDraft("image.generate", {}, device="rtx3060", batch="b1")] * 2, "aiko")
    await jobs.submit([JobDraft("thumbnail", {})], "aiko")
    await jobs.claim("w", "rtx3060", {"image.generate"})
    assert [j.id for j in await jobs.list(JobFilter(batch="b1"))] == [first[1].id, first[0].id]
    assert len(await jobs.list(JobFilter(kind="thumbnail"))) == 1
    assert [j.id for j in await jobs.list(JobFilter(states=[JobState.RUNNING]))] == [first[0].id]
    assert len(await jobs.list(JobFilter(device="rtx3060"))) == 2


class _Sleepy:
    """A cpu job kind for the test: sleeps, reporting progress, and records how many run at once."""

    kind = "test.sleep"

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await progress(0.5, "half way")
            await asyncio.sleep(job.payload["seconds"])
            if job.payload.get("fail"):
                raise RuntimeError("the engine crashed")
            return {"slept": job.payload["seconds"]}
        finally:
            self.running -= 1


async def _until(predicate: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_cpu_worker_runs_jobs_with_bounded_concurrency(studio: Studio) -> None:
    handlers = JobHandlers()
    sleepy = _Sleepy()
    handlers.add_cpu(sleepy)
    worker = CpuWorker(worker_id="host/cpu", queue=studio.jobs, handlers=handlers, events=studio.events, concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        drafts = [JobDraft("test.sleep", {"seconds": 0.2}) for _ in range(5)] + [
            JobDraft("test.sleep", {"seconds": 0.01, "fail": True}),
            JobDraft("test.sleep", {"seconds": 30}),
        ]
        submitted = await studio.jobs.submit(drafts, "aiko")
        slow = submitted[-1]

        async def slow_running() -> bool:
            return (await studio.jobs.get(slow.id)).state == JobState.RUNNING  # type: ignore[arg-type]

        await _until(slow_running)
        await studio.jobs.cancel(slow.id, "aiko")  # type: ignore[arg-type]

        async def all_done() -> bool:
            states = [(await studio.jobs.get(j.id)).state for j in submitted]  # type: ignore[arg-type]
            return JobState.QUEUED not in states and not worker.in_flight

        await _until(all_done)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    states = [(await studio.jobs.get(j.id)).state for j in submitted]  # type: ignore[arg-type]
    assert states == [JobState.SUCCEEDED] * 5 + [JobState.FAILED, JobState.CANCELLED]
    assert sleepy.peak == 2
    failed = await studio.jobs.get(submitted[5].id)  # type: ignore[arg-type]
    # A bug's own text stays in the log; the job says it failed and how to find it there.
    assert failed.error is not None and "the engine crashed" not in failed.error
    assert re.fullmatch(
        rf"job {failed.id} \(test\.sleep\) failed unexpectedly \(incident [0-9a-f]{{8}}\); "
        "the studio log has the details",
        failed.error,
    )


async def test_cpu_jobs_left_running_by_a_crash_run_again(studio: Studio) -> None:
    handlers = JobHandlers()
    handlers.add_cpu(_Sleepy())
    [job] = await studio.jobs.submit([JobDraft("test.sleep", {"seconds": 0.01})], "aiko")
    await studio.jobs.claim("host/cpu", "cpu", {"test.sleep"})  # the previous run claimed it, then died
    worker = CpuWorker(worker_id="host/cpu", queue=studio.jobs, handlers=handlers, events=studio.events, concurrency=1)
    task = asyncio.create_task(worker.run())
    try:

        async def done() -> bool:
            return (await studio.jobs.get(job.id)).state == JobState.SUCCEEDED  # type: ignore[arg-type]

        await _until(done)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finished = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    assert (finished.requeues, finished.attempts, finished.result) == (1, 1, {"slept": 0.01})


@pytest.mark.postgres
async def test_two_studio_processes_never_claim_the_same_job(two_studios: list[Studio]) -> None:
    """Two independent studios (own engines, own connection pools) race for one PostgreSQL queue."""
    studios = two_studios
    await studios[0].jobs.submit([JobDraft("test.sleep", {"n": i}) for i in range(60)], "aiko")
    claims: dict[str, list[int]] = {"one": [], "two": []}

    async def drain(queue: JobQueue, name: str) -> None:
        while (job := await queue.claim(f"{name}/gpu", "gpu", {"test.sleep"})) is not None:
            claims[name].append(job.id)  # type: ignore[arg-type]

    await asyncio.gather(*(drain(s.jobs, n) for s, n in zip(studios, ("one", "two"), strict=True)))
    taken = claims["one"] + claims["two"]
    assert sorted(taken) == sorted(set(taken)) and len(taken) == 60
    assert claims["one"] and claims["two"], "both processes should have won some claims"


async def test_job_events_are_audited_but_progress_is_not(studio: Studio) -> None:
    seen: list[str] = []
    studio.events.subscribe(JobChanged, lambda e: seen.append(e.change))
    [job] = await studio.jobs.submit([JobDraft("thumbnail", {})], "aiko")
    await studio.jobs.claim("w", "cpu", {"thumbnail"})
    await studio.jobs.succeed(job.id, {})  # type: ignore[arg-type]
    assert seen == ["submitted", "started", "succeeded"]
    assert [r.event for r in await studio.audit.recent(event_prefix="job.")] == ["job.changed"] * 3
