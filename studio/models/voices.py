"""Voice samples cut from video and audio sources: each source, the speakers found in it and their segments.

A segment is a short WAV (1-15 s) with its transcript and quality; a person assigns speakers to characters and
approves segments, and a character's approved segments are its voice samples (the voice-cloning reference and
the training list).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field


class VoiceSource(SQLModel, table=True):
    """A video or audio the studio looked for speech in: where it came from and how its job went."""

    __tablename__ = "voice_sources"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    # url (yt-dlp), upload, or folder (a file inside the import folders).
    kind: str = Field(max_length=16)
    # The URL, the uploaded file's name or the file's path: what the user gave.
    origin: str = Field(sa_column=Column(Text, nullable=False))
    title: str = Field(default="", max_length=200)
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True, ondelete="SET NULL")
    # queued, running, done, failed or cancelled: mirrors the job, so the list needs no job lookups.
    state: str = Field(default="queued", max_length=16)
    duration_seconds: float | None = None
    language: str = Field(default="", max_length=8)
    # What the ingestion found: segments, speakers, dropped short bits, proposals...
    summary: dict[str, Any] = json_field(dict)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: datetime = created_at_field()
    deleted_at: datetime | None = optional_time_field()


class VoiceSpeaker(SQLModel, table=True):
    """One voice found in a source (a group of its segments), assigned to a character by a person."""

    __tablename__ = "voice_speakers"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="voice_sources.id", index=True, ondelete="CASCADE")
    # 1-based, in order of first appearance: "Speaker 1".
    label: int
    character_id: int | None = Field(default=None, foreign_key="characters.id", index=True, ondelete="SET NULL")
    # What the studio suggests; never applied without a person confirming it.
    proposed_character_id: int | None = Field(default=None, foreign_key="characters.id", ondelete="SET NULL")
    proposal_reason: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    # The mean voice embedding of the group (float32 bytes), to match later sources against.
    centroid: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class VoiceSegment(SQLModel, table=True):
    """A piece of speech cut from a source: its audio file, words, quality and a person's decision."""

    __tablename__ = "voice_segments"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="voice_sources.id", index=True, ondelete="CASCADE")
    speaker_id: int | None = Field(default=None, foreign_key="voice_speakers.id", index=True, ondelete="SET NULL")
    start: float
    end: float
    duration: float
    # The WAV, relative to the data folder (voice-sources/<source id>/seg_0001.wav).
    file: str = Field(max_length=300)
    transcript: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    snr_db: float
    speaker_confidence: float
    quality: float
    # The segment's voice embedding (float32 bytes).
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    character_id: int | None = Field(default=None, foreign_key="characters.id", index=True, ondelete="SET NULL")
    # pending, approved or rejected.
    decision: str = Field(default="pending", max_length=16, index=True)
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = optional_time_field()
