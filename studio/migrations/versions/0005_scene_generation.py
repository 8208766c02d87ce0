"""scene generation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 14:22:44.134185
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import studio.models._base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("deleted_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_scenes_generation_job", "jobs", ["generation_job_id"], ["id"], ondelete="SET NULL"
        )

    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("source_image_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("selected_attempt", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_shots_source_image", "images", ["source_image_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.drop_constraint("fk_shots_source_image", type_="foreignkey")
        batch_op.drop_column("selected_attempt")
        batch_op.drop_column("source_image_id")
        batch_op.drop_column("description")

    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_scenes_generation_job", type_="foreignkey")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("generation_job_id")
