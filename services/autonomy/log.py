"""The decision log: every autonomous loop writes why it acted, waited or stopped, with the studio clock's time.

The log is also the loops' memory: a character's cooldown is the time of its last launched batch, its daily
limit the images launched since midnight UTC, both read back from here, so a restart changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any, Literal, get_args

from sqlalchemy import func
from sqlmodel import col, select

from services.autonomy.events import AutonomyDecided
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import AutonomyDecision

ACTED = "acted"
# The actor of every job and decision the autopilot makes.
AUTOPILOT = "autopilot"
# The loops that write decisions and a decision's outcomes: the decision log's filters (page and REST).
Loop = Literal["replenishment", "correction", "orchestrator", "drift", "autopilot"]
Outcome = Literal["acted", "waiting", "blocked", "failed", "done"]
LOOPS: tuple[Loop, ...] = get_args(Loop)
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


class DecisionLog:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock

    async def record(
        self,
        *,
        loop: str,
        action: str,
        outcome: str,
        reason: str,
        project_id: int | None = None,
        character_id: int | None = None,
        phase: str | None = None,
        count: int = 0,
        job_id: int | None = None,
        image_id: int | None = None,
        data: dict[str, Any] | None = None,
        actor: str = AUTOPILOT,
    ) -> AutonomyDecision:
        """Write one decision (at the clock's now) and announce it (audited, so Activity shows it too)."""
        decision = AutonomyDecision(
            at=self._clock.now(),
            project_id=project_id,
            character_id=character_id,
            loop=loop,
            action=action,
            outcome=outcome,
            phase=phase,
            reason=reason,
            count=count,
            job_id=job_id,
            image_id=image_id,
            actor=actor,
            data=data or {},
        )
        async with self._db.session() as session:
            session.add(decision)
        await self._events.emit(
            AutonomyDecided(
                actor=actor,
                decision_id=decision.id,  # type: ignore[arg-type]
                project_id=project_id,
                character_id=character_id,
                loop=loop,
                action=action,
                outcome=outcome,
                phase=phase,
                reason=reason,
                job_id=job_id,
            )
        )
        return decision

    async def list(
        self,
        *,
        project_id: int | None = None,
        character_id: int | None = None,
        loops: Sequence[str] = (),
        outcomes: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AutonomyDecision]:
        """The newest decisions first, filtered; `before_id` pages back through older ones."""
        query = select(AutonomyDecision)
        if project_id is not None:
            query = query.where(AutonomyDecision.project_id == project_id)
        if character_id is not None:
            query = query.where(AutonomyDecision.character_id == character_id)
        if loops:
            query = query.where(col(AutonomyDecision.loop).in_(loops))
        if outcomes:
            query = query.where(col(AutonomyDecision.outcome).in_(outcomes))
        if since is not None:
            query = query.where(AutonomyDecision.at >= since)
        if until is not None:
            query = query.where(AutonomyDecision.at < until)
        if before_id is not None:
            query = query.where(col(AutonomyDecision.id) < before_id)
        query = query.order_by(col(AutonomyDecision.id).desc()).limit(limit)
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    def day_start(self) -> datetime:
        """Midnight UTC of the clock's today: daily limits count from here."""
        now = self._clock.now()
        return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)

    async def launched_today(self, character_id: int, loops: Sequence[str]) -> int:
        """Images the given loops launched for a character since midnight UTC."""
        query = select(func.coalesce(func.sum(AutonomyDecision.count), 0)).where(
            AutonomyDecision.character_id == character_id,
            col(AutonomyDecision.loop).in_(loops),
            AutonomyDecision.outcome == ACTED,
            AutonomyDecision.at >= self.day_start(),
        )
        async with self._db.session() as session:
            return int((await session.exec(query)).one())

    async def last_acted_at(self, character_id: int, loops: Sequence[str]) -> datetime | None:
        """When the given loops last launched something for a character."""
        query = select(func.max(AutonomyDecision.at)).where(
            AutonomyDecision.character_id == character_id,
            col(AutonomyDecision.loop).in_(loops),
            AutonomyDecision.outcome == ACTED,
        )
        async with self._db.session() as session:
            return (await session.exec(query)).one()
