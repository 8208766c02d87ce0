"""Replenishment: small background batches for every character below its approved-image target.

Every guard of the earlier system, each read from the database so a restart changes nothing: the target, the
images still waiting for review (pending buffer), a batch still generating, the studio-wide number of
background image jobs, the per-character cooldown, the daily limit (midnight UTC) and a pause after N
rejections in a row (an approval resumes it). The orchestrator's training-data phase launches its batches
through `consider` too, so it cannot bypass the cooldown or the daily limit (the earlier orchestrator did).

`standing` reads all of it for many characters at once with a handful of GROUP BY queries: a pass over a
studio where nothing needs a batch costs a few queries, not a few per character.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select

from services.autonomy.config import AutopilotConfig
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.errors import StudioError
from services.generation import IMAGE_JOB, ImageBatchDraft, ImageGeneration
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import (
    ApprovalState,
    AutonomyDecision,
    Autopilot,
    Character,
    CharacterTarget,
    DatasetImage,
    Job,
    JobPriority,
    JobState,
    ReviewDecision,
)

LOOP = "replenishment"
ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
# A project without an Autopilot row has the model's default target.
DEFAULT_TARGET: int = Autopilot.model_fields["default_target"].default

# Why a character waits, by guard; a waiting character logs again only when its guard changes.
DONE = "done"
PENDING = "pending"
GENERATING = "generating"
BUSY = "busy"
COOLDOWN = "cooldown"
DAILY = "daily"
REJECTS = "rejects"


@dataclass(frozen=True)
class Hold:
    """The first guard that holds a character back: which one, the log outcome, and the sentence shown."""

    guard: str
    outcome: str  # done | waiting | blocked
    reason: str


@dataclass(frozen=True)
class CharacterStanding:
    """Everything the replenishment guards read for one character, and the limits they were judged against
    (the settings are live, so a standing carries the values of the moment it was read)."""

    character_id: int
    project_id: int
    name: str
    target: int  # effective: the character's own target, else its project's default
    approved: int
    pending: int
    launched_today: int  # images replenishment launched for it since midnight UTC
    last_batch_at: datetime | None
    active_jobs: int  # its autopilot image jobs queued or running (replenishment and corrections)
    studio_active_jobs: int  # every autopilot image job queued or running, over the whole studio
    consecutive_rejects: int  # rejections since its latest approval
    now: datetime
    batch_size: int
    pending_buffer: int
    cooldown_seconds: float
    daily_limit: int
    max_active_jobs: int
    pause_after_rejects: int

    @property
    def reached(self) -> bool:
        return self.approved >= self.target

    @property
    def missing(self) -> int:
        """Images still to generate to reach the target once every pending one is approved."""
        return max(0, self.target - self.approved - self.pending)

    @property
    def cooldown_until(self) -> datetime | None:
        if self.last_batch_at is None:
            return None
        return self.last_batch_at + timedelta(seconds=self.cooldown_seconds)

    @property
    def daily_remaining(self) -> int:
        return max(0, self.daily_limit - self.launched_today)

    @property
    def batch(self) -> int:
        """Images the next batch has: 0 while a guard holds it."""
        if self.held is not None:
            return 0
        # Capped by the room left under the studio-wide limit too: the limit is a ceiling, not a gate.
        return min(self.missing, self.batch_size, self.daily_remaining, self.max_active_jobs - self.studio_active_jobs)

    @property
    def hold(self) -> str | None:
        """The first guard that holds the character, as a sentence; None when a batch may start."""
        held = self.held
        return held.reason if held is not None else None

    @property
    def held(self) -> Hold | None:
        # The earlier system's order: the target, then what is already on its way, then the rate limits.
        if self.reached:
            return Hold(DONE, "done", f"target reached ({self.approved} of {self.target} approved)")
        if self.pending >= self.pending_buffer or self.missing == 0:
            waits = "1 image waits" if self.pending == 1 else f"{self.pending} images wait"
            return Hold(PENDING, "waiting", f"{waits} for review")
        if self.active_jobs > 0:
            jobs = "1 image job" if self.active_jobs == 1 else f"{self.active_jobs} image jobs"
            return Hold(GENERATING, "waiting", f"its last batch is still generating ({jobs} queued or running)")
        if self.studio_active_jobs >= self.max_active_jobs:
            return Hold(BUSY, "waiting", f"{self.studio_active_jobs} background image jobs already running")
        until = self.cooldown_until
        if until is not None and until > self.now:
            return Hold(COOLDOWN, "waiting", f"cooldown until {until:%H:%M} UTC")
        if self.daily_remaining == 0:
            return Hold(
                DAILY,
                "waiting",
                f"daily limit reached ({self.launched_today} of {self.daily_limit}); more after midnight UTC",
            )
        if self.consecutive_rejects >= self.pause_after_rejects:
            return Hold(
                REJECTS,
                "blocked",
                f"paused after {self.consecutive_rejects} rejections in a row; an approval resumes it",
            )
        return None


class Replenishment:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        log: DecisionLog,
        config: AutopilotConfig,
        images: ImageGeneration,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._log = log
        self._config = config
        self._images = images
        # The guard each character last logged, so a waiting character does not log every pass (memory only:
        # after a restart each one logs its reason once more).
        self._last_guard: dict[int, str] = {}
        # Checking the guards and launching is one step: two callers (a pass, the orchestrator) never both
        # launch on the same reading.
        self._launching = asyncio.Lock()

    async def tick(self, project_ids: list[int]) -> None:
        """Top up every character of these projects that is below its target (guards permitting)."""
        if not project_ids:
            return
        query = (
            select(Character.id)
            .where(col(Character.project_id).in_(project_ids), col(Character.deleted_at).is_(None))
            .order_by(col(Character.project_id), col(Character.id))
        )
        async with self._db.session() as session:
            character_ids = [cid for cid in (await session.exec(query)).all() if cid is not None]
        standings = await self.standing(character_ids)
        paused: set[int] = set()
        for character_id in character_ids:
            standing = standings.get(character_id)
            if standing is None or standing.project_id in paused:
                continue
            held = standing.held
            if held is not None:
                await self._note(standing, held, phase=None)
                continue
            # A batch may start: check again on fresh numbers (a batch launched earlier in this pass counts
            # against the studio-wide limit).
            decision = await self.consider(character_id, trigger="tick")
            if decision is not None and decision.outcome == "failed":
                paused.add(standing.project_id)

    async def consider(self, character_id: int, *, trigger: str, phase: str | None = None) -> AutonomyDecision | None:
        """Check one character's guards; launch a batch or log why not. None: nothing new to say."""
        async with self._launching:
            standing = (await self.standing([character_id])).get(character_id)
            if standing is None:
                return None  # deleted meanwhile
            held = standing.held
            if held is not None:
                return await self._note(standing, held, phase=phase)
            if await self._project_paused(standing.project_id):
                return None  # a refusal or a failed job paused it; the pause's own decision says why
            return await self._launch(standing, trigger=trigger, phase=phase)

    async def standing(self, character_ids: list[int]) -> dict[int, CharacterStanding]:
        """What the guards read, for each given live character (deleted or unknown ones are left out)."""
        ids = sorted(set(character_ids))
        if not ids:
            return {}
        now = self._clock.now()
        day_start = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
        async with self._db.session() as session:
            characters = (await session.exec(character_targets_query(ids))).all()
            counts = (await session.exec(_image_counts_query(ids))).all()
            launches = (await session.exec(_launches_query(ids, day_start))).all()
            active = (await session.exec(_active_jobs_query())).all()
            rejects = (await session.exec(_consecutive_rejects_query(ids))).all()
        images: dict[int, dict[str, int]] = defaultdict(dict)
        for character_id, state, count in counts:
            images[character_id][str(state)] = int(count)
        launched = {cid: (last, int(today or 0)) for cid, last, today in launches}
        active_by_character = _count_by_character(active)
        rejected = {cid: int(count) for cid, count in rejects}
        settings = self._settings
        return {
            cid: CharacterStanding(
                character_id=cid,
                project_id=project_id,
                name=name,
                target=int(target),
                approved=images[cid].get(ApprovalState.APPROVED, 0),
                pending=images[cid].get(ApprovalState.PENDING, 0),
                launched_today=launched.get(cid, (None, 0))[1],
                last_batch_at=launched.get(cid, (None, 0))[0],
                active_jobs=active_by_character.get(cid, 0),
                studio_active_jobs=len(active),
                consecutive_rejects=rejected.get(cid, 0),
                now=now,
                batch_size=settings.replenish_batch_size,
                pending_buffer=settings.replenish_pending_buffer,
                cooldown_seconds=settings.replenish_cooldown_seconds,
                daily_limit=settings.replenish_daily_limit,
                max_active_jobs=settings.replenish_max_active_jobs,
                pause_after_rejects=settings.replenish_pause_after_rejects,
            )
            for cid, project_id, name, target in characters
        }

    async def _note(self, standing: CharacterStanding, held: Hold, *, phase: str | None) -> AutonomyDecision | None:
        """Log why a character waits, once per guard (not every pass)."""
        if self._last_guard.get(standing.character_id) == held.guard:
            return None
        self._last_guard[standing.character_id] = held.guard
        return await self._log.record(
            loop=LOOP,
            action="generate" if held.guard == DONE else "wait",
            outcome=held.outcome,
            reason=f"{standing.name}: {held.reason}",
            project_id=standing.project_id,
            character_id=standing.character_id,
            phase=phase,
            data=_numbers(standing),
        )

    async def _launch(self, standing: CharacterStanding, *, trigger: str, phase: str | None) -> AutonomyDecision:
        count = standing.batch
        draft = ImageBatchDraft(count=count)
        numbers = {**_numbers(standing), "trigger": trigger}
        try:
            jobs = await self._images.generate(standing.character_id, draft, AUTOPILOT, priority=JobPriority.BACKGROUND)
        except StudioError as exc:
            # Refused (no ComfyUI device, no style...): the next pass would be refused alike, so pause the
            # project like a failed job does instead of asking again every pass.
            minutes = self._settings.autopilot_failure_pause_minutes
            reason = f"{standing.name}: a batch was refused: {exc}"
            self._last_guard.pop(standing.character_id, None)
            await self._config.pause(standing.project_id, reason, minutes)
            return await self._log.record(
                loop=LOOP,
                action="generate",
                outcome="failed",
                reason=f"{reason} (paused for {minutes:g} min)",
                project_id=standing.project_id,
                character_id=standing.character_id,
                phase=phase,
                data=numbers,
            )
        self._last_guard.pop(standing.character_id, None)
        more = "1 more" if count == 1 else f"{count} more"
        return await self._log.record(
            loop=LOOP,
            action="generate",
            outcome="acted",
            reason=f"{standing.name} has {standing.approved} of {standing.target} approved; {more}",
            project_id=standing.project_id,
            character_id=standing.character_id,
            phase=phase,
            count=count,
            job_id=jobs[0].id if jobs else None,
            data={**numbers, "job_ids": [job.id for job in jobs]},
        )

    async def _project_paused(self, project_id: int) -> bool:
        async with self._db.session() as session:
            row = await session.get(Autopilot, project_id)
        return row is not None and self._config.is_paused(row)


def _numbers(standing: CharacterStanding) -> dict[str, int]:
    """The counts a decision records, so the log shows what the guards saw."""
    return {
        "approved": standing.approved,
        "pending": standing.pending,
        "target": standing.target,
        "launched_today": standing.launched_today,
        "active_jobs": standing.active_jobs,
        "consecutive_rejects": standing.consecutive_rejects,
    }


def character_targets_query(ids: list[int]) -> Any:
    """(id, project_id, name, effective target) of the given live characters: the target as AutopilotConfig.get
    computes it (own target, else the project's default), for many projects in one query. Replenishment's guards
    and the analytics' project health both read it."""
    target = func.coalesce(CharacterTarget.target, Autopilot.default_target, DEFAULT_TARGET)
    return (
        select(Character.id, Character.project_id, Character.name, target)
        .outerjoin(CharacterTarget, col(CharacterTarget.character_id) == col(Character.id))
        .outerjoin(Autopilot, col(Autopilot.project_id) == col(Character.project_id))
        .where(col(Character.id).in_(ids), col(Character.deleted_at).is_(None))
    )


def _image_counts_query(ids: list[int]) -> Any:
    # ix_images_character_state answers this from the index alone.
    return (
        select(DatasetImage.character_id, DatasetImage.approval_state, func.count())
        .where(
            col(DatasetImage.character_id).in_(ids),
            col(DatasetImage.approval_state).in_([ApprovalState.APPROVED, ApprovalState.PENDING]),
        )
        .group_by(col(DatasetImage.character_id), col(DatasetImage.approval_state))
    )


def _launches_query(ids: list[int], day_start: datetime) -> Any:
    # DecisionLog.last_acted_at and launched_today for many characters at once (ix_autonomy_decisions_character_loop).
    today = func.sum(case((col(AutonomyDecision.at) >= day_start, AutonomyDecision.count), else_=0))
    return (
        select(AutonomyDecision.character_id, func.max(AutonomyDecision.at), today)
        .where(
            col(AutonomyDecision.character_id).in_(ids),
            AutonomyDecision.loop == LOOP,
            AutonomyDecision.outcome == "acted",
        )
        .group_by(col(AutonomyDecision.character_id))
    )


def _active_jobs_query() -> Any:
    # Few rows: the autopilot's image jobs not finished yet (ix_jobs_claim leads with the state).
    return select(Job.payload).where(
        col(Job.state).in_(ACTIVE_STATES), Job.kind == IMAGE_JOB, Job.created_by == AUTOPILOT
    )


def _consecutive_rejects_query(ids: list[int]) -> Any:
    # Rejections (any decider, not undone) after the character's latest approval (any decider, not undone):
    # an approval, by a person or by the vision review, resumes a character paused after rejections.
    latest = (
        select(ReviewDecision.character_id, func.max(ReviewDecision.id).label("approved_id"))
        .where(
            col(ReviewDecision.character_id).in_(ids),
            ReviewDecision.state == ApprovalState.APPROVED,
            col(ReviewDecision.undone_at).is_(None),
        )
        .group_by(col(ReviewDecision.character_id))
        .subquery()
    )
    return (
        select(ReviewDecision.character_id, func.count())
        .outerjoin(latest, latest.c.character_id == col(ReviewDecision.character_id))
        .where(
            col(ReviewDecision.character_id).in_(ids),
            ReviewDecision.state == ApprovalState.REJECTED,
            col(ReviewDecision.undone_at).is_(None),
            col(ReviewDecision.id) > func.coalesce(latest.c.approved_id, 0),
        )
        .group_by(col(ReviewDecision.character_id))
    )


def _count_by_character(payloads: Iterable[object]) -> dict[int, int]:
    counts: dict[int, int] = defaultdict(int)
    for payload in payloads:
        character_id = payload.get("character_id") if isinstance(payload, dict) else None
        if isinstance(character_id, int):
            counts[character_id] += 1
    return counts
