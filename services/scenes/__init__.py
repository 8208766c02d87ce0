"""Scenes and shots: the timeline, story to scenes, video engines, gated generation with continuity."""

from services.scenes.events import SceneChanged, ShotProgressed
from services.scenes.framepack_gradio import FRAMEPACK_GRADIO_JOB, FramePackGradioHandler
from services.scenes.generation import SCENE_JOB, SceneGeneration, SceneJobHandler
from services.scenes.planning import StoryPlanner
from services.scenes.presets import CAMERA_ANGLES, MOTION_PRESETS, SHOT_TYPES, TRANSITIONS, motion_presets
from services.scenes.scenes import Scenes, SceneSummary, scene_heading
from services.scenes.schemas import SceneChanges, SceneDraft, ShotChanges, ShotDraft
from services.scenes.story import StoryPlan, StoryPlanError
from services.scenes.video_engines import ENGINE_LIMITS, available_engines, select_engine
from services.scenes.video_job import VIDEO_JOB, VideoJobHandler

__all__ = [
    "CAMERA_ANGLES",
    "ENGINE_LIMITS",
    "FRAMEPACK_GRADIO_JOB",
    "MOTION_PRESETS",
    "SCENE_JOB",
    "SHOT_TYPES",
    "TRANSITIONS",
    "VIDEO_JOB",
    "FramePackGradioHandler",
    "SceneChanged",
    "SceneChanges",
    "SceneDraft",
    "SceneGeneration",
    "SceneJobHandler",
    "SceneSummary",
    "Scenes",
    "ShotChanges",
    "ShotDraft",
    "ShotProgressed",
    "StoryPlan",
    "StoryPlanError",
    "StoryPlanner",
    "VideoJobHandler",
    "available_engines",
    "motion_presets",
    "scene_heading",
    "select_engine",
]
