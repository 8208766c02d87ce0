"""The persistent job queue: submit, claim, progress, finish, cancel, retry.

Every transition out of "running" is a conditional UPDATE (`WHERE state = 'running'`), so a job a user
cancelled while it ran stays cancelled when its worker later reports success. A worker that claims a job
before its device starts it (a prompt queued ahead on ComfyUI) leaves `started_at` empty until `start`;
one that is about to store a finished job's outputs takes it out of reach of a cancel first (`finishing`),
so a job is never both cancelled and holding new outputs. Claiming takes the best
queued job with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several studio processes can share one queue
without ever running a job twice; SQLite has a single writer, and the same conditional UPDATE makes the
claim atomic there.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, or_, select

from services.errors import Conflict, NotFound
from services.jobs.events import JobChanged
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import Job, JobPriority, JobState

FINISHED_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class JobDraft:
    kind: str
    payload: dict[str, Any]
    title: str = ""
    device: str | None = None
    priority: int = JobPriority.INTERACTIVE
    max_attempts: int = 1
    batch: str | None = None
    project_id: int | None = None


@dataclass(frozen=True)
class JobFilter:
    states: Collection[JobState] = field(default_factory=tuple)
    project_id: int | None = None
    kind: str | None = None
    device: str | None = None
    batch: str | None = None
    limit: int = 200


def new_batch_id() -> str:
    return uuid.uuid4().hex


class JobQueue:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock

    # --- what users and services call ---------------------------------------------------------------

    async def submit(self, drafts: Sequence[JobDraft], actor: str) -> list[Job]:
        """Queue jobs in one transaction (a batch is all-or-nothing); announces each one."""
        jobs = [
            Job(
                kind=d.kind,
                payload=d.payload,
                title=d.title[:200],
                device=d.device,
                priority=d.priority,
                max_attempts=max(1, d.max_attempts),
                batch=d.batch,
                project_id=d.project_id,
                created_by=actor,
            )
            for d in drafts
        ]
        async with self._db.session() as session:
            session.add_all(jobs)
        for job in jobs:
            await self._announce(job, "submitted", actor)
        return jobs

    async def get(self, job_id: int) -> Job:
        async with self._db.session() as session:
            job = await session.get(Job, job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job

    async def unfinished(self, job_id: int | None) -> Job | None:
        """The job while it is queued or running (None when unset, finished, cancelled or lost)."""
        if job_id is None:
            return None
        job = await self.get(job_id)
        return None if job.state in FINISHED_STATES else job

    async def list(self, where: JobFilter | None = None) -> list[Job]:
        """Newest first."""
        where = where or JobFilter()
        query = select(Job).order_by(col(Job.id).desc()).limit(max(1, min(where.limit, 1000)))
        if where.states:
            query = query.where(col(Job.state).in_(list(where.states)))
        if where.kind:
            query = query.where(Job.kind == where.kind)
        if where.device:
            query = query.where(or_(Job.device == where.device, Job.ran_on == where.device))
        if where.batch:
            query = query.where(Job.batch == where.batch)
        if where.project_id is not None:
            query = query.where(Job.project_id == where.project_id)
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def cancel(self, job_id: int, actor: str) -> Job:
        """Cancel a queued or running job (its worker stops the backend).

        Conflict: it already finished, or its device finished it and its outputs are being stored.
        """
        job = await self.get(job_id)
        if job.state in FINISHED_STATES:
            raise Conflict(f"job {job_id} already {job.state.value}; only queued or running jobs can be cancelled")
        if job.state == JobState.RUNNING and job.finished_at is not None:
            raise Conflict(
                f"job {job_id} already ran to its end on {job.ran_on} and its outputs are being stored; "
                "it can no longer be cancelled"
            )
        changed = await self._transition(
            job_id,
            (JobState.QUEUED, JobState.RUNNING),
            col(Job.finished_at).is_(None),
            state=JobState.CANCELLED,
            finished_at=self._clock.now(),
            error=f"cancelled by {actor}",
        )
        if not changed:
            return await self.cancel(job_id, actor)  # it finished (or began storing) meanwhile: report that
        job = await self.get(job_id)
        await self._announce(job, "cancelled", actor)
        return job

    async def retry(self, job_id: int, actor: str) -> Job:
        """Queue a failed or cancelled job again. Conflict: it is still queued, running or succeeded."""
        job = await self.get(job_id)
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise Conflict(f"job {job_id} is {job.state.value}; only failed or cancelled jobs can be retried")
        changed = await self._transition(
            job_id,
            (JobState.FAILED, JobState.CANCELLED),
            state=JobState.QUEUED,
            error=None,
            progress=0.0,
            progress_message="",
            external_handle=None,
            claimed_by=None,
            result=None,
            finished_at=None,
            started_at=None,
            requeues=0,
            max_attempts=job.attempts + 1,
        )
        if not changed:
            raise Conflict(f"job {job_id} changed while retrying it; reload and try again")
        job = await self.get(job_id)
        await self._announce(job, "retried", actor)
        return job

    # --- what workers call ----------------------------------------------------------------------------

    async def claim(self, worker: str, device: str, kinds: Collection[str], *, started: bool = True) -> Job | None:
        """Take the most urgent queued job this device can run (pinned to it or to no device), or None.

        `started=False`: the device queues it before running it; it waits on the device until `start`.
        """
        if not kinds:
            return None
        query = (
            select(Job)
            .where(
                Job.state == JobState.QUEUED,
                col(Job.kind).in_(list(kinds)),
                or_(Job.device == device, col(Job.device).is_(None)),
            )
            .order_by(col(Job.priority), col(Job.id))
            .limit(1)
        )
        if self._db.kind == "postgresql":
            query = query.with_for_update(skip_locked=True)
        phase: dict[str, Any] = (
            {"started_at": self._clock.now()}
            if started
            else {"started_at": None, "progress_message": f"waiting on {device}"}
        )
        async with self._db.session() as session:
            job = (await session.exec(query)).first()
            if job is None:
                return None
            result = await session.exec(  # type: ignore[call-overload]
                update(Job)
                .where(col(Job.id) == job.id, col(Job.state) == JobState.QUEUED)
                .values(
                    state=JobState.RUNNING,
                    claimed_by=worker,
                    ran_on=device,
                    attempts=Job.attempts + 1,
                    finished_at=None,
                    updated_at=self._clock.now(),
                    **phase,
                )
            )
            if result.rowcount != 1:
                return None
        claimed = await self.get(job.id)  # type: ignore[arg-type]
        await self._announce(claimed, "started" if started else "claimed", "studio")
        return claimed

    async def start(self, job_id: int, message: str, at: datetime | None = None) -> bool:
        """The device began running a job claimed with `started=False` (at `at`, default now).

        False when it was started already, or is no longer running.
        """
        changed = await self._transition(
            job_id,
            (JobState.RUNNING,),
            col(Job.started_at).is_(None),
            started_at=at or self._clock.now(),
            progress_message=message[:500],
        )
        if changed:
            await self._announce(await self.get(job_id), "started", "studio")
        return changed

    async def release(self, job_id: int) -> None:
        """Give a claimed job back untouched (its backend could not take it right now)."""
        await self._transition(
            job_id,
            (JobState.RUNNING,),
            state=JobState.QUEUED,
            claimed_by=None,
            external_handle=None,
            attempts=Job.attempts - 1,
            started_at=None,
        )

    async def attach(self, job_id: int, handle: str, message: str | None = None) -> None:
        """Record the backend's handle (ComfyUI's prompt id) so a restart can find the job again."""
        values: dict[str, Any] = {"external_handle": handle}
        if message is not None:
            values["progress_message"] = message[:500]
        await self._transition(job_id, (JobState.RUNNING,), **values)

    async def finishing(self, job_id: int, handle: str, message: str) -> bool:
        """The backend ended the job's run `handle`: from now on a cancel is refused (Conflict) while the
        worker stores what it made. False: the job was cancelled (or runs again under another handle) —
        store nothing."""
        return await self._transition(
            job_id,
            (JobState.RUNNING,),
            col(Job.external_handle) == handle,
            finished_at=self._clock.now(),
            progress_message=message[:500],
        )

    async def report_progress(self, job_id: int, fraction: float, message: str) -> None:
        await self._transition(
            job_id, (JobState.RUNNING,), progress=max(0.0, min(1.0, fraction)), progress_message=message[:500]
        )

    async def succeed(self, job_id: int, result: dict[str, Any], gpu_seconds: float | None = None) -> bool:
        """Mark a running job done; False when it was cancelled meanwhile (the result is dropped)."""
        changed = await self._transition(
            job_id,
            (JobState.RUNNING,),
            state=JobState.SUCCEEDED,
            result=result,
            progress=1.0,
            gpu_seconds=gpu_seconds,
            finished_at=self._clock.now(),
        )
        if changed:
            await self._announce(await self.get(job_id), "succeeded", "studio")
        return changed

    async def fail(
        self, job_id: int, error: str, gpu_seconds: float | None = None, *, forget_handle: bool = False
    ) -> bool:
        """Mark a running job failed. `forget_handle`: the backend never took it (e.g. ComfyUI rejected the
        prompt), so the job keeps no handle that looks like a run."""
        values: dict[str, Any] = {"external_handle": None} if forget_handle else {}
        changed = await self._transition(
            job_id,
            (JobState.RUNNING,),
            state=JobState.FAILED,
            error=error[:MAX_ERROR_CHARS],
            gpu_seconds=gpu_seconds,
            finished_at=self._clock.now(),
            **values,
        )
        if changed:
            await self._announce(await self.get(job_id), "failed", "studio")
        return changed

    async def requeue_lost(self, job_id: int, backend: str) -> bool:
        """The backend forgot a running job (it restarted): queue it again once, then fail it.

        Returns True when the job was queued again.
        """
        job = await self.get(job_id)
        if job.state != JobState.RUNNING:
            return False
        if job.requeues >= 1:
            await self.fail(
                job_id,
                f"{backend} lost this job twice (it restarted or its queue was cleared while the job waited); "
                "retry it when the server is stable",
            )
            return False
        changed = await self._transition(
            job_id,
            (JobState.RUNNING,),
            state=JobState.QUEUED,
            requeues=Job.requeues + 1,
            attempts=Job.attempts - 1,
            external_handle=None,
            claimed_by=None,
            started_at=None,
            finished_at=None,
            progress=0.0,
            progress_message=f"requeued: {backend} no longer knew it",
        )
        if changed:
            await self._announce(await self.get(job_id), "requeued", "studio")
        return changed

    async def claimed_by(self, worker: str) -> list[Job]:
        """Jobs a worker holds as running (on startup: the ones an earlier run left behind)."""
        query = select(Job).where(Job.state == JobState.RUNNING, Job.claimed_by == worker).order_by(col(Job.id))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    # --- internals -------------------------------------------------------------------------------------

    async def _transition(
        self, job_id: int, from_states: Collection[JobState], *conditions: Any, **values: Any
    ) -> bool:
        statement = (
            update(Job)
            .where(col(Job.id) == job_id, col(Job.state).in_(list(from_states)), *conditions)
            .values(updated_at=self._clock.now(), **values)
        )
        async with self._db.session() as session:
            result = await session.exec(statement)  # type: ignore[call-overload]
            return bool(result.rowcount == 1)

    async def _announce(self, job: Job, change: str, actor: str) -> None:
        await self._events.emit(
            JobChanged(
                actor=actor,
                job_id=job.id,  # type: ignore[arg-type]
                kind=job.kind,
                title=job.title,
                state=job.state.value,
                change=change,
                device=job.ran_on or job.device,
                batch=job.batch,
                project_id=job.project_id,
                error=job.error if change in ("failed", "cancelled") else None,
            )
        )
