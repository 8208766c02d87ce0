"""episodes: assembly and publication

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 18:59:18.928158
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subtitles_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("assembly_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("render_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(
            sa.Column(
                "assembly_warnings",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(
            sa.Column(
                "assembled_from",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(sa.Column("assembled_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("publish_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "publication",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("published_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_episodes_publish_job", "jobs", ["publish_job_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(
            "fk_episodes_assembly_job", "jobs", ["assembly_job_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_episodes_assembly_job", type_="foreignkey")
        batch_op.drop_constraint("fk_episodes_publish_job", type_="foreignkey")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("published_at")
        batch_op.drop_column("publication")
        batch_op.drop_column("publish_job_id")
        batch_op.drop_column("assembled_at")
        batch_op.drop_column("assembled_from")
        batch_op.drop_column("assembly_warnings")
        batch_op.drop_column("render_mode")
        batch_op.drop_column("assembly_job_id")
        batch_op.drop_column("subtitles_path")
