"""The autopilot's loop: one pass over every project whose autopilot is on, every `autopilot_tick_seconds`
and whenever a review decision or the end of a job it launched wakes it.

A pass: drift alerts for the projects with autonomy on; replenishment for their characters (the orchestrator
tops up its own characters in its training-data phase); the orchestrator's next actions. A rejected image goes
to auto-correction at once. A job the autopilot launched that fails pauses its project for
`autopilot_failure_pause_minutes`, with the job's error as the reason: a backend that is down is not retried
in a storm.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.autonomy.config import AutopilotConfig
from services.autonomy.correction import AutoCorrection
from services.autonomy.drift import DriftWatch
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.autonomy.orchestrator import Orchestrator
from services.autonomy.replenishment import Replenishment
from services.datasets.events import ImageDecided
from services.errors import NotFound, report_unexpected
from services.jobs import JobChanged, JobQueue
from studio.config import Settings
from studio.events import EventBus
from studio.models import ApprovalState, JobState

log = logging.getLogger(__name__)


class AutopilotRunner:
    def __init__(
        self,
        *,
        settings: Settings,
        events: EventBus,
        config: AutopilotConfig,
        log: DecisionLog,
        jobs: JobQueue,
        replenishment: Replenishment,
        correction: AutoCorrection,
        drift: DriftWatch,
        orchestrator: Orchestrator,
    ) -> None:
        self._settings = settings
        self._config = config
        self._log = log
        self._jobs = jobs
        self._replenishment = replenishment
        self._correction = correction
        self._drift = drift
        self._orchestrator = orchestrator
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pass = asyncio.Lock()  # one pass at a time: a wake during a pass runs the next one after it
        events.subscribe(ImageDecided, self._image_decided)
        events.subscribe(JobChanged, self._job_changed)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="autopilot")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Run a pass soon (a decision or a job end may open a gate)."""
        self._wake.set()

    async def tick(self) -> None:
        """One pass over every project whose autopilot runs (not paused)."""
        async with self._pass:
            running = await self._config.running()
            autonomous = [p.project_id for p in running if p.enabled]
            orchestrated = [p.project_id for p in running if p.orchestrator]
            if autonomous:
                await self._drift.check(autonomous)
                await self._replenishment.tick([p for p in autonomous if p not in orchestrated])
            if orchestrated:
                await self._orchestrator.tick(orchestrated)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                # Real time between passes (a simulated clock drives the limits, not this wait).
                await asyncio.wait_for(self._wake.wait(), timeout=self._settings.autopilot_tick_seconds)
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one pass must not end the loop
                report_unexpected(log, exc, "an autopilot pass failed")

    async def _image_decided(self, event: ImageDecided) -> None:
        if event.state == ApprovalState.REJECTED and not event.undo:
            await self._correction.on_rejected(event)
        self.wake()

    async def _job_changed(self, event: JobChanged) -> None:
        if event.state not in (JobState.SUCCEEDED, JobState.FAILED):
            return
        try:
            job = await self._jobs.get(event.job_id)
        except NotFound:
            return
        if job.created_by != AUTOPILOT:
            return
        if event.state == JobState.FAILED and job.project_id is not None:
            reason = f"job {job.id} ({job.title or job.kind}) failed: {event.error or job.error or 'no reason given'}"
            minutes = self._settings.autopilot_failure_pause_minutes
            await self._config.pause(job.project_id, reason, minutes)
            await self._log.record(
                loop="autopilot",
                action="pause",
                outcome="waiting",
                reason=f"paused for {minutes:g} min: {reason}",
                project_id=job.project_id,
                job_id=job.id,
            )
        self.wake()
