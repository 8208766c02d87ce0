"""review decisions and dataset curation

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 13:35:39.319006
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# approvalstate exists since 0001; the three new enum types are created explicitly, because on PostgreSQL
# neither a second table using an existing type nor add_column creates or reuses a type by itself.
APPROVAL_STATE = sa.Enum("PENDING", "APPROVED", "REJECTED", name="approvalstate").with_variant(
    postgresql.ENUM("PENDING", "APPROVED", "REJECTED", name="approvalstate", create_type=False), "postgresql"
)
NEW_ENUMS = {
    "decider": ("HUMAN", "DEDUP", "TRIAGE", "VISION"),
    "duplicatekind": ("EXACT", "NEAR"),
    "visionstatus": ("NONE", "QUEUED", "DONE", "NEEDS_HUMAN"),
}


def _enum(name: str) -> sa.types.TypeEngine:
    values = NEW_ENUMS[name]
    return sa.Enum(*values, name=name).with_variant(
        postgresql.ENUM(*values, name=name, create_type=False), "postgresql"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, values in NEW_ENUMS.items():
            postgresql.ENUM(*values, name=name).create(bind, checkfirst=True)
    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("previous_state", APPROVAL_STATE, nullable=False),
        sa.Column("state", APPROVAL_STATE, nullable=False),
        sa.Column("decider", _enum("decider"), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column(
            "categories", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column("image_version", sa.Integer(), nullable=False),
        sa.Column("undone_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_decisions_character_id"), ["character_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_decisions_image_id"), ["image_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_decisions_project_id"), ["project_id"], unique=False)

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("duplicate_kind", _enum("duplicatekind"), nullable=True))
        batch_op.add_column(sa.Column("duplicate_distance", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("triage_flags", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("vision_status", _enum("visionstatus"), nullable=False, server_default="NONE"))
        batch_op.add_column(
            sa.Column(
                "rejection_categories",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(sa.Column("derived_from_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_images_project_state", ["project_id", "approval_state", "id"], unique=False)
        batch_op.create_index("ix_images_project_hash", ["project_id", "content_hash"], unique=False)
        batch_op.create_foreign_key(
            "fk_images_derived_from", "images", ["derived_from_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_constraint("fk_images_derived_from", type_="foreignkey")
        batch_op.drop_index("ix_images_project_hash")
        batch_op.drop_index("ix_images_project_state")
        batch_op.drop_column("derived_from_id")
        batch_op.drop_column("rejection_categories")
        batch_op.drop_column("vision_status")
        batch_op.drop_column("triage_flags")
        batch_op.drop_column("duplicate_distance")
        batch_op.drop_column("duplicate_kind")

    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_decisions_project_id"))
        batch_op.drop_index(batch_op.f("ix_review_decisions_image_id"))
        batch_op.drop_index(batch_op.f("ix_review_decisions_character_id"))

    op.drop_table("review_decisions")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in NEW_ENUMS:
            postgresql.ENUM(name=name).drop(bind, checkfirst=True)
