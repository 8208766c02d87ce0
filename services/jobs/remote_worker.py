"""The worker of one device's remote app (FramePack's own Gradio app): one job at a time, run in-process.

The app does the GPU work; this worker claims a job the device can serve, lets the kind's handler drive
the app and report progress, and records the outcome. The app renders one video at a time, so the worker
never holds more than one job. Cancelling a job cancels its task, and the handler stops the app's run. A
job an earlier run of the studio left running is queued again on start (the app keeps no record of it
that would let us re-attach).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.errors import StudioError
from services.jobs.events import JobChanged, JobProgressed
from services.jobs.handlers import JobHandlers
from services.jobs.queue import JobQueue
from studio.config import DeviceSettings
from studio.events import EventBus
from studio.models import Job

log = logging.getLogger(__name__)


class RemoteAppWorker:
    def __init__(
        self,
        *,
        device: DeviceSettings,
        url: str,
        worker_id: str,
        queue: JobQueue,
        handlers: JobHandlers,
        events: EventBus,
        claim_poll_seconds: float = 2.0,
    ) -> None:
        self.device = device.name
        self.url: str | None = url
        self.worker_id = worker_id
        self._settings = device
        self._queue = queue
        self._handlers = handlers
        self._events = events
        self._claim_poll = claim_poll_seconds
        self._running: tuple[int, asyncio.Task[None]] | None = None
        self._wake = asyncio.Event()
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        # The app is asked per job (gradio_client connects then); its errors name the URL.
        return True

    @property
    def in_flight(self) -> int:
        return 0 if self._running is None else 1

    async def run(self) -> None:
        unsubscribe = self._events.subscribe(JobChanged, self._on_job_changed)
        for job in await self._queue.claimed_by(self.worker_id):
            await self._queue.requeue_lost(job.id, f"the app at {self.url} (the studio stopped while it ran)")  # type: ignore[arg-type]
        try:
            while True:
                if self._running is None:
                    job = await self._queue.claim(self.worker_id, self.device, self._handlers.remote.keys())
                    if job is not None:
                        task = asyncio.create_task(self._run(job), name=f"remote-job:{job.id}")
                        self._running = (job.id, task)  # type: ignore[assignment]
                        continue
                # asyncio.timeout, not wait_for: see CpuWorker.run.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._claim_poll):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            unsubscribe()
            if self._running is not None:
                task = self._running[1]
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        job_id: int = job.id  # type: ignore[assignment]

        async def progress(fraction: float, message: str, preview: bytes | None = None) -> None:
            await self._events.emit(
                JobProgressed(job_id=job_id, batch=job.batch, progress=fraction, message=message, preview=preview)
            )
            await self._queue.report_progress(job_id, fraction, message)

        try:
            result = await self._handlers.remote[job.kind].run(job, self._settings, progress)
            self.last_error = None
            await self._queue.succeed(job_id, result)
        except asyncio.CancelledError:
            raise  # cancelled by the user (already recorded) or by shutdown (requeued on the next start)
        except StudioError as exc:
            await self._queue.fail(job_id, str(exc))
        except Exception as exc:
            log.exception("job %s (%s) on %s failed", job_id, job.kind, self.device)
            await self._queue.fail(job_id, f"{exc.__class__.__name__}: {exc}")
        finally:
            self._running = None
            self._wake.set()

    async def _on_job_changed(self, event: JobChanged) -> None:
        if event.change in ("submitted", "retried", "requeued") and event.device in (None, self.device):
            self._wake.set()
        elif event.change == "cancelled" and self._running is not None and self._running[0] == event.job_id:
            self._running[1].cancel()
