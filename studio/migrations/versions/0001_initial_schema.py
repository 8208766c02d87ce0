"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 10:47:55.861789
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

import studio.models._base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=True),
        sa.Column("subject_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_event"), ["event"], unique=False)

    op.create_table(
        "generation_styles",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("checkpoint_model", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("cfg_scale", sa.Float(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("sampler", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scheduler", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("positive_prompt_template", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("negative_prompt_template", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("model_architecture", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("prompt_format", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("device", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", name="jobstate"),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("progress_message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("external_handle", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_claim", ["state", "device", "priority", "id"], unique=False)

    op.create_table(
        "user_preferences",
        sa.Column("principal", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "value",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("last_login_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("genre", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("premise", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("content_rating", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("default_style", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("frame_width", sa.Integer(), nullable=False),
        sa.Column("frame_height", sa.Integer(), nullable=False),
        sa.Column("frame_rate", sa.Float(), nullable=False),
        sa.Column("archived_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["default_style"], ["generation_styles.name"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "characters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("design_prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "appearance_data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "voice_profile",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("reference_image_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("lora_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("deleted_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "slug", name="uq_characters_project_slug"),
    )
    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_characters_project_id"), ["project_id"], unique=False)

    op.create_table(
        "episodes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("episode_number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("story_arc", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("final_video_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("thumbnail_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("actual_duration_seconds", sa.Float(), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "episode_number", name="uq_episodes_project_number"),
    )
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episodes_project_id"), ["project_id"], unique=False)

    op.create_table(
        "scenes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("scene_number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("time_of_day", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("weather", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("mood", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("generation_status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target_duration_seconds", sa.Float(), nullable=False),
        sa.Column("actual_duration_seconds", sa.Float(), nullable=True),
        sa.Column("final_video_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("total_shots", sa.Integer(), nullable=False),
        sa.Column("completed_shots", sa.Integer(), nullable=False),
        sa.Column("generated_music_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("generated_music_task_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("post_interpolate_fps", sa.Integer(), nullable=True),
        sa.Column("post_upscale_factor", sa.Integer(), nullable=True),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scenes_project_id"), ["project_id"], unique=False)

    op.create_table(
        "storylines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tone", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column(
            "themes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("humor_style", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column(
            "story_arcs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_table(
        "world_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("style_preamble", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("art_style", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("aesthetic", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "color_palette",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "cinematography",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "world_location",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("time_period", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("production_notes", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "known_issues",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("negative_prompt_guidance", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id"),
    )
    op.create_table(
        "episode_scenes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Uuid(), nullable=False),
        sa.Column("scene_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("transition", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("transition_duration", sa.Float(), nullable=False),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["episode_id"], ["episodes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["scene_id"], ["scenes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("episode_id", "position", name="uq_episode_scenes_position"),
        sa.UniqueConstraint("episode_id", "scene_id", name="uq_episode_scenes_scene"),
    )
    with op.batch_alter_table("episode_scenes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_episode_scenes_episode_id"), ["episode_id"], unique=False)

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=True),
        sa.Column("file_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("perceptual_hash", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("source_ref", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("approval_state", sa.Enum("PENDING", "APPROVED", "REJECTED", name="approvalstate"), nullable=False),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column(
            "provenance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "triage",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "review",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("decided_at", studio.models._base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["duplicate_of_id"], ["images.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("character_id", "content_hash", name="uq_images_character_hash"),
    )
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.create_index("ix_images_character_state", ["character_id", "approval_state"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_perceptual_hash"), ["perceptual_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_images_project_id"), ["project_id"], unique=False)

    op.create_table(
        "shots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scene_id", sa.Uuid(), nullable=False),
        sa.Column("shot_number", sa.Integer(), nullable=False),
        sa.Column("shot_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("camera_angle", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("motion_prompt", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "characters_present",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("source_image_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("first_frame_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_frame_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("output_video_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=True),
        sa.Column("steps", sa.Integer(), nullable=True),
        sa.Column("use_f1", sa.Boolean(), nullable=False),
        sa.Column("generation_time_seconds", sa.Float(), nullable=True),
        sa.Column("quality_score", sa.Float(), nullable=True),
        sa.Column(
            "attempts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_message", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("dialogue_text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("dialogue_character_id", sa.Integer(), nullable=True),
        sa.Column("transition_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("transition_duration", sa.Float(), nullable=False),
        sa.Column("video_engine", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", studio.models._base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dialogue_character_id"], ["characters.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["scene_id"], ["scenes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scene_id", "shot_number", name="uq_shots_scene_number"),
    )
    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shots_scene_id"), ["scene_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shots_scene_id"))

    op.drop_table("shots")
    with op.batch_alter_table("images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_images_project_id"))
        batch_op.drop_index(batch_op.f("ix_images_perceptual_hash"))
        batch_op.drop_index("ix_images_character_state")

    op.drop_table("images")
    with op.batch_alter_table("episode_scenes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episode_scenes_episode_id"))

    op.drop_table("episode_scenes")
    op.drop_table("world_settings")
    op.drop_table("storylines")
    with op.batch_alter_table("scenes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scenes_project_id"))

    op.drop_table("scenes")
    with op.batch_alter_table("episodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_episodes_project_id"))

    op.drop_table("episodes")
    with op.batch_alter_table("characters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_characters_project_id"))

    op.drop_table("characters")
    op.drop_table("projects")
    op.drop_table("users")
    op.drop_table("user_preferences")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_claim")

    op.drop_table("jobs")
    op.drop_table("generation_styles")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_event"))

    op.drop_table("audit_events")
