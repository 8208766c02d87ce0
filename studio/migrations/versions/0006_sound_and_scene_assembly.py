"""sound and scene assembly: the music cache, a scene's music track, and what its assembly produced

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 16:20:25.054545
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "music_tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=""),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="uploaded"),
        sa.Column("mood", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False, server_default=""),
        sa.Column("caption", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=""),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="ready"),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("deleted_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_music_tracks_job", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_music_tracks_project", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("music_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_music_tracks_project_id"), ["project_id"], unique=False)

    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("music_track_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("assembly_job_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("poster_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("subtitles_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True))
        batch_op.add_column(sa.Column("assembly_warnings", _JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("assembled_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key("fk_scenes_assembly_job", "jobs", ["assembly_job_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key(
            "fk_scenes_music_track", "music_tracks", ["music_track_id"], ["id"], ondelete="SET NULL"
        )
        # Replaced by music_track_id (the music cache) and the track's own job.
        batch_op.drop_column("generated_music_path")
        batch_op.drop_column("generated_music_task_id")


def downgrade() -> None:
    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generated_music_task_id", sa.VARCHAR(length=100), nullable=True))
        batch_op.add_column(sa.Column("generated_music_path", sa.VARCHAR(length=500), nullable=True))
        batch_op.drop_constraint("fk_scenes_music_track", type_="foreignkey")
        batch_op.drop_constraint("fk_scenes_assembly_job", type_="foreignkey")
        batch_op.drop_column("assembled_at")
        batch_op.drop_column("assembly_warnings")
        batch_op.drop_column("subtitles_path")
        batch_op.drop_column("poster_path")
        batch_op.drop_column("assembly_job_id")
        batch_op.drop_column("music_track_id")

    with op.batch_alter_table("music_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_music_tracks_project_id"))

    op.drop_table("music_tracks")
