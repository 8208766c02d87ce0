"""Auto-correction (off by default, per project): a rejected generated image is generated again from its own
recipe with the strategies its rejection calls for, the seed kept so the change is the fix.

The earlier system corrected the character's most recent generation instead of the rejected image, sent it off
without ever storing the result, and never reached three of its seven strategies. Here the correction is the
rejected image's recipe, the result lands pending in the same dataset linked to the image it corrects (and is
reviewed like any other), strategies come from the categories, the triage flags and the score (see
strategies.py), and each character gets at most `correction_daily_limit` corrections a day.
"""

from __future__ import annotations

import asyncio

from sqlmodel import select

from services.autonomy.config import AutopilotConfig
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.autonomy.strategies import STRATEGIES, corrected, strategies_for, triage_flags
from services.datasets.events import ImageDecided
from services.datasets.store import GENERATED_SOURCE
from services.errors import BackendUnavailable, StudioError
from services.generation import ImageGeneration
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import ApprovalState, AutonomyDecision, Autopilot, DatasetImage, JobPriority

LOOP = "correction"


class AutoCorrection:
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
        # A vision review rejects a batch at once: the limit check and the launch are one step per rejection.
        self._correcting = asyncio.Lock()

    async def on_rejected(self, event: ImageDecided) -> None:
        """A rejected image: regenerate it with the corrected recipe when its project's auto-correction is on."""
        if event.state != ApprovalState.REJECTED or event.undo or event.character_id is None:
            return
        async with self._correcting:
            await self._consider(event, event.character_id)

    async def _consider(self, event: ImageDecided, character_id: int) -> AutonomyDecision | None:
        async with self._db.session() as session:
            autopilot = await session.get(Autopilot, event.project_id)
            image = await session.get(DatasetImage, event.image_id)
            seen = (
                await session.exec(
                    select(AutonomyDecision.id).where(
                        AutonomyDecision.loop == LOOP, AutonomyDecision.image_id == event.image_id
                    )
                )
            ).first()
        if autopilot is None or not autopilot.auto_correction or self._config.is_paused(autopilot):
            return None
        if image is None or seen is not None:
            return None  # deleted meanwhile, or already corrected (or refused): never twice
        recipe = (image.provenance or {}).get("recipe")
        if not isinstance(recipe, dict) or not isinstance(recipe.get("request"), dict):
            if image.source != GENERATED_SOURCE:
                return None  # an upload or an import: nothing to correct, and nothing worth a log line each
            return await self._note(event, character_id, "blocked", "it has no recipe to correct")

        categories = tuple(event.categories or image.rejection_categories)
        flags = triage_flags(image.triage_flags)
        score = event.quality_score if event.quality_score is not None else image.quality_score
        strategies = strategies_for(categories, flags, score)
        why = _why(categories, flags, score)
        if not strategies:
            return await self._note(event, character_id, "blocked", f"no strategy corrects {why}")
        request = corrected(recipe["request"], strategies, categories)
        if request == recipe["request"]:
            return await self._note(
                event, character_id, "blocked", f"{', '.join(strategies)} would change nothing in its recipe ({why})"
            )

        limit = self._settings.correction_daily_limit
        done = await self._log.launched_today(character_id, [LOOP])
        if done >= limit:
            return await self._note(
                event, character_id, "waiting", f"daily correction limit reached ({done} of {limit}) ({why})"
            )
        data = {"strategies": strategies, "categories": list(categories), "flags": flags, "quality_score": score}
        try:
            job = await self._images.correct(
                event.image_id, request, strategies, AUTOPILOT, priority=JobPriority.BACKGROUND
            )
        except StudioError as exc:
            reason = f"correcting image {event.image_id} was refused: {exc}"
            if isinstance(exc, BackendUnavailable):
                # The backend is missing: every correction would be refused alike until someone connects it.
                minutes = self._settings.autopilot_failure_pause_minutes
                await self._config.pause(event.project_id, reason, minutes)
                reason = f"{reason} (paused for {minutes:g} min)"
            return await self._log.record(
                loop=LOOP,
                action="correct",
                outcome="failed",
                reason=reason,
                project_id=event.project_id,
                character_id=character_id,
                image_id=event.image_id,
                data=data,
            )
        fixes = "; ".join(f"{name} ({STRATEGIES[name].label})" for name in strategies)
        return await self._log.record(
            loop=LOOP,
            action="correct",
            outcome="acted",
            reason=f"image {event.image_id} rejected for {why}: generating it again with {fixes}",
            project_id=event.project_id,
            character_id=character_id,
            image_id=event.image_id,
            job_id=job.id,
            count=1,
            data=data,
        )

    async def _note(self, event: ImageDecided, character_id: int, outcome: str, why: str) -> AutonomyDecision:
        """Why a rejected image is not corrected (logged once: the image is never considered again)."""
        return await self._log.record(
            loop=LOOP,
            action="correct",
            outcome=outcome,
            reason=f"image {event.image_id} is not corrected: {why}",
            project_id=event.project_id,
            character_id=character_id,
            image_id=event.image_id,
        )


def _why(categories: tuple[str, ...], flags: list[str], score: float | None) -> str:
    """What the rejection said, in words: "bad_quality, not_solo; triage blurry; score 0.31"."""
    parts = [", ".join(categories) if categories else "no category"]
    if flags:
        parts.append(f"triage {', '.join(flags)}")
    if score is not None:
        parts.append(f"score {score:.2f}")
    return "; ".join(parts)
