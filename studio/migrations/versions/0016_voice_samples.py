"""voice samples

Voice ingestion (issue 22): the video and audio sources the studio looked for speech in, the speakers found in
each, and their segments (a WAV with its transcript, quality, character and a person's decision).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _time() -> studio.models._base.UtcDateTime:
    return studio.models._base.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "voice_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("title", _text(200), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("state", _text(16), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("language", _text(8), nullable=False),
        sa.Column("summary", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", _text(100), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("deleted_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_voice_sources_job_id"), "voice_sources", ["job_id"], unique=False)
    op.create_index(op.f("ix_voice_sources_project_id"), "voice_sources", ["project_id"], unique=False)
    op.create_table(
        "voice_speakers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("proposed_character_id", sa.Integer(), nullable=True),
        sa.Column("proposal_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("centroid", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["proposed_character_id"], ["characters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["voice_sources.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_voice_speakers_character_id"), "voice_speakers", ["character_id"], unique=False)
    op.create_index(op.f("ix_voice_speakers_source_id"), "voice_speakers", ["source_id"], unique=False)
    op.create_table(
        "voice_segments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("speaker_id", sa.Integer(), nullable=True),
        sa.Column("start", sa.Float(), nullable=False),
        sa.Column("end", sa.Float(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("file", _text(300), nullable=False),
        sa.Column("transcript", sa.Text(), server_default="", nullable=False),
        sa.Column("snr_db", sa.Float(), nullable=False),
        sa.Column("speaker_confidence", sa.Float(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("decision", _text(16), nullable=False),
        sa.Column("decided_by", _text(100), nullable=True),
        sa.Column("decided_at", _time(), nullable=True),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["source_id"], ["voice_sources.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["speaker_id"], ["voice_speakers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_voice_segments_character_id"), "voice_segments", ["character_id"], unique=False)
    op.create_index(op.f("ix_voice_segments_decision"), "voice_segments", ["decision"], unique=False)
    op.create_index(op.f("ix_voice_segments_source_id"), "voice_segments", ["source_id"], unique=False)
    op.create_index(op.f("ix_voice_segments_speaker_id"), "voice_segments", ["speaker_id"], unique=False)


def downgrade() -> None:
    for table, columns in (
        ("voice_segments", ("character_id", "decision", "source_id", "speaker_id")),
        ("voice_speakers", ("character_id", "source_id")),
        ("voice_sources", ("job_id", "project_id")),
    ):
        for column in columns:
            op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
        op.drop_table(table)
