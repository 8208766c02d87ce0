"""Before a scene that has rendered renders again: how many shots, roughly how long, and a way out."""

from __future__ import annotations

import uuid

from components.confirm import confirm
from components.page_level import page_level
from services.scenes.estimate import generation_estimate
from studio.root import Studio


async def generate_again_ok(studio: Studio, scene_id: uuid.UUID) -> bool:
    """True when the scene never rendered, or the person agreed to spend the GPU time again."""
    shots = await studio.scenes.shots(scene_id)
    if not any(shot.output_video_path for shot in shots):
        return True
    estimate = await generation_estimate(studio.jobs, len(shots))
    which = "its shot" if len(shots) == 1 else f"all {len(shots)} shots"
    with page_level():
        return await confirm(
            "Generate this scene again?",
            f"It has rendered already; generating renders {which} again: {estimate.text()}.",
            "Generate again",
            danger=False,
        )
