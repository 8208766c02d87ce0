"""Rendering an episode from its assembled scenes: a smart render when it can, a full render when it must.

Both renders make the same episode: the scenes joined on one frame-exact timeline, pictures with xfade
and sound with acrossfade over the same overlaps, so not a second of audio is lost at a transition (the
earlier system mapped only the video of its xfade and published silent episodes).

- The full render is one ffmpeg pass over a filter graph that brings every scene to the project's size
  and rate first, so scenes of any size, rate or codec join.
- The smart render needs every scene in the house format (services/assembly/house.py). It then
  re-encodes only the frames around each transition, from the last keyframe before the overlap in the
  scene before to the first keyframe after it in the scene after, and stream-copies everything between
  (the concat demuxer, told each piece's exact length). The sound is built for the whole episode by the
  same audio graph as the full render, encoded in stretches on every core and muxed beside the pictures.
  Ten 30 s scenes take a few seconds instead of
  re-encoding five minutes of video.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from services.assembly.graph import SceneRender, ShotClip, render_args
from services.assembly.house import HouseFormat
from services.assembly.timeline import Timeline
from services.episodes.sound import encode_sound
from services.errors import Invalid
from services.jobs import ProgressSink
from services.media.frames import ffprobe, file_url, run_ffmpeg


@dataclass(frozen=True)
class SceneVideo:
    """An assembled scene's video as the episode render sees it."""

    path: Path
    frames: int
    # Frame numbers of its IDR keyframes (where a stream copy may start).
    keyframes: tuple[int, ...]
    has_audio: bool
    # Why it is not in the house format ("" when it is).
    outside_house: str


@dataclass(frozen=True)
class CopyPiece:
    """Frames [start, end) of a scene, stream-copied."""

    scene: int
    start: int
    end: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class TransitionPiece:
    """The end of one scene from `tail_start` and the start of the next up to `head_end`, joined by the
    transition and re-encoded."""

    before: int
    tail_start: int
    tail_frames: int  # frames of the scene before, from tail_start to its end
    head_end: int
    transition: str
    overlap: int

    @property
    def frames(self) -> int:
        return self.tail_frames + self.head_end - self.overlap


Piece = CopyPiece | TransitionPiece


class NotSmart(Exception):
    """Why an episode cannot be smart-rendered; it is rendered in full instead."""


async def probe_scene_video(path: Path, house: HouseFormat) -> SceneVideo:
    """Frame count, keyframes, sound and house-format check of a scene's video. Invalid: unreadable."""
    # One read of the file: the streams, the container's comment and every packet's keyframe flag.
    described = await ffprobe(
        path, show=("-show_format", "-show_streams", "-show_entries", "packet=stream_index,flags")
    )
    streams = described.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    packets = described.get("packets") or []
    flags = [str(p.get("flags", "")) for p in packets if video is not None and p.get("stream_index") == video["index"]]
    if video is None or not flags:
        raise Invalid("video", f"{path.name} has no video frames")
    comment = ((described.get("format") or {}).get("tags") or {}).get("comment", "")
    outside = ""
    if comment != house.signature:
        outside = "it was rendered in another format (or before the house format existed)"
    elif (int(video.get("width") or 0), int(video.get("height") or 0)) != (house.width, house.height):
        outside = f"it is {video.get('width')}x{video.get('height')}, not {house.width}x{house.height}"
    elif Fraction(str(video.get("r_frame_rate") or "0/1")) != house.fps:
        outside = f"it runs at {video.get('r_frame_rate')} fps, not {house.fps}"
    rate = Fraction(str(video.get("r_frame_rate") or "0/1"))
    # The timeline counts frames at the episode's rate; a scene at another rate is resampled by the full render.
    frames = len(flags) if rate in (house.fps, 0) else max(1, round(len(flags) * house.fps / rate))
    return SceneVideo(
        path=path,
        frames=frames,
        keyframes=tuple(i for i, flag in enumerate(flags) if flag.startswith("K")),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        outside_house=outside,
    )


def full_render(timeline: Timeline, videos: list[SceneVideo], house: HouseFormat) -> SceneRender:
    """The episode as one graph over the scenes (the full render, and the audio of the smart one)."""
    clips = tuple(ShotClip(v.path, v.has_audio, v.frames) for v in videos)
    return SceneRender(timeline=timeline, clips=clips, width=house.width, height=house.height)


def smart_pieces(timeline: Timeline, videos: list[SceneVideo]) -> list[Piece]:
    """The copied stretches and re-encoded transitions that make the episode. NotSmart: why it can't be."""
    for i, video in enumerate(videos, start=1):
        if video.outside_house:
            raise NotSmart(f"scene {i} is not in the house format: {video.outside_house}")
    n = len(videos)
    heads = [0] * n  # where each scene's copied stretch starts (after the transition into it)
    tails = [v.frames for v in videos]  # and where it ends (before the transition out of it)
    for i in range(1, n):
        overlap = timeline.clips[i].overlap
        if overlap == 0:
            continue
        before, after = videos[i - 1], videos[i]
        tail = [k for k in before.keyframes if k <= before.frames - overlap]
        head = [k for k in after.keyframes if k >= overlap]
        if not tail or not head:
            raise NotSmart(f"scenes {i} and {i + 1} have no keyframe near their transition")
        tails[i - 1], heads[i] = tail[-1], head[0]
    pieces: list[Piece] = []
    for i in range(n):
        if heads[i] > tails[i]:
            raise NotSmart(f"scene {i + 1} is too short for its transitions to be re-encoded apart")
        if heads[i] < tails[i]:
            pieces.append(CopyPiece(i, heads[i], tails[i]))
        if i + 1 < n and timeline.clips[i + 1].overlap:
            clip = timeline.clips[i + 1]
            tail_frames = videos[i].frames - tails[i]
            pieces.append(TransitionPiece(i, tails[i], tail_frames, heads[i + 1], clip.transition, clip.overlap))
    return pieces


def chapters(timeline: Timeline, titles: list[str]) -> str:
    """An FFMETADATA file with a chapter per scene, from where each scene comes in (media servers and players
    offer them as chapter stops)."""
    lines = [";FFMETADATA1"]
    for i, title in enumerate(titles):
        end = timeline.start_seconds(i + 1) if i + 1 < len(titles) else timeline.seconds
        escaped = re.sub(r"([=;#\\\n])", r"\\\1", title)
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(timeline.start_seconds(i) * 1000)}",
                  f"END={round(end * 1000)}", f"title={escaped}"]  # fmt: skip
    return "\n".join(lines) + "\n"


async def render_full(
    timeline: Timeline,
    videos: list[SceneVideo],
    house: HouseFormat,
    out: Path,
    chapters: Path,
    progress: ProgressSink,
) -> None:
    render = full_render(timeline, videos, house)
    await run_ffmpeg(render_args(render, out, house, chapters), what="render the episode", seconds=timeline.seconds,
                     progress=progress, files=[out, *(v.path for v in videos)])  # fmt: skip


async def render_smart(
    timeline: Timeline,
    videos: list[SceneVideo],
    pieces: list[Piece],
    house: HouseFormat,
    out: Path,
    chapters: Path,
    work: Path,
    progress: ProgressSink,
) -> None:
    """Cut the scenes at their keyframes, re-encode the transitions, build the sound, and join it all
    without re-encoding, with the chapters of an FFMETADATA file. `work` is a folder for the pieces."""
    # The sound encodes from the start (on every core: services/episodes/sound.py) while the pictures are cut.
    sound = work / "sound.aac"
    building = asyncio.ensure_future(encode_sound(full_render(timeline, videos, house), house, sound, work))
    try:
        await progress(0.02, "cutting the scenes at their keyframes")
        stretches = await _split(videos, pieces, work)
        transitions = [p for p in pieces if isinstance(p, TransitionPiece)]
        await progress(0.1, f"re-encoding {len(transitions)} transitions")
        rendered = await _render_transitions(transitions, stretches, timeline.fps, house, work)
        await progress(0.85, "building the sound")
        track = await building
    finally:
        building.cancel()
        await asyncio.gather(building, return_exceptions=True)
    encoded = iter(rendered)
    listing = []
    for piece in pieces:
        path = stretches[(piece.scene, piece.start)] if isinstance(piece, CopyPiece) else next(encoded)
        listing.append(f"file '{path.name}'\nduration {float(Fraction(piece.frames) / timeline.fps):.6f}\n")
    await asyncio.to_thread((work / "pieces.txt").write_text, "".join(listing))
    await progress(0.9, "joining the pieces with the sound")
    await run_ffmpeg(
        ["-y", "-f", "concat", "-i", file_url(work / "pieces.txt"), *track.input_args(), "-i", file_url(chapters),
         "-map", "0:v", "-map", "1:a", "-map_chapters", "2", "-c", "copy", *track.output_args(),
         "-movflags", "+faststart",
         "-f", "mp4", file_url(out)],
        what="join the episode", files=[out],
    )  # fmt: skip


async def _split(videos: list[SceneVideo], pieces: list[Piece], work: Path) -> dict[tuple[int, int], Path]:
    """Each scene's video cut by stream copy at the frames the pieces start and end at.

    Returns the file of every stretch, by (scene, first frame)."""
    cuts: dict[int, set[int]] = {i: set() for i in range(len(videos))}
    for piece in pieces:
        if isinstance(piece, CopyPiece):
            cuts[piece.scene] |= {piece.start, piece.end}
        else:
            cuts[piece.before].add(piece.tail_start)
            cuts[piece.before + 1].add(piece.head_end)
    stretches: dict[tuple[int, int], Path] = {}
    cutting = []
    for i, video in enumerate(videos):
        inner = sorted(c for c in cuts[i] if 0 < c < video.frames)
        pattern = work / f"scene-{i:03d}-%03d.mp4"
        # With no cut inside, "cut" after the last frame: one stretch, the whole scene.
        frames = ",".join(map(str, inner or [video.frames]))
        args = ["-y", "-i", file_url(video.path), "-map", "0:v:0", "-c", "copy",
                "-f", "segment", "-segment_frames", frames, "-reset_timestamps", "1", file_url(pattern)]  # fmt: skip
        cutting.append(run_ffmpeg(args, what=f"cut scene {i + 1}", files=[video.path]))
        for k, start in enumerate([0, *inner]):
            stretches[(i, start)] = work / f"scene-{i:03d}-{k:03d}.mp4"
    await asyncio.gather(*cutting)  # copying only: bound by the disk, not the cores
    return stretches


async def _render_transitions(
    pieces: list[TransitionPiece],
    stretches: dict[tuple[int, int], Path],
    fps: Fraction,
    house: HouseFormat,
    work: Path,
) -> list[Path]:
    """Every transition re-encoded by one ffmpeg process with one output per transition (an ffmpeg start
    costs more than the dozen frames of a transition)."""
    if not pieces:
        return []
    inputs: list[str] = []
    chains, outputs, made = [], [], []
    for k, piece in enumerate(pieces):
        tail, head = stretches[(piece.before, piece.tail_start)], stretches[(piece.before + 1, 0)]
        # A dozen frames each: one decoding thread apiece beats a pool per input.
        inputs += ["-threads", "1", "-i", file_url(tail), "-threads", "1", "-i", file_url(head)]
        duration = float(Fraction(piece.overlap) / fps)
        offset = float(Fraction(piece.tail_frames - piece.overlap) / fps)
        chains.append(
            f"[{2 * k}:v]setpts=PTS-STARTPTS[tail{k}];[{2 * k + 1}:v]setpts=PTS-STARTPTS[head{k}];"
            f"[tail{k}][head{k}]xfade=transition={piece.transition}:duration={duration:.6f}:offset={offset:.6f}[v{k}]"
        )
        target = work / f"transition-{k:03d}.mp4"
        outputs += ["-map", f"[v{k}]", "-frames:v", str(piece.frames), *house.video_args(None), "-f", "mp4",
                    file_url(target)]  # fmt: skip
        made.append(target)
    await run_ffmpeg(["-y", *inputs, "-filter_complex", ";".join(chains), *outputs],
                     what="re-encode the transitions", files=made)  # fmt: skip
    return made
