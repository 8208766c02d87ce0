"""Scene assembly benchmark: ten 3 s 720p shots with transitions, five dialogue lines and music.

Prints one JSON line: {"one_pass_s", "xfade_only_s", "multi_pass_s", "bare_encode_s", ...}.
- one_pass_s: what a scene assembly runs: the audio-only loudness measurement, then the single graph
  (normalise, xfade + acrossfade, lines placed, ducked music, loudnorm) and one encode;
- xfade_only_s: a single graph with only the shots' video and audio crossfades, one encode;
- multi_pass_s: the earlier system's way to the same output: nine pairwise xfade re-encodes, then a
  dialogue pass (lines joined with silences), then a mix pass (sidechaincompress + amix);
- bare_encode_s: a plain re-encode of the assembled output's length.
Goals: one_pass_s <= 1.1 x xfade_only_s, and multi_pass_s >= 3 x one_pass_s. Every render uses the
studio's assembly preset (veryfast, crf 20). one_pass_s and xfade_only_s are the medians of three runs,
taken in turns (their difference is under a second, less than one run's noise on a busy 2-core box); the
slow ways run once. Making the inputs is not timed.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from services.assembly import PlacedLine, SceneRender, ShotClip, plan_timeline, render_args
from services.assembly.graph import measure_args
from services.assembly.house import HouseFormat
from services.assembly.loudness import LoudnessLog
from services.media.frames import file_url, run_ffmpeg

SHOTS, SHOT_SECONDS, FPS, SIZE = 10, 3.0, 24, (1280, 720)
TRANSITIONS = ("dissolve", "fade", "fadeblack", "wipeleft", "dissolve", "fade", "fadeblack", "wipeleft", "dissolve")
LINES = (
    "The storm is coming to the harbour tonight.",
    "Then we sail before the sun comes up.",
    "Nobody leaves without the captain's word.",
    "The captain is asleep, and the tide will not wait.",
    "Fine. Wake the crew, quietly.",
)
PRESET, CRF = "veryfast", 20
RUNS = 3


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def _make_inputs(folder: Path) -> tuple[list[Path], list[Path], Path]:
    shots = []
    sources = ("testsrc2", "testsrc", "smptebars", "mandelbrot", "life=s=1280x720:mold=10:r=24")
    for i in range(SHOTS):
        path = folder / f"shot-{i}.mp4"
        source = sources[i % len(sources)]
        video = source if "=" in source else f"{source}=size={SIZE[0]}x{SIZE[1]}:rate={FPS}"
        _ffmpeg("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", f"sine=f={220 + 40 * i}:r=48000",
                "-t", str(SHOT_SECONDS), "-vf", f"scale={SIZE[0]}:{SIZE[1]},format=yuv420p", "-c:v", "libx264",
                "-preset", "ultrafast", "-c:a", "aac", "-shortest", str(path))  # fmt: skip
        shots.append(path)
    lines = []
    for i, text in enumerate(LINES):
        path = folder / f"line-{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
        lines.append(path)
    music = folder / "music.wav"
    _ffmpeg("-f", "lavfi", "-i", "sine=f=196:r=48000:d=12", "-ac", "2", str(music))
    return shots, lines, music


def _timed(run: object) -> float:
    start = time.perf_counter()
    asyncio.run(run)  # type: ignore[arg-type]
    return time.perf_counter() - start


def _house(render: SceneRender) -> HouseFormat:
    return HouseFormat(render.width, render.height, render.timeline.fps, PRESET, CRF)


async def _one_pass(render: SceneRender, out: Path) -> None:
    log = LoudnessLog()
    await run_ffmpeg(measure_args(render), what="measure", on_stderr=log.consume, loglevel="info")
    measured = SceneRender(**{**render.__dict__, "loudness": log.measured()})
    await run_ffmpeg(render_args(measured, out, _house(render)), what="render")


async def _xfade_only(render: SceneRender, out: Path) -> None:
    bare = SceneRender(timeline=render.timeline, clips=render.clips, width=render.width, height=render.height)
    await run_ffmpeg(render_args(bare, out, _house(render)), what="render")


async def _multi_pass(render: SceneRender, shots: list[Path], lines: list[Path], music: Path, work: Path) -> None:
    """The earlier system: pairwise xfade re-encodes (video only), a dialogue concat pass, a mix pass."""
    timeline = render.timeline
    joined, length = shots[0], timeline.clip_seconds(0)
    for i in range(1, len(shots)):
        d = timeline.time(timeline.clips[i].overlap)
        out = work / f"pair-{i}.mp4"
        await run_ffmpeg(["-y", "-i", file_url(joined), "-i", file_url(shots[i]), "-filter_complex",
                          f"[0:v][1:v]xfade=transition={timeline.clips[i].transition}:duration={d:.3f}:"
                          f"offset={length - d:.3f}[vout]", "-map", "[vout]", "-c:v", "libx264", "-preset", PRESET,
                          "-crf", str(CRF), "-pix_fmt", "yuv420p", file_url(out)], what="pair")  # fmt: skip
        joined, length = out, length - d + timeline.clip_seconds(i)
    silence = work / "silence.wav"
    await run_ffmpeg(["-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono:d=0.5", "-acodec", "pcm_s16le",
                      file_url(silence)], what="silence")  # fmt: skip
    listing = work / "dialogue.txt"
    entries = [f"file '{p}'\nfile '{silence}'" for p in lines]
    listing.write_text("\n".join(entries) + "\n")
    dialogue = work / "dialogue.wav"
    await run_ffmpeg(["-y", "-f", "concat", "-safe", "0", "-i", file_url(listing), "-ar", "22050", "-ac", "1",
                      "-acodec", "pcm_s16le", file_url(dialogue)], what="dialogue")  # fmt: skip
    await run_ffmpeg(["-y", "-i", file_url(joined), "-i", file_url(dialogue), "-stream_loop", "-1", "-i",
                      file_url(music), "-filter_complex",
                      f"[2:a]volume=0.3,afade=t=in:st=0:d=1,afade=t=out:st={length - 2:.3f}:d=2[music];"
                      "[music][1:a]sidechaincompress=threshold=0.02:ratio=6:attack=200:release=1000[ducked];"
                      "[1:a][ducked]amix=inputs=2:duration=longest:normalize=0[a]", "-map", "0:v", "-map", "[a]",
                      "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-t", f"{length:.3f}",
                      file_url(work / "multi.mp4")], what="mix")  # fmt: skip


async def _bare(source: Path, out: Path) -> None:
    await run_ffmpeg(["-y", "-i", file_url(source), "-c:v", "libx264", "-preset", PRESET, "-crf", str(CRF),
                      "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", file_url(out)], what="encode")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assembly-") as tmp:
        work = Path(tmp)
        shots, lines, music = _make_inputs(work)
        fps = Fraction(FPS)
        timeline = plan_timeline(
            fps, [(SHOT_SECONDS, "cut", 0.0)] + [(SHOT_SECONDS, t, 0.5) for t in TRANSITIONS[: SHOTS - 1]]
        )
        render = SceneRender(
            timeline=timeline,
            clips=tuple(ShotClip(p, True, round(SHOT_SECONDS * FPS)) for p in shots),
            width=SIZE[0],
            height=SIZE[1],
            # A line on every other shot, each at its shot's start.
            lines=tuple(PlacedLine(p, timeline.start_seconds(2 * i)) for i, p in enumerate(lines)),
            music=music,
        )
        ones, xfades = [], []
        for _ in range(RUNS):
            ones.append(_timed(_one_pass(render, work / "one.mp4")))
            xfades.append(_timed(_xfade_only(render, work / "xfade.mp4")))
        one, xfade = statistics.median(ones), statistics.median(xfades)
        multi = _timed(_multi_pass(render, shots, lines, music, work))
        bare = _timed(_bare(work / "one.mp4", work / "bare.mp4"))
        print(
            json.dumps(
                {
                    "one_pass_s": round(one, 2),
                    "xfade_only_s": round(xfade, 2),
                    "multi_pass_s": round(multi, 2),
                    "bare_encode_s": round(bare, 2),
                    "one_pass_vs_xfade_only": round(one / xfade, 3),
                    "multi_pass_vs_one_pass": round(multi / one, 2),
                    "output_s": round(timeline.seconds, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
