"""Scene assembly: a scene's shots, voiced dialogue and music rendered to one MP4 in a single ffmpeg pass,
with subtitles and a poster."""

from services.assembly.graph import PlacedLine, SceneRender, ShotClip, render_args, scene_graph, upscaled_size
from services.assembly.scene_assembly import ASSEMBLY_JOB, SceneAssembly
from services.assembly.subtitles import Cue, to_srt, to_vtt
from services.assembly.timeline import Timeline, frame_rate, plan_timeline

__all__ = [
    "ASSEMBLY_JOB",
    "Cue",
    "PlacedLine",
    "SceneAssembly",
    "SceneRender",
    "ShotClip",
    "Timeline",
    "frame_rate",
    "plan_timeline",
    "render_args",
    "scene_graph",
    "to_srt",
    "to_vtt",
    "upscaled_size",
]
