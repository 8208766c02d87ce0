"""Episode assembly benchmark: ten 30 s 720p scenes in the house format, joined with 0.5 s fadeblack.

Prints one JSON line: {"smart_s", "full_s", "ratio", ...}.
- smart_s: the smart render (cut the scenes at their keyframes by stream copy, re-encode the nine
  transition windows, build the episode's sound, join without re-encoding);
- full_s: the full render of the same episode (one graph, every frame re-encoded);
- ratio: smart_s / full_s. Goal: <= 0.15.
Both renders make 4.9 minutes of episode with the studio's assembly preset (veryfast, crf 20). smart_s is
the median of three runs (a run is seconds long, so one busy moment on a 2-core box shows in it); the full
render runs once. Making the scenes (through the scene renderer, so they are in the house format) is not
timed.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from services.assembly import SceneRender, ShotClip, plan_timeline, render_args
from services.assembly.house import HouseFormat
from services.assembly.timeline import plan_frames
from services.episodes.render import chapters, probe_scene_video, render_full, render_smart, smart_pieces
from services.media.frames import run_ffmpeg

SCENES, SCENE_SECONDS, FPS, SIZE = 10, 30.0, Fraction(24), (1280, 720)
PATTERNS = ("testsrc2", "smptehdbars", "testsrc", "rgbtestsrc", "yuvtestsrc")
HOUSE = HouseFormat(SIZE[0], SIZE[1], FPS, "veryfast", 20)
SMART_RUNS = 3


async def _scenes(work: Path) -> list[Path]:
    """Ten house-format scenes, each rendered by the scene renderer from a moving test pattern with a tone."""
    made = []
    for i in range(SCENES):
        source = work / f"source-{i}.mp4"
        pattern = PATTERNS[i % len(PATTERNS)]
        await run_ffmpeg(
            ["-y", "-f", "lavfi", "-i", f"{pattern}=size=640x360:rate=24:duration={SCENE_SECONDS}",
             "-f", "lavfi", "-i", f"sine=f={220 + 40 * i}:r=48000:d={SCENE_SECONDS}",
             "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(source)],
            what="make a source",
        )  # fmt: skip
        timeline = plan_timeline(FPS, [(SCENE_SECONDS, "cut", 0.0)])
        render = SceneRender(timeline=timeline, clips=(ShotClip(source, True, timeline.total_frames),),
                             width=SIZE[0], height=SIZE[1])  # fmt: skip
        scene = work / f"scene-{i}.mp4"
        await run_ffmpeg(render_args(render, scene, HOUSE), what="render a scene")
        made.append(scene)
    return made


async def _quiet(_fraction: float, _message: str) -> None:
    return None


async def _bench(work: Path) -> dict[str, float]:
    scenes = await _scenes(work)
    videos = [await probe_scene_video(scene, HOUSE) for scene in scenes]
    timeline = plan_frames(FPS, [(v.frames, "fadeblack", 0.5) for v in videos])
    pieces = smart_pieces(timeline, videos)
    marks = work / "chapters.txt"
    marks.write_text(chapters(timeline, [f"Scene {i + 1}" for i in range(SCENES)]))
    runs = []
    for _ in range(SMART_RUNS):
        pieces_dir = work / "pieces"
        pieces_dir.mkdir()
        start = time.perf_counter()
        await render_smart(timeline, videos, pieces, HOUSE, work / "smart.mp4", marks, pieces_dir, _quiet)
        runs.append(time.perf_counter() - start)
        shutil.rmtree(pieces_dir)
    smart = statistics.median(runs)
    start = time.perf_counter()
    await render_full(timeline, videos, HOUSE, work / "full.mp4", marks, _quiet)
    full = time.perf_counter() - start
    return {
        "smart_s": round(smart, 2),
        "full_s": round(full, 2),
        "ratio": round(smart / full, 3),
        "episode_s": round(timeline.seconds, 3),
        "transitions": SCENES - 1,
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="episode-bench-") as folder:
        print(json.dumps(asyncio.run(_bench(Path(folder)))))


if __name__ == "__main__":
    main()
