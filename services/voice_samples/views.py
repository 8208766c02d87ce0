"""What the Voices page and the REST API read: speaker groups with their segments, a character's samples, and
the changes a person asks for (with what undoing them needs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from studio.models import VoiceSegment

Decision = Literal["pending", "approved", "rejected"]
DECISIONS: tuple[Decision, ...] = ("pending", "approved", "rejected")
SEGMENT_AUDIO_URL = "/api/voice-segments/{id}/audio"
MAX_TRANSCRIPT = 2000
# GPT-SoVITS refuses a reference outside 3-10 s (tests/fakes/voice_service.py quotes its message).
REFERENCE_SECONDS = (3.0, 10.0)


@dataclass(frozen=True)
class SegmentView:
    id: int
    speaker_id: int | None
    start: float
    end: float
    duration: float
    transcript: str
    snr_db: float
    speaker_confidence: float
    quality: float
    character_id: int | None
    decision: str
    url: str

    @classmethod
    def of(cls, segment: VoiceSegment) -> SegmentView:
        return cls(
            id=segment.id,  # type: ignore[arg-type]
            speaker_id=segment.speaker_id,
            start=segment.start,
            end=segment.end,
            duration=segment.duration,
            transcript=segment.transcript,
            snr_db=segment.snr_db,
            speaker_confidence=segment.speaker_confidence,
            quality=segment.quality,
            character_id=segment.character_id,
            decision=segment.decision,
            url=SEGMENT_AUDIO_URL.format(id=segment.id),
        )

    @property
    def fits_reference(self) -> bool:
        """Long enough and short enough for GPT-SoVITS to clone from."""
        return REFERENCE_SECONDS[0] <= self.duration <= REFERENCE_SECONDS[1]


@dataclass(frozen=True)
class SpeakerView:
    id: int
    label: int  # 1-based: "Speaker 1"
    character_id: int | None
    character_name: str | None
    proposed_character_id: int | None
    proposed_character_name: str | None
    proposal_reason: str
    segments: list[SegmentView] = field(default_factory=list)


@dataclass(frozen=True)
class CharacterSamples:
    """A character's approved samples (best first) and the one its cloned voice uses as reference."""

    character_id: int
    approved: list[SegmentView]
    reference_id: int | None
    reference_reason: str
    total_seconds: float


class SegmentChanges(BaseModel):
    """What a person changes on one segment; a field left out stays as it is (`character_id: null` unassigns)."""

    model_config = ConfigDict(extra="forbid")

    transcript: str | None = Field(None, max_length=MAX_TRANSCRIPT, description="What is said in the segment.")
    character_id: int | None = Field(None, ge=1, description="Whose voice it is (null: nobody's).")
    decision: Decision | None = Field(None, description="pending, approved or rejected.")

    @field_validator("transcript")
    @classmethod
    def _transcript(cls, value: str | None) -> str | None:
        return None if value is None else " ".join(value.split())


@dataclass(frozen=True)
class DecisionChange:
    """A bulk decision: how many segments changed, and each one's decision before (what Undo puts back)."""

    decision: str
    changed: int
    previous: dict[int, str]
