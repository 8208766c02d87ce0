"""The ffmpeg command that renders a scene in one pass: one filter graph, one encode.

The graph, for shots 0..n-1, dialogue lines after them and the music last:
- every shot is brought to the output rate, size (letterboxed, never stretched) and pixel format, and to
  exactly its frame count on the timeline, whatever engine made it (xfade needs equal inputs; the
  earlier system joined FramePack's 30 fps with Wan's 16 fps and failed);
- shots are joined with xfade (or concat for a cut) at offsets from the frame-exact timeline, and the
  shots' own sound, if any, with acrossfade over the same overlaps;
- each line is delayed to its start on the joined timeline, and the lines are summed;
- the music is looped to the scene's length, set to 30%, faded in and out, and ducked under the
  dialogue by sidechaincompress;
- all of it is mixed without amix's level normalisation, brought to the loudness target by the gain a
  first, audio-only pass measured (EBU R128 two-pass, linear), and padded and trimmed to exactly the
  video's length, so the audio never cuts the scene short (the earlier system's
  `amix=duration=shortest` + `-shortest` cut scenes down to the dialogue);
- optional post-processing (minterpolate, lanczos upscale) runs on the joined video in the same graph.

Building the graph is pure (no I/O), so a scene's exact graph string is asserted in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from services.assembly.house import SAMPLE_RATE, HouseFormat
from services.assembly.timeline import CUT, Timeline
from services.media.frames import file_url

AUDIO_FORMAT = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
MUSIC_VOLUME = 0.3
MUSIC_FADE_IN, MUSIC_FADE_OUT = 1.0, 2.0
# Music ducks under speech: the earlier system's tuned values (music at 30% dips to about 5%).
DUCKING = "threshold=0.02:ratio=6:attack=200:release=1000:makeup=1"
MINTERPOLATE = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
# Upscaled output never exceeds full HD.
MAX_WIDTH, MAX_HEIGHT = 1920, 1080
# The true-peak ceiling of the loudness-normalised mix (EBU R128 for streaming).
TRUE_PEAK = -1.5


@dataclass(frozen=True)
class ShotClip:
    path: Path
    has_audio: bool
    # Frames the file holds at the output rate (as probed); the graph holds the last frame for the rest.
    source_frames: int


@dataclass(frozen=True)
class PlacedLine:
    path: Path
    start_seconds: float


@dataclass(frozen=True)
class Loudness:
    """What the first pass measured: the mix's integrated loudness (LUFS) and true peak (dBFS)."""

    input_i: float
    input_tp: float

    def gain_db(self, target: float) -> float:
        """The linear gain that brings the mix to `target` LUFS, less if its peaks would pass the ceiling.

        A gain, not loudnorm: loudnorm works at 192 kHz and would add a fifth to the render.
        """
        return round(min(target - self.input_i, TRUE_PEAK - self.input_tp), 2)


@dataclass(frozen=True)
class SceneRender:
    timeline: Timeline
    clips: tuple[ShotClip, ...]
    width: int
    height: int
    lines: tuple[PlacedLine, ...] = ()
    music: Path | None = None
    interpolate_fps: int | None = None
    upscale: tuple[int, int] | None = None
    loudness_target: float = -16.0
    loudness: Loudness | None = field(default=None, compare=False)

    @property
    def seconds(self) -> float:
        return self.timeline.seconds


def upscaled_size(width: int, height: int, factor: int) -> tuple[int, int]:
    """`factor` times the size, scaled down to fit 1920x1080, both sides even."""
    w, h = width * factor, height * factor
    scale = min(1.0, MAX_WIDTH / w, MAX_HEIGHT / h)
    return max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)


def _s(seconds: float) -> str:
    # Microseconds are what ffmpeg parses durations to, so six decimals lose nothing.
    return f"{seconds:.6f}"


def _fps(render: SceneRender) -> str:
    return str(render.timeline.fps)


def video_chains(render: SceneRender) -> list[str]:
    """The video part of the graph, ending in [vout]."""
    timeline, w, h = render.timeline, render.width, render.height
    chains = []
    for i, (clip, source) in enumerate(zip(timeline.clips, render.clips, strict=True)):
        # A second of held frames beyond the shortfall covers a container that overstates its length.
        hold = max(0, clip.frames - source.source_frames) + round(timeline.fps)
        chains.append(
            f"[{i}:v]fps={_fps(render)},scale={w}:{h}:force_original_aspect_ratio=decrease,"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuv420p,"
            f"tpad=stop_mode=clone:stop={hold},trim=end_frame={clip.frames},setpts=PTS-STARTPTS[v{i}]"
        )
    chains.extend(_joins(timeline, "v", _video_join))
    post = []
    if render.interpolate_fps:
        post.append(f"minterpolate=fps={render.interpolate_fps}:{MINTERPOLATE}")
    if render.upscale:
        post.append(f"scale={render.upscale[0]}:{render.upscale[1]}:flags=lanczos")
    chains.append(f"[{_last('v', timeline)}]{','.join(post) or 'null'}[vout]")
    return chains


def _video_join(timeline: Timeline, i: int) -> str:
    clip = timeline.clips[i]
    if clip.transition == CUT:
        return "concat=n=2:v=1:a=0"
    duration, offset = timeline.time(clip.overlap), timeline.start_seconds(i)
    return f"xfade=transition={clip.transition}:duration={_s(duration)}:offset={_s(offset)}"


def _audio_join(timeline: Timeline, i: int) -> str:
    clip = timeline.clips[i]
    if clip.transition == CUT:
        return "concat=n=2:v=0:a=1"
    return f"acrossfade=d={_s(timeline.time(clip.overlap))}:c1=tri:c2=tri"


def _joins(timeline: Timeline, kind: str, join: Callable[[Timeline, int], str]) -> list[str]:
    chains = []
    previous = f"{kind}0"
    for i in range(1, len(timeline.clips)):
        label = f"{kind}j{i}"
        chains.append(f"[{previous}][{kind}{i}]{join(timeline, i)}[{label}]")
        previous = label
    return chains


def _last(kind: str, timeline: Timeline) -> str:
    n = len(timeline.clips)
    return f"{kind}j{n - 1}" if n > 1 else f"{kind}0"


def audio_chains(render: SceneRender) -> list[str]:
    """The audio part of the graph, ending in [aout]: exactly the video's length."""
    timeline, total = render.timeline, _s(render.seconds)
    chains: list[str] = []
    mix: list[str] = []
    # The shots' own sound (engines that make none get silence), joined like the pictures.
    if any(clip.has_audio for clip in render.clips):
        for i, clip in enumerate(render.clips):
            seconds = _s(timeline.clip_seconds(i))
            source = f"[{i}:a]{AUDIO_FORMAT},apad" if clip.has_audio else f"anullsrc=r={SAMPLE_RATE}:cl=stereo"
            chains.append(f"{source},atrim=end={seconds},asetpts=PTS-STARTPTS[a{i}]")
        chains.extend(_joins(timeline, "a", _audio_join))
        chains.append(f"[{_last('a', timeline)}]anull[base]")
    else:
        chains.append(f"anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=end={total}[base]")
    mix.append("[base]")
    first_line = len(render.clips)
    if render.lines:
        for k, line in enumerate(render.lines):
            delay = round(line.start_seconds * SAMPLE_RATE)
            chains.append(f"[{first_line + k}:a]{AUDIO_FORMAT},adelay=delays={delay}S:all=1[d{k}]")
        labels = "".join(f"[d{k}]" for k in range(len(render.lines)))
        if len(render.lines) > 1:
            summed = f"{labels}amix=inputs={len(render.lines)}:duration=longest:normalize=0,"
        else:
            summed = labels  # one line: nothing to sum
        split = "asplit=2[dialogue][speech]" if render.music else "anull[dialogue]"
        chains.append(f"{summed}apad=whole_dur={total},atrim=end={total},{split}")
        mix.append("[dialogue]")
    if render.music:
        music = first_line + len(render.lines)
        fade_in = min(MUSIC_FADE_IN, render.seconds / 4)
        fade_out = min(MUSIC_FADE_OUT, render.seconds / 3)
        music_chain = (
            f"[{music}:a]{AUDIO_FORMAT},atrim=end={total},asetpts=PTS-STARTPTS,volume={MUSIC_VOLUME},"
            f"afade=t=in:st=0:d={_s(fade_in)},afade=t=out:st={_s(render.seconds - fade_out)}:d={_s(fade_out)}"
        )
        if render.lines:
            chains.append(f"{music_chain}[music]")
            chains.append(f"[music][speech]sidechaincompress={DUCKING}[ducked]")
        else:
            chains.append(f"{music_chain}[ducked]")
        mix.append("[ducked]")
    mixed = f"{''.join(mix)}amix=inputs={len(mix)}:duration=first:normalize=0," if len(mix) > 1 else "[base]"
    chains.append(f"{mixed}{_loudness(render)}apad=whole_dur={total},atrim=end={total}[aout]")
    return chains


def _loudness(render: SceneRender) -> str:
    measured = render.loudness
    return "" if measured is None else f"volume={measured.gain_db(render.loudness_target)}dB,"


def scene_graph(render: SceneRender) -> str:
    return ";".join(video_chains(render) + audio_chains(render))


def input_args(render: SceneRender) -> list[str]:
    args: list[str] = []
    for clip in render.clips:
        args += ["-i", file_url(clip.path)]
    for line in render.lines:
        args += ["-i", file_url(line.path)]
    if render.music:
        # Looped at the input, so a short bed or track lasts the whole scene.
        args += ["-stream_loop", "-1", "-i", file_url(render.music)]
    return args


def render_args(render: SceneRender, output: Path, house: HouseFormat, chapters: Path | None = None) -> list[str]:
    """ffmpeg arguments that render the scene to `output` in the house format (MP4: H.264 + AAC, faststart),
    with the chapters of an FFMETADATA file if one is given."""
    # Interpolation changes the frame count; such a scene is outside the project's house format anyway.
    frames = None if render.interpolate_fps else render.timeline.total_frames
    inputs = input_args(render)
    with_chapters = [] if chapters is None else ["-i", file_url(chapters), "-map_chapters", str(inputs.count("-i"))]
    return [
        "-y",
        *inputs,
        *with_chapters,
        "-filter_complex",
        scene_graph(render),
        "-map",
        "[vout]",
        "-map",
        "[aout]",
        *house.video_args(frames),
        *house.audio_args(),
        *house.tag_args(),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        file_url(output),
    ]


def measure_args(render: SceneRender) -> list[str]:
    """ffmpeg arguments that run only the audio graph and print its loudness (the first of two passes)."""
    graph = ";".join(audio_chains(render)).replace("[aout]", "[mixed]")
    return [
        *input_args(render),
        "-filter_complex",
        f"{graph};[mixed]ebur128=peak=true[aout]",
        "-map",
        "[aout]",
        "-f",
        "null",
        "-",
    ]
