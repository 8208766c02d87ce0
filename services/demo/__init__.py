"""The sample production: a small episode made end to end on the embedded defaults, for a newcomer."""

from services.demo.drawing import KEYFRAMES, keyframe, portrait
from services.demo.sample import (
    EPISODE_TITLE,
    SAMPLE_SEED,
    SERIES,
    Progress,
    SampleProduction,
    SampleResult,
    SampleRun,
)

__all__ = [
    "EPISODE_TITLE",
    "KEYFRAMES",
    "SAMPLE_SEED",
    "SERIES",
    "Progress",
    "SampleProduction",
    "SampleResult",
    "SampleRun",
    "keyframe",
    "portrait",
]
