"""Shot vocabulary and the curated motion presets, served to the pages and the API from one place."""

from __future__ import annotations

from typing import Literal, get_args

ShotType = Literal["establishing", "wide", "medium", "close-up", "extreme_close-up", "action"]
CameraAngle = Literal["eye_level", "low", "high", "dutch", "overhead", "over_the_shoulder"]
Transition = Literal["dissolve", "fade", "fadeblack", "wipeleft", "cut"]
TimeOfDay = Literal["dawn", "morning", "noon", "afternoon", "evening", "dusk", "night"]

SHOT_TYPES: tuple[str, ...] = get_args(ShotType)
CAMERA_ANGLES: tuple[str, ...] = get_args(CameraAngle)
TRANSITIONS: tuple[str, ...] = get_args(Transition)
TIMES_OF_DAY: tuple[str, ...] = get_args(TimeOfDay)

# 27 prompts over 6 shot types, as the earlier system curated them: motion a video model renders well.
MOTION_PRESETS: dict[str, tuple[str, ...]] = {
    "establishing": (
        "slow pan across the landscape, clouds drifting",
        "slow zoom in towards the location",
        "wide dolly shot gliding forward",
        "aerial drift over the scene, gentle parallax",
    ),
    "wide": (
        "character walks across the frame",
        "wind moves the grass and the character's clothes",
        "slow push in on the group",
        "camera tracks alongside the character",
    ),
    "medium": (
        "character breathes and shifts weight, subtle movement",
        "character turns to look at the camera",
        "character gestures while talking",
        "slow push in, character nods",
        "character crosses arms and looks away",
    ),
    "close-up": (
        "subtle breathing, gentle idle motion",
        "character blinks and smiles",
        "slow head turn towards the camera",
        "eyes widen in surprise",
        "wind gently moves the hair",
    ),
    "extreme_close-up": (
        "eyes move and blink slowly",
        "a tear runs down the cheek",
        "lips tremble, then press together",
        "pupils narrow, light flickers across the face",
    ),
    "action": (
        "character leaps forward through the air",
        "character throws a punch, then a kick",
        "character sprints towards the camera",
        "character dodges to the side, dust flies",
        "character powers up, energy swirling around",
    ),
}


def motion_presets(shot_type: str | None = None) -> dict[str, tuple[str, ...]]:
    """The presets of one shot type (all types when None); an unknown type has none."""
    if shot_type is None:
        return dict(MOTION_PRESETS)
    return {shot_type: MOTION_PRESETS[shot_type]} if shot_type in MOTION_PRESETS else {}
