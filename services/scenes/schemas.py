"""What a user may send to create or change scenes and shots; shared by the pages and the REST API."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.changes import Changes
from services.scenes.presets import CameraAngle, ShotType, Transition
from studio.ids import RowId

Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=50)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Engine = Literal["framepack", "framepack_f1", "ltx", "wan", "animatic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SceneDraft(_Strict):
    title: Title = ""
    description: Text = ""
    location: Title = ""
    time_of_day: Short = ""
    weather: Short = ""
    mood: Short = ""
    target_duration_seconds: float = Field(30.0, gt=0, le=3600)


class SceneChanges(Changes):
    # A scene's post-processing is turned off with an explicit null.
    clearable: ClassVar[frozenset[str]] = frozenset({"post_interpolate_fps", "post_upscale_factor"})

    title: Title | None = None
    description: Text | None = None
    location: Title | None = None
    time_of_day: Short | None = None
    weather: Short | None = None
    mood: Short | None = None
    target_duration_seconds: float | None = Field(None, gt=0, le=3600)
    scene_number: int | None = Field(None, ge=1, le=10_000)
    post_interpolate_fps: int | None = Field(
        None, ge=25, le=120, description="Interpolate the assembled scene to this frame rate; null turns it off."
    )
    post_upscale_factor: int | None = Field(
        None, ge=2, le=4, description="Upscale the assembled scene (capped at 1920x1080); null turns it off."
    )
    deleted: bool | None = Field(None, description="false restores a deleted scene")


class ShotDraft(_Strict):
    shot_type: ShotType = "medium"
    camera_angle: CameraAngle = "eye_level"
    duration_seconds: float = Field(3.0, ge=0.5, le=60)
    description: Text = ""
    motion_prompt: Annotated[str, StringConstraints(max_length=1000)] = ""
    characters_present: list[RowId] = Field(default_factory=list, max_length=12)
    source_image_id: RowId | None = None
    dialogue_text: Annotated[str, StringConstraints(max_length=1000)] = ""
    dialogue_character_id: RowId | None = None
    transition_type: Transition = "dissolve"
    transition_duration: float = Field(0.3, ge=0, le=5)
    video_engine: Engine | None = Field(None, description="Unset: the studio proposes one from the shot.")
    position: int | None = Field(None, ge=1, description="Where to insert (1 = first); unset: at the end.")


class ShotChanges(Changes):
    # Fields that may be emptied on purpose: an explicit null clears the speaker, the source or the engine
    # (which the studio then proposes again).
    clearable: ClassVar[frozenset[str]] = frozenset({"dialogue_character_id", "source_image_id", "video_engine"})

    shot_type: ShotType | None = None
    camera_angle: CameraAngle | None = None
    duration_seconds: float | None = Field(None, ge=0.5, le=60)
    description: Text | None = None
    motion_prompt: Annotated[str, StringConstraints(max_length=1000)] | None = None
    characters_present: list[RowId] | None = Field(None, max_length=12)
    source_image_id: RowId | None = None
    clear_source: bool | None = Field(None, description="true removes the source image")
    dialogue_text: Annotated[str, StringConstraints(max_length=1000)] | None = None
    dialogue_character_id: RowId | None = None
    transition_type: Transition | None = None
    transition_duration: float | None = Field(None, ge=0, le=5)
    video_engine: Engine | None = None
