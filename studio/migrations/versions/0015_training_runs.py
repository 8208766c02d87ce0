"""training runs

LoRA training runs (issue 21): a character trained on a device with a preset's parameters; state mirrors its
job (one queued or running per character); progress, loss curve and the epochs saved (LoRA file + sample
images) are kept on the row.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("trainer", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("preset", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("params", _json(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("epochs_total", sa.Integer(), nullable=False),
        sa.Column("epochs_done", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("steps_total", sa.Integer(), nullable=False),
        sa.Column("speed", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("eta_seconds", sa.Float(), nullable=True),
        sa.Column("loss", _json(), nullable=False),
        sa.Column("epochs", _json(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("log_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_runs_character_id"), ["character_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_runs_project_id"), ["project_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_runs_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_training_runs_job_id"), ["job_id"], unique=False)
        # One queued or running run per character.
        batch_op.create_index(
            "uq_training_runs_active",
            ["character_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('queued', 'running')"),
            postgresql_where=sa.text("state IN ('queued', 'running')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("training_runs", schema=None) as batch_op:
        batch_op.drop_index("uq_training_runs_active")
        batch_op.drop_index(batch_op.f("ix_training_runs_job_id"))
        batch_op.drop_index(batch_op.f("ix_training_runs_state"))
        batch_op.drop_index(batch_op.f("ix_training_runs_project_id"))
        batch_op.drop_index(batch_op.f("ix_training_runs_character_id"))
    op.drop_table("training_runs")
