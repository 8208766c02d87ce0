"""tags and captions

Every image gets tags per source (image_tags: prompt, tagger, comfyui, llm, person) and a prose caption; a
person's tag edits are logged with what undoing them needs (tag_edits, and the images each touched in
tag_edit_images). Characters get a trigger word and a
blacklist, projects a blacklist. Also generation_styles.vae (issue 19): a VAE file to load instead of the
checkpoint's own.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 03:07:22.655334
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("generation_styles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vae", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))

    op.create_table(
        "tag_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("new_tag", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("images_changed", sa.Integer(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("before", _json(), nullable=False),
        sa.Column("captions_before", _json(), nullable=False),
        sa.Column("undone_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("tag_edits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_edits_character_id"), ["character_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tag_edits_project_id"), ["project_id"], unique=False)

    op.create_table(
        "tag_edit_images",
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["edit_id"], ["tag_edits.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("edit_id", "image_id"),
    )
    with op.batch_alter_table("tag_edit_images", schema=None) as batch_op:
        # An undo looks for later edits of the same images.
        batch_op.create_index("ix_tag_edit_images_image", ["image_id", "edit_id"], unique=False)

    op.create_table(
        "image_tags",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("tag", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", "tag", "source"),
    )
    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        # Covers the frequency list (GROUP BY tag over one character's live rows) and a character-wide rename.
        batch_op.create_index(
            "ix_image_tags_frequency", ["character_id", "removed", "tag", "image_id", "category"], unique=False
        )

    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger_word", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("tag_blacklist", _json(), nullable=False, server_default="[]"))

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.add_column(sa.Column("caption", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("caption_source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="")
        )

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tag_blacklist", _json(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("tag_blacklist")

    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_column("caption_source")
        batch_op.drop_column("caption")

    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.drop_column("tag_blacklist")
        batch_op.drop_column("trigger_word")

    with op.batch_alter_table("image_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_image_tags_frequency")
    op.drop_table("image_tags")

    with op.batch_alter_table("tag_edit_images", schema=None) as batch_op:
        batch_op.drop_index("ix_tag_edit_images_image")
    op.drop_table("tag_edit_images")

    with op.batch_alter_table("tag_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_edits_project_id"))
        batch_op.drop_index(batch_op.f("ix_tag_edits_character_id"))
    op.drop_table("tag_edits")

    with op.batch_alter_table("generation_styles", schema=None) as batch_op:
        batch_op.drop_column("vae")
