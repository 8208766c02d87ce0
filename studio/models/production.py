"""Scenes, shots, episodes and the ordered scenes of an episode."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field, updated_at_field


class Scene(SQLModel, table=True):
    __tablename__ = "scenes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    scene_number: int = 1
    title: str = Field(default="", max_length=200)
    description: str = ""
    location: str = Field(default="", max_length=200)
    time_of_day: str = Field(default="", max_length=50)
    weather: str = Field(default="", max_length=50)
    mood: str = Field(default="", max_length=50)
    # draft, generating, completed, partial, failed
    generation_status: str = Field(default="draft", max_length=32)
    target_duration_seconds: float = 30.0
    actual_duration_seconds: float | None = None
    final_video_path: str | None = Field(default=None, max_length=500)
    total_shots: int = 0
    completed_shots: int = 0
    generated_music_path: str | None = Field(default=None, max_length=500)
    generated_music_task_id: str | None = Field(default=None, max_length=100)
    post_interpolate_fps: int | None = None
    post_upscale_factor: int | None = None
    # The job that generates the scene, while one runs (a scene never generates twice at once).
    generation_job_id: int | None = Field(default=None, foreign_key="jobs.id", ondelete="SET NULL")
    deleted_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Shot(SQLModel, table=True):
    __tablename__ = "shots"
    __table_args__ = (UniqueConstraint("scene_id", "shot_number", name="uq_shots_scene_number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    scene_id: uuid.UUID = Field(foreign_key="scenes.id", index=True, ondelete="CASCADE")
    shot_number: int
    shot_type: str = Field(default="medium", max_length=32)
    camera_angle: str = Field(default="eye_level", max_length=32)
    duration_seconds: float = 3.0
    # What happens in the shot (the generation prompt); the motion prompt says how things move.
    description: str = ""
    motion_prompt: str = ""
    characters_present: list[int] = json_field(list)
    # A chosen dataset image (its file is the source), or an uploaded/extracted file under the data folder.
    source_image_id: int | None = Field(default=None, foreign_key="images.id", ondelete="SET NULL")
    source_image_path: str | None = Field(default=None, max_length=500)
    first_frame_path: str | None = Field(default=None, max_length=500)
    last_frame_path: str | None = Field(default=None, max_length=500)
    output_video_path: str | None = Field(default=None, max_length=500)
    # pending, generating, completed, accepted_best, failed
    status: str = Field(default="pending", max_length=32)
    seed: int | None = None
    steps: int | None = None
    use_f1: bool = False
    generation_time_seconds: float | None = None
    quality_score: float | None = None
    attempts: list[dict[str, Any]] = json_field(list)
    # The attempt whose video the shot uses (the best or the first that passed, or one a person promoted).
    selected_attempt: int | None = None
    error_message: str | None = None
    dialogue_text: str = ""
    dialogue_character_id: int | None = Field(default=None, foreign_key="characters.id", ondelete="SET NULL")
    transition_type: str = Field(default="dissolve", max_length=32)
    transition_duration: float = 0.3
    # framepack | framepack_f1 | ltx | wan | animatic
    video_engine: str = Field(default="animatic", max_length=32)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Episode(SQLModel, table=True):
    __tablename__ = "episodes"
    __table_args__ = (UniqueConstraint("project_id", "episode_number", name="uq_episodes_project_number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", index=True, ondelete="CASCADE")
    episode_number: int = 1
    title: str = Field(default="", max_length=200)
    description: str = ""
    story_arc: str = Field(default="", max_length=200)
    # draft, assembled, published
    status: str = Field(default="draft", max_length=32)
    final_video_path: str | None = Field(default=None, max_length=500)
    thumbnail_path: str | None = Field(default=None, max_length=500)
    actual_duration_seconds: float | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class EpisodeScene(SQLModel, table=True):
    __tablename__ = "episode_scenes"
    __table_args__ = (
        UniqueConstraint("episode_id", "position", name="uq_episode_scenes_position"),
        UniqueConstraint("episode_id", "scene_id", name="uq_episode_scenes_scene"),
    )

    id: int | None = Field(default=None, primary_key=True)
    episode_id: uuid.UUID = Field(foreign_key="episodes.id", index=True, ondelete="CASCADE")
    scene_id: uuid.UUID = Field(foreign_key="scenes.id", ondelete="CASCADE")
    position: int
    # transition into the next scene: fadeblack (0.5 s default) or cut
    transition: str = Field(default="fadeblack", max_length=32)
    transition_duration: float = 0.5
    created_at: datetime = created_at_field()
