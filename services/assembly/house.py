"""The house format every scene is rendered in, so an episode can join scenes without re-encoding them.

An episode's transitions only touch the ends of its scenes. If every scene has the same codec settings
and an IDR keyframe shortly inside each end, episode assembly re-encodes just the frames around each
transition and stream-copies the rest (see services/episodes/render.py). The format pins what must match
for H.264 streams to be joined without a decoder noticing:
- the project's size, frame rate and pixel format, H.264 High profile;
- x264 `stitchable` and fixed reference/B-frame settings, so the stream headers (SPS/PPS) are the same
  whatever the quality setting (preset differences would change them, so the preset is part of the
  signature);
- closed GOPs with an IDR frame every second and at half a second from each end (where the default
  0.5 s fadeblack between scenes falls), at exact frame numbers;
- AAC at 48 kHz stereo.
A file's container comment carries the format's signature, so a scene rendered with other settings (or by
an older version) is recognised and the episode falls back to a full render instead of a broken join.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction

from studio.config import Settings

SAMPLE_RATE = 48000
AUDIO_BITRATE = "192k"
# Keyframes this far inside each end of a scene: where the default 0.5 s transition between scenes ends.
EDGE_SECONDS = 0.5
# Everything that shapes the H.264 stream headers besides size, rate and preset.
X264_PARAMS = "stitchable=1:ref=2:bframes=3:b-pyramid=normal:weightp=1"
SIGNATURE_PREFIX = "anime-studio house "


@dataclass(frozen=True)
class HouseFormat:
    width: int
    height: int
    fps: Fraction
    preset: str
    crf: int

    @property
    def gop(self) -> int:
        """Frames from one regular keyframe to the next: one second."""
        return max(1, round(self.fps))

    @property
    def edge_frames(self) -> int:
        return max(1, round(EDGE_SECONDS * self.fps))

    @property
    def signature(self) -> str:
        """What a file's comment says when it is in this format (the quality setting does not matter)."""
        spec = f"{self.width}x{self.height}@{self.fps}|{self.preset}|{X264_PARAMS}|aac{SAMPLE_RATE}"
        return SIGNATURE_PREFIX + hashlib.sha256(spec.encode()).hexdigest()[:16]

    def keyframes(self, frames: int | None) -> str:
        """The frame-number expression forcing a keyframe every second and half a second from each end."""
        forced = [f"eq(mod(n,{self.gop}),0)"]
        if frames is not None and frames > 2 * self.edge_frames:
            forced += [f"eq(n,{self.edge_frames})", f"eq(n,{frames - self.edge_frames})"]
        return "expr:" + "+".join(forced)

    def video_args(self, frames: int | None) -> list[str]:
        """x264 arguments for a stream of `frames` frames (None: no keyframes at the ends, e.g. a stretch of
        a longer stream)."""
        return [
            "-c:v", "libx264",
            "-preset", self.preset,
            "-crf", str(self.crf),
            "-profile:v", "high",
            "-pix_fmt", "yuv420p",
            "-g", str(2 * self.gop),
            "-keyint_min", str(self.gop),
            "-sc_threshold", "0",
            "-forced-idr", "1",
            "-x264-params", X264_PARAMS,
            "-force_key_frames", self.keyframes(frames),
        ]  # fmt: skip

    def audio_args(self) -> list[str]:
        return ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(SAMPLE_RATE), "-ac", "2"]

    def tag_args(self) -> list[str]:
        return ["-metadata", f"comment={self.signature}"]


def house_format(settings: Settings, width: int, height: int, fps: Fraction) -> HouseFormat:
    """The house format at this size and rate, with the studio's encoder settings."""
    return HouseFormat(width, height, fps, settings.assembly_preset, settings.assembly_crf)
