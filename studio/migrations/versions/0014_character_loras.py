"""character LoRAs

Each character's registered LoRA files (issue 21): family, epoch, trigger word, default weight, the file's `ss_*`
metadata and the run that made it; at most one active per character. `characters.lora_path` becomes an active
row of its character and is dropped.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Checkpoint names that say SDXL (or one of its families); the earlier system's LoRAs were SD 1.5 otherwise.
_SDXL_HINTS = ("xl", "illustrious", "pony", "noob", "animagine")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _family(architecture: str | None, checkpoint: str | None) -> str:
    """The family of a LoRA the earlier studio loaded: its character's default style's architecture."""
    if architecture in ("sd15", "sdxl"):
        return architecture
    name = (checkpoint or "").lower()
    return "sdxl" if any(hint in name for hint in _SDXL_HINTS) else "sd15"


def upgrade() -> None:
    loras = op.create_table(
        "character_loras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("family", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("family_label", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=True),
        sa.Column("trigger_word", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("file_metadata", _json(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("character_loras", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_character_loras_character_id"), ["character_id"], unique=False)
        # One active LoRA per character.
        batch_op.create_index(
            "uq_character_loras_active",
            ["character_id"],
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        )

    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT c.id, c.lora_path, c.trigger_word, s.model_architecture, s.checkpoint_model"
            " FROM characters c JOIN projects p ON p.id = c.project_id"
            " LEFT JOIN generation_styles s ON s.name = p.default_style"
            " WHERE c.lora_path IS NOT NULL AND c.lora_path <> ''"
        )
    ).all()
    now = datetime.now(UTC)
    if rows:
        op.bulk_insert(
            loras,
            [
                {
                    "character_id": character_id,
                    # Generation always sent the file's name to LoraLoader, never the earlier server's path.
                    "file_name": PurePosixPath(path.replace("\\", "/")).name[:255],
                    "family": _family(architecture, checkpoint),
                    "family_label": "",
                    "epoch": None,
                    "trigger_word": trigger or "",
                    "weight": 0.8,
                    "file_metadata": {},
                    "run_id": None,
                    "active": True,
                    "deleted_at": None,
                    "created_at": now,
                }
                for character_id, path, trigger, architecture, checkpoint in rows
            ],
        )

    # In place (SQLite >= 3.35 drops a plain column natively): a batch rebuild would DROP TABLE characters,
    # and with foreign keys on that deletes every row that cascades from a character (images, references,
    # tags, these LoRAs).
    with op.batch_alter_table("characters", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("lora_path")


def downgrade() -> None:
    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lora_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
    op.execute(
        "UPDATE characters SET lora_path = (SELECT l.file_name FROM character_loras l"
        " WHERE l.character_id = characters.id AND l.active)"
    )
    with op.batch_alter_table("character_loras", schema=None) as batch_op:
        batch_op.drop_index("uq_character_loras_active")
        batch_op.drop_index(batch_op.f("ix_character_loras_character_id"))
    op.drop_table("character_loras")
