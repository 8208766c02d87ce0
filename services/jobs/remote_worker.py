"""The worker of one device's remote app (FramePack's own Gradio app, an ACE-Step music server): one job at
a time, run in-process.

The app does the GPU work; this worker claims a job of the app's kind, lets the kind's handler drive the
app and report progress, and records the outcome. These apps render one thing at a time, so the worker
never holds more than one job. Cancelling a job cancels its task, and the handler stops the app's run. A
job an earlier run of the studio left running is queued again on start (the app keeps no record of it
that would let us re-attach).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from services.jobs.cpu_worker import CpuWorker
from services.jobs.handlers import JobHandlers, ProgressSink
from services.jobs.queue import JobQueue
from studio.config import DeviceSettings
from studio.events import EventBus
from studio.models import Job


class RemoteAppWorker(CpuWorker):
    def __init__(
        self,
        *,
        device: DeviceSettings,
        url: str,
        kind: str,
        worker_id: str,
        queue: JobQueue,
        handlers: JobHandlers,
        events: EventBus,
        claim_poll_seconds: float = 2.0,
    ) -> None:
        super().__init__(
            worker_id=worker_id,
            queue=queue,
            handlers=handlers,
            events=events,
            concurrency=1,  # the app renders one thing at a time
            claim_poll_seconds=claim_poll_seconds,
            device=device.name,
            url=url,
        )
        self._settings = device
        self._kind = kind
        self.lost_at = f"the app at {url} (the studio stopped while it ran)"

    def _kinds(self) -> Collection[str]:
        return (self._kind,)

    async def _execute(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        return await self._handlers.remote[job.kind].run(job, self._settings, progress)
