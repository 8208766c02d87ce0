"""What a user may send to create or change episodes and their scene lists; shared by pages and REST."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.changes import Changes
from services.scenes.presets import Transition

Title = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
# An episode is a handful of scenes; this only stops a runaway request.
MAX_SCENES = 200
DEFAULT_TRANSITION = "fadeblack"
DEFAULT_TRANSITION_SECONDS = 0.5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EpisodeDraft(_Strict):
    title: Title = ""
    description: Text = ""
    story_arc: Title = ""
    episode_number: int | None = Field(None, ge=1, le=999, description="Unset: the next free number.")


class EpisodeChanges(Changes):
    title: Title | None = None
    description: Text | None = None
    story_arc: Title | None = None
    episode_number: int | None = Field(None, ge=1, le=999)
    deleted: bool | None = Field(None, description="false restores a deleted episode")


class EpisodeSceneEntry(_Strict):
    scene_id: uuid.UUID
    # How this scene gives way to the next one (the last scene's is not used).
    transition: Transition = DEFAULT_TRANSITION
    transition_duration: float = Field(DEFAULT_TRANSITION_SECONDS, ge=0, le=3)


class EpisodeScenes(_Strict):
    scenes: list[EpisodeSceneEntry] = Field(max_length=MAX_SCENES)
