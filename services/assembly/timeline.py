"""The joined timeline of clips, counted in whole frames of the output rate so the arithmetic is exact.

Every clip is normalised to the output frame rate first, so a clip lasts a whole number of frames and a
transition overlaps a whole number of frames. A start time is then `frames / fps` exactly, and the joined
length is the sum of the clips minus the overlaps, to the frame. (The earlier system added float seconds
from ffprobe and drifted 0.2 s over ten joins.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from services.errors import Invalid

CUT = "cut"
# A transition never takes more than this share of either clip it joins, so a short clip between two
# transitions still shows on its own for a moment (the earlier system's rule, kept).
MAX_TRANSITION_SHARE = 0.4


@dataclass(frozen=True)
class Clip:
    frames: int
    # How this clip comes in after the one before it: an xfade transition name, or "cut".
    transition: str
    # Frames this clip overlaps the one before it (0 for a cut and for the first clip).
    overlap: int


@dataclass(frozen=True)
class Timeline:
    fps: Fraction
    clips: tuple[Clip, ...]
    # The frame each clip starts at on the joined timeline.
    starts: tuple[int, ...]
    total_frames: int

    @property
    def seconds(self) -> float:
        return self.time(self.total_frames)

    def time(self, frames: int) -> float:
        return float(frames / self.fps)

    def start_seconds(self, index: int) -> float:
        return self.time(self.starts[index])

    def clip_seconds(self, index: int) -> float:
        return self.time(self.clips[index].frames)

    def transitions(self) -> list[str]:
        return [clip.transition for clip in self.clips[1:]]

    def with_cuts(self) -> Timeline:
        """The same clips joined by hard cuts: the fallback when a transition graph fails."""
        return join(self.fps, [(clip.frames, CUT, 0) for clip in self.clips])

    def held(self, extra_frames: int) -> Timeline:
        """The last clip held `extra_frames` longer (its last frame repeated)."""
        if extra_frames <= 0:
            return self
        clips = [(c.frames, c.transition, c.overlap) for c in self.clips]
        frames, transition, overlap = clips[-1]
        clips[-1] = (frames + extra_frames, transition, overlap)
        return join(self.fps, clips)


def frame_rate(fps: float) -> Fraction:
    """The exact rate of a project's float frame rate: 23.976 is 24000/1001, 24.0 is 24."""
    if not (1 <= fps <= 240):
        raise Invalid("frame_rate", f"{fps} fps is not a frame rate a scene can be rendered at (1-240)")
    ntsc = round(fps * 1.001)
    if abs(fps - ntsc * 1000 / 1001) < 0.005:  # 23.976, 29.97, 59.94: the broadcast rates are n*1000/1001
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1000)


def plan_timeline(fps: Fraction, clips: list[tuple[float, str, float]]) -> Timeline:
    """The timeline of clips given as (seconds, transition into it, transition seconds).

    The first clip's transition is ignored. A transition is cut short to 40% of either neighbour, and one
    that rounds to no frame at all becomes a cut.
    """
    return plan_frames(fps, [(max(1, round(seconds * fps)), t, t_seconds) for seconds, t, t_seconds in clips])


def plan_frames(fps: Fraction, clips: list[tuple[int, str, float]]) -> Timeline:
    """`plan_timeline` for clips whose frame counts are known: (frames, transition into it, its seconds)."""
    if not clips:
        raise Invalid("shots", "there is nothing to join: no clip has a video")
    frames = [count for count, _, _ in clips]
    planned: list[tuple[int, str, int]] = [(frames[0], CUT, 0)]
    for i in range(1, len(clips)):
        _, transition, transition_seconds = clips[i]
        overlap = 0
        if transition != CUT:
            overlap = min(
                round(transition_seconds * fps),
                math.floor(MAX_TRANSITION_SHARE * frames[i - 1]),
                math.floor(MAX_TRANSITION_SHARE * frames[i]),
            )
        planned.append((frames[i], transition if overlap > 0 else CUT, max(overlap, 0)))
    return join(fps, planned)


def join(fps: Fraction, clips: list[tuple[int, str, int]]) -> Timeline:
    starts = [0]
    for i in range(1, len(clips)):
        starts.append(starts[-1] + clips[i - 1][0] - clips[i][2])
    return Timeline(
        fps=fps,
        clips=tuple(Clip(frames, transition, overlap) for frames, transition, overlap in clips),
        starts=tuple(starts),
        total_frames=starts[-1] + clips[-1][0],
    )
