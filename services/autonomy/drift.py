"""Drift: a character whose latest reviewed images are approved (or scored) clearly less than its history.

The rule, per character (learning's facts: generated images a person or the vision review decided):
- the recent window is its newest `drift_window` decided images, the history every image decided before them;
- it is judged only with a full window and at least `drift_window` images of history: fewer is noise;
- it drifts when the recent approval rate is below the history's by more than `drift_drop`, or below
  `drift_floor`, or (where both have scores) the recent mean score is below the history's by more than
  `drift_drop`.
A drifting character gets one open DriftAlert (a DriftDetected event and a decision: loop "drift", action
"alert", outcome "acted"); when it no longer drifts the alert is resolved (DriftDetected with resolved=True, a
decision with action "recover", outcome "done"). A character without enough reviews keeps its alert as it is.

Measuring: a project is measured whole (all its characters' totals in one GROUP BY and their newest windows in
one query, Learning.recent_against_history) when it is first checked; after that only characters with new review
decisions are measured again, found by the review_decisions ids above the newest one seen (decisions of any
process) and by this process's ImageDecided events (an undo adds no decision row). Moving images between
characters measures the project whole again. A pass over hundreds of unchanged characters thus reads no images at
all. (A deleted image counts until its character's next decision; changing drift_window measures everything anew.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select

from services.autonomy.events import DriftDetected
from services.autonomy.learning import Learning, Measure
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.datasets.events import ImageDecided, ImagesReassigned
from services.errors import NotFound
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Autopilot, Character, DriftAlert, Project, ReviewDecision

MAX_RESOLVED = 200


@dataclass(frozen=True)
class DriftAlertView:
    """An alert as the Autopilot and Activity pages and the API show it."""

    id: int
    project_id: int
    character_id: int
    character_name: str
    detected_at: datetime
    recent_approval: float
    overall_approval: float  # the history before the recent window
    recent_score: float | None
    overall_score: float | None
    recent_samples: int
    reason: str
    resolved_at: datetime | None


class DriftWatch:
    def __init__(
        self, *, settings: Settings, db: Database, events: EventBus, clock: Clock, log: DecisionLog, learning: Learning
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._clock = clock
        self._log = log
        self._learning = learning
        # The measures kept between passes (see the module docstring): per judged character, the projects
        # measured whole, the newest review decision seen, and the window they were taken with.
        self._measures: dict[int, Measure] = {}
        self._measured_projects: set[int] = set()
        self._seen_decision = 0
        self._measured_window: int | None = None
        self._changed: set[int] = set()  # characters decided or undone in this process since the last pass
        events.subscribe(ImageDecided, self._image_decided)
        events.subscribe(ImagesReassigned, self._images_reassigned)

    async def check(self, project_ids: list[int] | None = None) -> None:
        """Open or close drift alerts for the projects' characters (None: every project with autonomy on)."""
        if project_ids is None:
            async with self._db.session() as session:
                enabled = select(Autopilot.project_id).where(col(Autopilot.enabled).is_(True))
                project_ids = list((await session.exec(enabled)).all())
        if not project_ids:
            return
        await self._remeasure(project_ids)
        async with self._db.session() as session:
            open_alerts = (
                await session.exec(
                    select(DriftAlert).where(
                        col(DriftAlert.project_id).in_(project_ids), col(DriftAlert.resolved_at).is_(None)
                    )
                )
            ).all()
            characters = (
                await session.exec(
                    select(Character.id, Character.name).where(
                        col(Character.project_id).in_(project_ids), col(Character.deleted_at).is_(None)
                    )
                )
            ).all()
        alerts = {alert.character_id: alert for alert in open_alerts}
        for character_id, name in characters:
            measure = self._measures.get(character_id)  # type: ignore[arg-type]
            if measure is None:
                continue  # too few reviews to judge: an open alert stays as it is
            reason = self.drift_reason(measure)
            alert = alerts.get(character_id)  # type: ignore[arg-type]
            if reason is not None and alert is None:
                await self._open(measure, name, reason)
            elif reason is None and alert is not None:
                await self._resolve(alert, measure, name)

    async def _remeasure(self, project_ids: list[int]) -> None:
        """Bring the kept measures up to date: whole projects not measured yet, else only the characters with
        review decisions since the last pass (any process's: read from review_decisions by id)."""
        window = self._settings.drift_window
        if window != self._measured_window:
            self._measures.clear()
            self._measured_projects.clear()
            self._measured_window = window
        changed, self._changed = self._changed, set()
        async with self._db.session() as session:
            if self._measured_projects:
                since = (
                    select(ReviewDecision.character_id, func.max(ReviewDecision.id))
                    .where(col(ReviewDecision.id) > self._seen_decision)
                    .group_by(col(ReviewDecision.character_id))
                )
                rows = (await session.exec(since)).all()
                changed.update(character_id for character_id, _ in rows if character_id is not None)
                newest = max((last for _, last in rows), default=self._seen_decision)
            else:  # nothing kept: every project is measured whole when it is first checked
                newest = (await session.exec(select(func.max(ReviewDecision.id)))).one() or 0
        self._seen_decision = max(self._seen_decision, newest)
        unmeasured = [p for p in project_ids if p not in self._measured_projects]
        self._measures = {
            c: m for c, m in self._measures.items() if c not in changed and m.project_id not in unmeasured
        }
        found = []
        if unmeasured:
            found += await self._learning.recent_against_history(window, project_ids=unmeasured)
        if changed:
            found += await self._learning.recent_against_history(window, character_ids=sorted(changed))
        self._measures.update((m.character_id, m) for m in found)
        self._measured_projects.update(unmeasured)

    async def _image_decided(self, event: ImageDecided) -> None:
        if event.character_id is not None:
            self._changed.add(event.character_id)

    async def _images_reassigned(self, event: ImagesReassigned) -> None:
        # The images' former characters are not named: measure the project anew.
        self._measured_projects.discard(event.project_id)

    def drift_reason(self, measure: Measure) -> str | None:
        """Why `measure` is drift, in words; None when it is not (live settings)."""
        drop, floor = self._settings.drift_drop, self._settings.drift_floor
        recent, history = measure.recent_approval, measure.history_approval
        reasons = []
        if recent < history - drop:
            reasons.append(
                f"{recent:.0%} of the last {measure.recent_samples} images approved, "
                f"against {history:.0%} of the {measure.history_samples} before"
            )
        elif recent < floor:
            reasons.append(f"{recent:.0%} of the last {measure.recent_samples} images approved (below {floor:.0%})")
        scores = measure.recent_score, measure.history_score
        if scores[0] is not None and scores[1] is not None and scores[0] < scores[1] - drop:
            reasons.append(f"mean score {scores[0]:.2f} against {scores[1]:.2f} before")
        return "; ".join(reasons) or None

    async def alerts(self, project_id: int | None = None, include_resolved: bool = False) -> list[DriftAlertView]:
        """Open alerts of live characters, newest first (then the latest resolved ones, when asked). NotFound: no such
        project."""
        query = (
            select(DriftAlert, Character.name)
            .join(Character, col(Character.id) == DriftAlert.character_id)
            .where(col(Character.deleted_at).is_(None))  # a deleted character generates nothing to watch
        )
        async with self._db.session() as session:
            if project_id is not None:
                if await session.get(Project, project_id) is None:
                    raise NotFound(f"there is no project {project_id}")
                query = query.where(DriftAlert.project_id == project_id)
            if not include_resolved:
                query = query.where(col(DriftAlert.resolved_at).is_(None))
            query = query.order_by(col(DriftAlert.resolved_at).is_not(None), col(DriftAlert.id).desc())
            rows = (await session.exec(query.limit(MAX_RESOLVED))).all()
        return [_view(alert, name) for alert, name in rows]

    async def _open(self, measure: Measure, name: str, reason: str) -> None:
        alert = DriftAlert(
            project_id=measure.project_id,
            character_id=measure.character_id,
            detected_at=self._clock.now(),
            recent_approval=measure.recent_approval,
            overall_approval=measure.history_approval,
            recent_score=measure.recent_score,
            overall_score=measure.history_score,
            recent_samples=measure.recent_samples,
            reason=reason,
        )
        async with self._db.session() as session:
            session.add(alert)
        await self._announce(alert.id, measure, name, reason, resolved=False)  # type: ignore[arg-type]

    async def _resolve(self, alert: DriftAlert, measure: Measure, name: str) -> None:
        reason = (
            f"{measure.recent_approval:.0%} of the last {measure.recent_samples} images approved, "
            f"{measure.history_approval:.0%} before"
        )
        async with self._db.session() as session:
            row = await session.get(DriftAlert, alert.id)
            if row is None or row.resolved_at is not None:
                return  # resolved meanwhile (another pass or process)
            row.resolved_at = self._clock.now()
            session.add(row)
        await self._announce(alert.id, measure, name, reason, resolved=True)  # type: ignore[arg-type]

    async def _announce(self, alert_id: int, measure: Measure, name: str, reason: str, *, resolved: bool) -> None:
        """An alert opened or closed: a decision in the log and a DriftDetected event."""
        await self._log.record(
            loop="drift",
            action="recover" if resolved else "alert",
            outcome="done" if resolved else "acted",
            reason=f"{name}: {reason}",
            project_id=measure.project_id,
            character_id=measure.character_id,
            data=_numbers(measure),
        )
        await self._events.emit(
            DriftDetected(
                actor=AUTOPILOT,
                alert_id=alert_id,
                project_id=measure.project_id,
                character_id=measure.character_id,
                character_name=name,
                reason=reason,
                resolved=resolved,
            )
        )


def _numbers(measure: Measure) -> dict[str, float | int | None]:
    return {
        "recent_approval": measure.recent_approval,
        "history_approval": measure.history_approval,
        "recent_score": measure.recent_score,
        "history_score": measure.history_score,
        "recent_samples": measure.recent_samples,
        "history_samples": measure.history_samples,
    }


def _view(alert: DriftAlert, name: str) -> DriftAlertView:
    return DriftAlertView(
        id=alert.id,  # type: ignore[arg-type]
        project_id=alert.project_id,
        character_id=alert.character_id,
        character_name=name,
        detected_at=alert.detected_at,
        recent_approval=alert.recent_approval,
        overall_approval=alert.overall_approval,
        recent_score=alert.recent_score,
        overall_score=alert.overall_score,
        recent_samples=alert.recent_samples,
        reason=alert.reason,
        resolved_at=alert.resolved_at,
    )
