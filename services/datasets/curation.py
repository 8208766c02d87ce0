"""What happens to a new image before a person sees it: duplicates and clear triage failures are rejected,
the rest waits for a person, or first for the vision review when an LLM with vision is configured.

The order matters for cost: dedup is free, local triage takes tens of milliseconds, a vision review
seconds of GPU time, so each step only sees what the one before let through.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.datasets.categories import DUPLICATE
from services.datasets.decisions import ReviewDecisions, Verdict
from services.datasets.store import Admission
from services.datasets.triage import LocalTriage, TriageResult, TriageThresholds, default_min_side
from services.errors import Conflict
from services.jobs import JobDraft, JobQueue
from services.media_store import MediaStore
from services.prompts import ModelProfile, match_profile
from studio.config import Settings
from studio.db import Database
from studio.models import (
    ApprovalState,
    DatasetImage,
    Decider,
    GenerationStyle,
    JobPriority,
    Project,
    VisionStatus,
)

REVIEW_JOB = "image.review"
# Triage flags that reject an image outright, and the category each teaches the next generation.
TRIAGE_FAILURE_CATEGORIES = {
    "small": "bad_quality",
    "blurry": "bad_quality",
    "dark": "bad_quality",
    "bright": "bad_quality",
    "nsfw": "other",
}


def _min_side_from(profile: ModelProfile | None) -> str:
    """Where a default minimum side came from, as a triage failure names it."""
    source = f"the min_side of model profile {profile.name}" if profile else "the smallest min_side of any profile"
    return f"{source}; set triage_min_side to override"


@dataclass(frozen=True)
class CurationSummary:
    added: int = 0
    duplicates: int = 0
    triage_rejected: int = 0
    queued_for_vision: int = 0
    waiting_for_human: int = 0
    review_job_id: int | None = None


class Curation:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        media: MediaStore,
        decisions: ReviewDecisions,
        jobs: JobQueue,
        triage: LocalTriage,
        profiles: Callable[[], Awaitable[Sequence[ModelProfile]]],
    ) -> None:
        self._profiles = profiles  # the model profiles: their sizes set triage's minimum side by default
        self._settings = settings
        self._db = db
        self._media = media
        self._decisions = decisions
        self._jobs = jobs
        self._triage = triage

    async def admit(self, admissions: Sequence[Admission], actor: str, *, interactive: bool = True) -> CurationSummary:
        """Reject duplicates, triage the rest, and queue one vision review job for what passed."""
        duplicates = triage_rejected = 0
        passed: list[int] = []
        limits: dict[int, tuple[TriageThresholds, str]] = {}  # per project: read its rating once
        for admission in admissions:
            if admission.outcome == "already_present":
                continue
            image = admission.image
            if admission.outcome == "duplicate":
                duplicates += 1
                await self._reject_duplicate(image)
                continue
            if image.project_id not in limits:
                limits[image.project_id] = await self._thresholds(image.project_id)
            result = await self.triage(image, limits[image.project_id])
            if result.failures:
                triage_rejected += 1
                await self._auto_decide(
                    image.id,  # type: ignore[arg-type]
                    Verdict(
                        ApprovalState.REJECTED,
                        Decider.TRIAGE,
                        categories=_unique(
                            TRIAGE_FAILURE_CATEGORIES[f] for f in result.flags if f in TRIAGE_FAILURE_CATEGORIES
                        ),
                        reasons=result.failures,
                    ),
                )
            else:
                passed.append(image.id)  # type: ignore[arg-type]
        added = sum(1 for a in admissions if a.outcome != "already_present")
        job_id = await self.queue_vision(passed, actor, interactive=interactive) if passed else None
        return CurationSummary(
            added=added,
            duplicates=duplicates,
            triage_rejected=triage_rejected,
            queued_for_vision=len(passed) if job_id else 0,
            waiting_for_human=0 if job_id else len(passed),
            review_job_id=job_id,
        )

    async def triage(self, image: DatasetImage, limits: tuple[TriageThresholds, str] | None = None) -> TriageResult:
        """Run the local checks on a stored image and save their values and flags on it.

        `limits` are the thresholds and content rating of its project (read from the project when not given).
        """
        thresholds, rating = limits or await self._thresholds(image.project_id)
        generated_by = image.provenance.get("profile") if self._settings.triage_min_side is None else None
        if isinstance(generated_by, str):
            # A generated image is judged by the profile it was made with, not the project's default style.
            profile = next((p for p in await self._profiles() if p.name == generated_by), None)
            if profile is not None:
                thresholds = dataclasses.replace(
                    thresholds, min_side=profile.min_side, min_side_from=_min_side_from(profile)
                )
        data = await self._media.read(image.file_path)
        result = await asyncio.to_thread(self._triage.assess, data, thresholds)
        async with self._db.session() as session:
            row = await session.get(DatasetImage, image.id)
            if row is not None:
                row.triage = {**result.to_json(), "content_rating": rating}
                row.triage_flags = f",{','.join(result.flags)}," if result.flags else ""
                session.add(row)
        return result

    async def _thresholds(self, project_id: int) -> tuple[TriageThresholds, str]:
        """The triage thresholds from the settings, with the NSFW limit of the project's content rating."""
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        rating = project.content_rating if project else "PG-13"
        limits = self._settings.nsfw_limits
        if self._settings.triage_min_side is not None:
            min_side, min_side_from = self._settings.triage_min_side, "triage_min_side"
        else:
            min_side, min_side_from = await self._default_min_side(project)
        thresholds = TriageThresholds(
            min_side=min_side,
            min_side_from=min_side_from,
            blur_min=self._settings.triage_blur_min,
            dark_below=self._settings.triage_dark_below,
            bright_above=self._settings.triage_bright_above,
            nsfw_limit=limits.get(rating, limits["PG-13"]),
        )
        return thresholds, rating

    async def _default_min_side(self, project: Project | None) -> tuple[int, str]:
        """The project's default style's profile decides; without one, the most lenient profile."""
        profiles = await self._profiles()
        style = None
        if project is not None and project.default_style is not None:
            async with self._db.session() as session:
                style = await session.get(GenerationStyle, project.default_style)
        profile = match_profile(style.checkpoint_model, profiles)[0] if style is not None else None
        return default_min_side(profile, profiles), _min_side_from(profile)

    async def queue_vision(self, image_ids: list[int], actor: str, *, interactive: bool = True) -> int | None:
        """One vision review job for these images, or None when no LLM is configured (a person reviews)."""
        device = self._settings.vision_llm
        if device is None or not image_ids:
            return None
        async with self._db.session() as session:
            for image_id in image_ids:
                row = await session.get(DatasetImage, image_id)
                if row is not None:
                    row.vision_status = VisionStatus.QUEUED
                    session.add(row)
        draft = JobDraft(
            kind=REVIEW_JOB,
            payload={"image_ids": image_ids},
            title=f"Vision review of {len(image_ids)} image(s)",
            priority=JobPriority.INTERACTIVE if interactive else JobPriority.BACKGROUND,
        )
        return (await self._jobs.submit([draft], actor))[0].id

    async def _reject_duplicate(self, image: DatasetImage) -> None:
        kind = (
            "an exact copy"
            if image.duplicate_kind == "exact"
            else (f"a near duplicate ({image.duplicate_distance} bits apart)")
        )
        await self._auto_decide(
            image.id,  # type: ignore[arg-type]
            Verdict(
                ApprovalState.REJECTED,
                Decider.DEDUP,
                categories=(DUPLICATE,),
                reasons=(f"{kind} of image {image.duplicate_of_id}",),
            ),
        )

    async def _auto_decide(self, image_id: int, verdict: Verdict) -> None:
        """Automatic decisions only ever move a pending image: a person's decision always stands."""
        try:
            await self._decisions.decide(image_id, verdict, "studio", only_from=(ApprovalState.PENDING,))
        except Conflict:
            pass  # decided by a person in the meantime


def _unique(items: object) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))  # type: ignore[arg-type]
