"""The vision review job: each image is shown to the configured LLM against its character's checklist,
and the outcome becomes an automatic decision (or leaves the image to a person)."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from services.bible import Characters, PromptLibrary
from services.datasets.curation import REVIEW_JOB
from services.datasets.decisions import ReviewDecisions, Verdict
from services.datasets.vision import ReviewSubject, VisionOutcome, VisionReviewer, VisionThresholds
from services.errors import Conflict, Invalid
from services.jobs import ProgressSink
from services.llm import configured_llm
from services.media_store import MediaStore
from services.prompts.species import classify_species
from studio.config import Settings
from studio.db import Database
from studio.models import ApprovalState, Character, DatasetImage, Decider, Job, VisionStatus, WorldSettings
from studio.secrets import SecretStore

_DECISIONS = {"approved": ApprovalState.APPROVED, "rejected": ApprovalState.REJECTED}


class VisionReviewJobHandler:
    """Runs `image.review` jobs on the built-in cpu device (the work happens on the LLM's server)."""

    kind = REVIEW_JOB

    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        db: Database,
        media: MediaStore,
        characters: Characters,
        library: PromptLibrary,
        decisions: ReviewDecisions,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._db = db
        self._media = media
        self._characters = characters
        self._library = library
        self._decisions = decisions

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        client = configured_llm(self._settings, self._secrets)
        if client is None:
            raise Invalid("vision_device", "no device has an llm_url any more; add one to review images")
        reviewer = VisionReviewer(
            client,
            self._settings.vision_model,
            VisionThresholds(self._settings.vision_reject_below, self._settings.vision_approve_at),
        )
        image_ids: list[int] = job.payload["image_ids"]
        tally = {"approved": 0, "rejected": 0, "pending": 0, "needs_human": 0, "skipped": 0}
        subjects: dict[int, ReviewSubject] = {}
        try:
            for index, image_id in enumerate(image_ids):
                await progress(index / len(image_ids), f"Reviewing image {index + 1} of {len(image_ids)}")
                status = await self._review_one(image_id, reviewer, subjects, job.created_by)
                tally[status] += 1
        finally:
            await client.aclose()
        await progress(1.0, "Reviewed")
        return tally

    async def _review_one(
        self, image_id: int, reviewer: VisionReviewer, subjects: dict[int, ReviewSubject], actor: str
    ) -> str:
        async with self._db.session() as session:
            image = await session.get(DatasetImage, image_id)
        if image is None or image.character_id is None or image.approval_state != ApprovalState.PENDING:
            return "skipped"  # deleted, moved out of a character, or a person decided first
        if image.character_id not in subjects:
            subjects[image.character_id] = await self._subject(image.character_id, image)
        faces = (image.triage or {}).get("values", {}).get("faces")
        outcome = await reviewer.review(await self._media.read(image.file_path), subjects[image.character_id], faces)
        await self._save(image, outcome)
        state = _DECISIONS.get(outcome.status)
        if state is not None:
            verdict = Verdict(
                state,
                Decider.VISION,
                categories=tuple(outcome.categories) if state == ApprovalState.REJECTED else (),
                reasons=tuple(outcome.reasons),
                quality_score=outcome.score,
            )
            try:
                await self._decisions.decide(image_id, verdict, actor, only_from=(ApprovalState.PENDING,))
            except Conflict:
                return "skipped"  # a person decided while the model was looking
        return outcome.status

    async def _save(self, image: DatasetImage, outcome: VisionOutcome) -> None:
        async with self._db.session() as session:
            row = await session.get(DatasetImage, image.id)
            if row is None:
                return
            row.review = outcome.to_json()
            row.vision_status = VisionStatus.NEEDS_HUMAN if outcome.status == "needs_human" else VisionStatus.DONE
            if outcome.score is not None:
                row.quality_score = outcome.score
            session.add(row)

    async def _subject(self, character_id: int, image: DatasetImage) -> ReviewSubject:
        """What the reviewer needs about a character: checklist data, species rules, the profile's hints."""
        character: Character = await self._characters.get(character_id)
        style = (image.provenance or {}).get("style")
        try:
            plan, _ = await self._characters.plan(character, style if isinstance(style, str) else None)
            non_human, rules = plan.non_human, plan.species_rules
            hint, offset = plan.profile.vision_hint, plan.profile.threshold_offset
        except Invalid:  # no style to plan with: judge the species alone, without a model profile
            _, all_rules = await self._library.engine_inputs()
            species = str((character.appearance_data or {}).get("species") or "")
            non_human, rules, _ = classify_species(species, all_rules)
            hint, offset = "", 0.0
        async with self._db.session() as session:
            world = (
                await session.exec(select(WorldSettings).where(WorldSettings.project_id == character.project_id))
            ).first()
        references = await self._characters.references(character_id)
        reference = await self._media.read(references[0].file_path) if references else None
        return ReviewSubject(
            character_name=character.name,
            design_prompt=character.design_prompt,
            appearance=dict(character.appearance_data or {}),
            non_human=non_human,
            species_rules=tuple(rules),
            vision_hint=hint,
            threshold_offset=offset,
            known_issues=tuple(world.known_issues) if world else (),
            reference=reference,
        )
