"""A person's work on what an ingestion found: speakers named after characters, segments approved or rejected
(one by one or in bulk, with Undo), and each character's approved samples with the reference its cloned voice
uses.

The reference is the sample a person chose, else the best approved 3-10 s sample by quality (GPT-SoVITS
refuses references outside 3-10 s). Whenever a character's approved samples or chosen reference change, its
voice profile's http fields follow (through `DialogueVoices.set_profile`, so the change is audited and
undoable) unless the user typed a reference path of their own. The engine itself is switched to the cloned
voice only when a person asks (`use_cloned_voice`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.errors import BackendUnavailable, Conflict, Invalid, NotFound
from services.media_store import MediaStore
from services.voice import DEFAULT_PROFILE, DialogueVoices, VoiceProfile
from services.voice_samples.events import VoiceSamplesChanged
from services.voice_samples.export import write_training_list
from services.voice_samples.matching import centroid
from services.voice_samples.views import (
    DECISIONS,
    REFERENCE_SECONDS,
    CharacterSamples,
    DecisionChange,
    SegmentChanges,
    SegmentView,
    SpeakerView,
)
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, VoiceSegment, VoiceSource, VoiceSpeaker

log = logging.getLogger(__name__)

MAX_BULK_SEGMENTS = 5000
EXPORT_FOLDER = "exports/voice-samples"


class VoiceSamples:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        clock: Clock,
        media: MediaStore,
        voices: DialogueVoices,
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._clock = clock
        self._media = media
        self._voices = voices

    # --- reading ----------------------------------------------------------------------------------------

    async def speakers(self, source_id: int) -> list[SpeakerView]:
        """The source's speaker groups in order of first appearance, each with its segments in time order.
        NotFound: no such source."""
        async with self._db.session() as session:
            if await session.get(VoiceSource, source_id) is None:
                raise NotFound(f"there is no voice source {source_id}")
            speakers = (
                await session.exec(
                    select(VoiceSpeaker).where(VoiceSpeaker.source_id == source_id).order_by(col(VoiceSpeaker.label))
                )
            ).all()
            segments = (
                await session.exec(
                    select(VoiceSegment)
                    .where(VoiceSegment.source_id == source_id)
                    .order_by(col(VoiceSegment.start), col(VoiceSegment.id))
                )
            ).all()
            wanted = {s.character_id for s in speakers} | {s.proposed_character_id for s in speakers}
            names = await _names(session, [i for i in wanted if i is not None])
        by_speaker: dict[int | None, list[SegmentView]] = {}
        for segment in segments:
            by_speaker.setdefault(segment.speaker_id, []).append(SegmentView.of(segment))
        return [
            SpeakerView(
                id=speaker.id,  # type: ignore[arg-type]
                label=speaker.label,
                character_id=speaker.character_id,
                character_name=names.get(speaker.character_id),  # type: ignore[arg-type]
                proposed_character_id=speaker.proposed_character_id,
                proposed_character_name=names.get(speaker.proposed_character_id),  # type: ignore[arg-type]
                proposal_reason=speaker.proposal_reason,
                segments=by_speaker.get(speaker.id, []),
            )
            for speaker in speakers
        ]

    async def segment(self, segment_id: int) -> SegmentView:
        """NotFound: no such segment."""
        async with self._db.session() as session:
            return SegmentView.of(await _segment(session, segment_id))

    async def segment_file(self, segment_id: int) -> Path:
        """The segment's WAV. NotFound: no such segment, or its file is gone (purged)."""
        async with self._db.session() as session:
            segment = await _segment(session, segment_id)
        path = self._media.path_of(segment.file)
        if not path.is_file():
            raise NotFound(f"the audio of voice segment {segment_id} is gone")
        return path

    async def samples(self, character_id: int) -> CharacterSamples:
        """The character's approved samples (best first), the reference its cloned voice uses and why.
        NotFound: no such character."""
        character = await self._character(character_id)
        approved = await self._approved(character_id)
        reference, reason = self._reference(self._profile(character), approved)
        return CharacterSamples(
            character_id=character_id,
            approved=approved,
            reference_id=reference.id if reference else None,
            reference_reason=reason,
            total_seconds=round(sum(s.duration for s in approved), 3),
        )

    async def voice_centroids(self, project_id: int) -> dict[int, np.ndarray]:
        """Each character of the project with approved samples: the unit mean of their voice embeddings (what a
        new speaker group is compared with)."""
        query = (
            select(VoiceSegment.character_id, VoiceSegment.embedding)
            .join(VoiceSource, col(VoiceSource.id) == VoiceSegment.source_id)
            .join(Character, col(Character.id) == VoiceSegment.character_id)
            .where(
                Character.project_id == project_id,
                col(Character.deleted_at).is_(None),
                col(VoiceSource.deleted_at).is_(None),
                VoiceSegment.decision == "approved",
            )
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        grouped: dict[int, list[np.ndarray]] = {}
        for character_id, embedding in rows:
            grouped.setdefault(character_id, []).append(np.frombuffer(embedding, dtype=np.float32))  # type: ignore[arg-type]
        return {cid: c for cid, vectors in grouped.items() if (c := centroid(vectors)) is not None}

    # --- a person's changes -----------------------------------------------------------------------------

    async def assign_speaker(self, speaker_id: int, character_id: int | None, actor: str) -> SpeakerView:
        """Name a speaker group after a character (None: nobody), with every segment of the group.

        NotFound: no such speaker. Invalid: the character is not one of the source's project. Conflict: the source
        is deleted.
        """
        async with self._db.session() as session:
            speaker = await session.get(VoiceSpeaker, speaker_id)
            if speaker is None:
                raise NotFound(f"there is no voice speaker {speaker_id}")
            source = await _live_source(session, speaker.source_id)
            character = await _cast_member(session, source, character_id)
            segments = (await session.exec(select(VoiceSegment).where(VoiceSegment.speaker_id == speaker_id))).all()
            touched = {speaker.character_id, character_id, *(s.character_id for s in segments)}
            speaker.character_id = character_id
            session.add(speaker)
            for segment in segments:
                segment.character_id = character_id
                session.add(segment)
        who = character.name if character else "nobody"
        await self._announce(actor, source, "assigned", f"Speaker {speaker.label} to {who}", character_id)
        await self._follow_references(touched, actor)
        return next(v for v in await self.speakers(source.id) if v.id == speaker_id)  # type: ignore[arg-type]

    async def update_segment(self, segment_id: int, changes: SegmentChanges, actor: str) -> SegmentView:
        """Change a segment's transcript, character or decision (fields left out stay).

        NotFound: no such segment. Invalid: a character of another project, or approving a segment nobody speaks.
        Conflict: its source is deleted.
        """
        given = changes.model_fields_set
        async with self._db.session() as session:
            segment = await _segment(session, segment_id)
            source = await _live_source(session, segment.source_id)
            touched = {segment.character_id}
            if "character_id" in given:
                await _cast_member(session, source, changes.character_id)
                segment.character_id = changes.character_id
                touched.add(changes.character_id)
            if "transcript" in given and changes.transcript is not None:
                segment.transcript = changes.transcript
            if "decision" in given and changes.decision is not None and changes.decision != segment.decision:
                _check_decidable([segment], changes.decision)
                segment.decision = changes.decision
                segment.decided_by = actor
                segment.decided_at = self._clock.now()
            session.add(segment)
        what = ", ".join(sorted(name for name in given if name in ("transcript", "character_id", "decision")))
        await self._announce(
            actor, source, "edited", f"segment {segment_id} ({what or 'nothing'})", segment.character_id
        )
        await self._follow_references(touched, actor)
        return SegmentView.of(segment)

    async def decide(self, segment_ids: Sequence[int], decision: str, actor: str) -> DecisionChange:
        """Approve, reject or reset many segments at once; the answer's `previous` is what `undo` puts back.

        NotFound: a segment does not exist (nothing changed). Invalid: an unknown decision, too many segments, or
        approving segments nobody speaks. Conflict: a segment's source is deleted.
        """
        if decision not in DECISIONS:
            raise Invalid("decision", f"a decision is one of {', '.join(DECISIONS)}")
        return await self._apply({segment_id: decision for segment_id in segment_ids}, actor, "decided")

    async def undo(self, change: DecisionChange, actor: str) -> DecisionChange:
        """Put back the decisions a bulk decision changed; the answer redoes it."""
        return await self._apply(dict(change.previous), actor, "undone")

    async def choose_reference(self, character_id: int, segment_id: int, actor: str) -> CharacterSamples:
        """Make one of the character's approved samples the reference of its cloned voice.

        NotFound: no such character or segment. Invalid: the segment is not an approved sample of this character,
        or it is not 3-10 s long (GPT-SoVITS refuses such a reference).
        """
        character = await self._character(character_id)
        approved = {s.id: s for s in await self._approved(character_id)}
        chosen = approved.get(segment_id)
        if chosen is None:
            await self.segment(segment_id)  # NotFound when it does not exist at all
            raise Invalid("segment_id", f"segment {segment_id} is not an approved voice sample of {character.name}")
        if not chosen.fits_reference:
            low, high = REFERENCE_SECONDS
            raise Invalid(
                "segment_id",
                f"segment {segment_id} is {chosen.duration:.1f} s long; a reference must be {low:g}-{high:g} s "
                "(GPT-SoVITS refuses others): choose another sample",
            )
        await self._set_reference(character, chosen, chosen=True, actor=actor)
        await self._events.emit(
            VoiceSamplesChanged(
                actor=actor,
                project_id=character.project_id,
                source_id=None,
                change="reference",
                detail=f"segment {segment_id} is {character.name}'s voice reference",
                character_id=character_id,
            )
        )
        return await self.samples(character_id)

    async def use_cloned_voice(self, character_id: int, actor: str) -> Character:
        """Let the voice-cloning engine speak the character's lines, from its reference sample.

        NotFound: no such character. BackendUnavailable: no voice-cloning server is configured. Invalid: the
        character has no reference yet (approve a 3-10 s sample). Conflict: the character is deleted or its
        project archived.
        """
        status = next(s for s in self._voices.available_engines() if s.engine == "http")
        if not status.available:
            raise BackendUnavailable("engine", status.reason)
        character = await self._character(character_id)
        profile = self._profile(character)
        if profile.reference_sample is None:
            raise Invalid(
                "engine",
                f"{character.name} has no reference sample yet: approve a 3-10 s voice sample of {character.name} "
                "on the Voices page (or type a reference in the voice editor)",
            )
        if profile.engine == "http":
            return character
        return await self._voices.set_profile(character_id, profile.model_copy(update={"engine": "http"}), actor)

    async def export_zip(self, character_id: int) -> Path:
        """The character's approved samples as a GPT-SoVITS training set: `<slug>.list` (`wavs/<file>|<speaker>|
        <lang>|<text>`) and `wavs/`, zipped. NotFound: no such character. Invalid: no approved samples."""
        character = await self._character(character_id)
        query = (
            select(VoiceSegment, VoiceSource.language)
            .join(VoiceSource, col(VoiceSource.id) == VoiceSegment.source_id)
            .where(
                VoiceSegment.character_id == character_id,
                VoiceSegment.decision == "approved",
                col(VoiceSource.deleted_at).is_(None),
            )
            .order_by(col(VoiceSegment.id))
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        if not rows:
            raise Invalid("character_id", f"{character.name} has no approved voice samples to export yet")
        fallback = self._settings.voice_language or "en"
        entries = [(self._media.path_of(s.file), s.transcript, language or fallback) for s, language in rows]
        target = self._media.path_of(f"{EXPORT_FOLDER}/{character.slug or 'character'}-{character_id}.zip")
        return await write_training_list(target, character.slug or f"character{character_id}", entries)

    # --- what the sources call --------------------------------------------------------------------------

    async def follow(self, character_ids: Iterable[int | None], actor: str) -> None:
        """Bring these characters' references up to date (their samples changed: a source deleted or restored)."""
        await self._follow_references(set(character_ids), actor)

    # --- helpers ----------------------------------------------------------------------------------------

    async def _apply(self, wanted: dict[int, str], actor: str, change: str) -> DecisionChange:
        if len(wanted) > MAX_BULK_SEGMENTS:
            raise Invalid("segment_ids", f"decide at most {MAX_BULK_SEGMENTS} segments at once")
        ids = sorted(wanted)
        previous: dict[int, str] = {}
        async with self._db.session() as session:
            segments = list(
                (await session.exec(select(VoiceSegment).where(col(VoiceSegment.id).in_(ids or [0])))).all()
            )
            missing = sorted(set(ids) - {s.id for s in segments})  # type: ignore[misc]
            if missing:
                shown = ", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
                raise NotFound(f"there is no voice segment {shown}")
            sources = {s.source_id for s in segments}
            rows = {src.id: src for src in [await _live_source(session, source_id) for source_id in sources]}
            for decision in set(wanted.values()):
                if decision not in DECISIONS:
                    raise Invalid("decision", f"a decision is one of {', '.join(DECISIONS)}")
                _check_decidable([s for s in segments if wanted[s.id] == decision], decision)  # type: ignore[index]
            now = self._clock.now()
            for segment in segments:
                decision = wanted[segment.id]  # type: ignore[index]
                if segment.decision == decision:
                    continue
                previous[segment.id] = segment.decision  # type: ignore[index]
                segment.decision = decision
                segment.decided_by = actor
                segment.decided_at = now
                session.add(segment)
        result = DecisionChange(
            decision=next(iter(set(wanted.values()))) if len(set(wanted.values())) == 1 else "mixed",
            changed=len(previous),
            previous=previous,
        )
        if previous:
            project_id = next(iter(rows.values())).project_id
            source_id = next(iter(rows)) if len(rows) == 1 else None
            await self._events.emit(
                VoiceSamplesChanged(
                    actor=actor,
                    project_id=project_id,
                    source_id=source_id,
                    change=change,
                    detail=f"{len(previous)} segment(s) {result.decision}",
                )
            )
            await self._follow_references({s.character_id for s in segments if s.id in previous}, actor)
        return result

    async def _follow_references(self, character_ids: set[int | None], actor: str) -> None:
        for character_id in sorted(i for i in character_ids if i is not None):
            async with self._db.session() as session:
                character = await session.get(Character, character_id)
            if character is None or character.deleted_at is not None:
                continue
            try:
                profile = self._profile(character)
            except Invalid:
                log.warning("%s's stored voice is unreadable: its reference is left alone", character.name)
                continue
            if profile.sample_id is None and profile.reference_sample is not None:
                continue  # a reference the user typed: theirs, not the studio's
            approved = await self._approved(character_id)
            reference, _ = self._reference(profile, approved)
            chosen = reference is not None and profile.reference_chosen and reference.id == profile.sample_id
            await self._set_reference(character, reference, chosen=chosen, actor=actor)

    async def _set_reference(
        self, character: Character, reference: SegmentView | None, *, chosen: bool, actor: str
    ) -> None:
        profile = self._profile(character)
        if reference is not None:
            async with self._db.session() as session:
                file = (await _segment(session, reference.id)).file
            update = {
                "sample_id": reference.id,
                "reference_sample": file,
                "reference_text": reference.transcript,
                "reference_chosen": chosen,
            }
        else:
            update = {"sample_id": None, "reference_sample": None, "reference_text": "", "reference_chosen": False}
            if profile.engine == "http":
                # The cloned voice has nothing left to clone from: the character speaks with the default voice
                # until a sample is approved again (audited with the profile before, so it can be undone).
                update["engine"] = DEFAULT_PROFILE.engine
        new = VoiceProfile.model_validate({**profile.model_dump(), **update})
        if new == profile:
            return
        try:
            await self._voices.set_profile(character.id, new, actor)  # type: ignore[arg-type]
        except Conflict as exc:  # archived project: its voices stay as they were
            log.info("%s's voice reference not updated: %s", character.name, exc)

    def _reference(self, profile: VoiceProfile, approved: list[SegmentView]) -> tuple[SegmentView | None, str]:
        if profile.sample_id is None and profile.reference_sample is not None:
            return None, (
                f"the voice uses the reference typed by hand ({profile.reference_sample}); choose a sample here to "
                "use it instead"
            )
        if not approved:
            return None, "no approved samples yet"
        if profile.reference_chosen:
            chosen = next((s for s in approved if s.id == profile.sample_id and s.fits_reference), None)
            if chosen is not None:
                return chosen, "chosen by a person"
        fitting = [s for s in approved if s.fits_reference]
        if not fitting:
            low, high = REFERENCE_SECONDS
            return None, f"no approved sample is {low:g}-{high:g} s long (GPT-SoVITS needs a reference that long)"
        best = max(fitting, key=lambda s: (s.quality, -s.id))
        low, high = REFERENCE_SECONDS
        return best, f"the best approved {low:g}-{high:g} s sample (quality {best.quality:.2f})"

    async def _approved(self, character_id: int) -> list[SegmentView]:
        query = (
            select(VoiceSegment)
            .join(VoiceSource, col(VoiceSource.id) == VoiceSegment.source_id)
            .where(
                VoiceSegment.character_id == character_id,
                VoiceSegment.decision == "approved",
                col(VoiceSource.deleted_at).is_(None),
            )
            .order_by(col(VoiceSegment.quality).desc(), col(VoiceSegment.id))
        )
        async with self._db.session() as session:
            return [SegmentView.of(s) for s in (await session.exec(query)).all()]

    def _profile(self, character: Character) -> VoiceProfile:
        return self._voices.profile_of(character)

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character

    async def _announce(
        self, actor: str, source: VoiceSource, change: str, detail: str, character_id: int | None = None
    ) -> None:
        await self._events.emit(
            VoiceSamplesChanged(
                actor=actor,
                project_id=source.project_id,
                source_id=source.id,
                change=change,
                detail=detail,
                character_id=character_id,
            )
        )


def _check_decidable(segments: Sequence[VoiceSegment], decision: str) -> None:
    """Invalid when approving segments nobody speaks: an approved sample is always some character's."""
    if decision != "approved":
        return
    nobody = [s.id for s in segments if s.character_id is None]
    if nobody:
        shown = ", ".join(str(i) for i in nobody[:10]) + (" …" if len(nobody) > 10 else "")
        raise Invalid(
            "decision",
            f"segment(s) {shown} belong to no character: assign the speaker (or the segment) to a character "
            "before approving",
        )


async def _segment(session: AsyncSession, segment_id: int) -> VoiceSegment:
    segment = await session.get(VoiceSegment, segment_id)
    if segment is None:
        raise NotFound(f"there is no voice segment {segment_id}")
    return segment


async def _live_source(session: AsyncSession, source_id: int) -> VoiceSource:
    source = await session.get(VoiceSource, source_id)
    if source is None:
        raise NotFound(f"there is no voice source {source_id}")
    if source.deleted_at is not None:
        raise Conflict(f"voice source '{source.title or source.origin}' is deleted; restore it first")
    return source


async def _cast_member(session: AsyncSession, source: VoiceSource, character_id: int | None) -> Character | None:
    """The character a segment or speaker is given to. Invalid: not a live character of the source's project."""
    if character_id is None:
        return None
    character = await session.get(Character, character_id)
    if character is None or character.project_id != source.project_id:
        raise Invalid("character_id", f"character {character_id} is not a character of this source's project")
    if character.deleted_at is not None:
        raise Invalid("character_id", f"{character.name} is deleted; restore the character first")
    return character


async def _names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = (await session.exec(select(Character.id, Character.name).where(col(Character.id).in_(ids)))).all()
    return {cid: name for cid, name in rows}
