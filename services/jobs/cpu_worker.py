"""The built-in `cpu` device: runs the embedded engines' jobs in-process, a bounded number at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

from services.errors import StudioError, report_unexpected
from services.jobs.events import JobChanged, JobProgressed
from services.jobs.handlers import JobHandlers, ProgressSink
from services.jobs.queue import JobQueue
from studio.events import EventBus
from studio.models import Job

log = logging.getLogger(__name__)

CPU_DEVICE = "cpu"


class CpuWorker:
    """Runs jobs in this process, `concurrency` at a time. Subclasses serve other kinds on other devices by
    overriding `_kinds` and `_execute` (the remote-app worker drives an app on a GPU box this way)."""

    # Where a job was when an earlier run of the studio stopped with it (said when it is queued again).
    lost_at = "the studio (it stopped while the job ran)"

    def __init__(
        self,
        *,
        worker_id: str,
        queue: JobQueue,
        handlers: JobHandlers,
        events: EventBus,
        concurrency: int,
        claim_poll_seconds: float = 2.0,
        device: str = CPU_DEVICE,
        url: str | None = None,  # in-process: no server behind it
    ) -> None:
        self.device = device
        self.url = url
        self.worker_id = worker_id
        self._queue = queue
        self._handlers = handlers
        self._events = events
        self._concurrency = max(1, concurrency)
        self._claim_poll = claim_poll_seconds
        self._running: dict[int, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return True

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run(self) -> None:
        unsubscribe = self._events.subscribe(JobChanged, self._on_job_changed)
        # Jobs an earlier run left "running" were interrupted with the process: run them again from scratch.
        for job in await self._queue.claimed_by(self.worker_id):
            await self._queue.requeue_lost(job.id, self.lost_at)  # type: ignore[arg-type]
        try:
            while True:
                while len(self._running) < self._concurrency:
                    job = await self._queue.claim(self.worker_id, self.device, self._kinds())
                    if job is None:
                        break
                    task = asyncio.create_task(self._run(job), name=f"{self.device}-job:{job.id}")
                    self._running[job.id] = task  # type: ignore[index]
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                # arrives as the event is set, and the worker would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._claim_poll):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            unsubscribe()
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self, job: Job) -> None:
        job_id: int = job.id  # type: ignore[assignment]

        async def progress(fraction: float, message: str, preview: bytes | None = None) -> None:
            await self._events.emit(
                JobProgressed(job_id=job_id, batch=job.batch, progress=fraction, message=message, preview=preview)
            )
            await self._queue.report_progress(job_id, fraction, message)

        try:
            result = await self._execute(job, progress)
            self.last_error = None
            await self._queue.succeed(job_id, result)
        except asyncio.CancelledError:
            raise  # cancelled by the user (already recorded) or by shutdown (requeued on the next start)
        except StudioError as exc:
            await self._queue.fail(job_id, str(exc))
        except Exception as exc:
            await self._queue.fail(job_id, report_unexpected(log, exc, f"job {job_id} ({job.kind}) failed"))
        finally:
            self._running.pop(job_id, None)
            self._wake.set()

    def _kinds(self) -> Collection[str]:
        return self._handlers.cpu.keys()

    async def _execute(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        return await self._handlers.cpu[job.kind].run(job, progress)

    async def _on_job_changed(self, event: JobChanged) -> None:
        if event.change in ("submitted", "retried", "requeued") and event.device in (None, self.device):
            self._wake.set()
        elif event.change == "cancelled" and event.job_id in self._running:
            self._running[event.job_id].cancel()
