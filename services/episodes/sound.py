"""An episode's whole sound, encoded to AAC on every core.

The AAC encoder is single-threaded and, for a smart-rendered episode, the slowest step by far (five minutes
of sound take six seconds on one core). So the sound is cut into stretches on AAC frame boundaries, each
encoded by its own ffmpeg at the same time, and the encoded frames are spliced back into one stream:
- every stretch after the first is encoded from a little earlier (PREROLL frames) and every stretch
  before the last a little beyond its end, so each encoder sees the real sound around the splice and
  the frames on both sides overlap-add correctly (the splice differs from one encoder's output only by
  quantisation noise, about 45 dB below the sound);
- the encoder's priming frame is kept from the first stretch only, and the muxer is told about it
  (`-itsoffset`), so the MP4's edit list hides it as a single encode's would; the last frame is marked
  as short as the sound really is (the `setts` filter), so the sound ends with the picture to the sample.
The frames are ADTS, whose headers give each frame's length, so splicing is plain byte work.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from services.assembly.graph import SceneRender, audio_chains, input_args
from services.assembly.house import SAMPLE_RATE, HouseFormat
from services.errors import StudioError
from services.media.frames import file_url, run_ffmpeg

AAC_FRAME = 1024  # samples per AAC frame
# Frames each encoder hears beyond its stretch on either side.
PREROLL = 4
# Shorter sound is not worth splitting: an ffmpeg start costs more than it saves.
MIN_STRETCH_SECONDS = 60
# What the muxer must shift the spliced stream by: the AAC encoder's priming (one frame).
PRIMING_SECONDS = AAC_FRAME / SAMPLE_RATE


@dataclass(frozen=True)
class EncodedSound:
    """The spliced AAC stream and how to mux it so it lasts exactly as long as the episode."""

    path: Path
    frames: int  # ADTS frames, the priming frame included
    last_samples: int  # of the last frame's samples, those that are the episode's

    def input_args(self) -> list[str]:
        return ["-itsoffset", f"{-PRIMING_SECONDS:.6f}", "-i", file_url(self.path)]

    def output_args(self) -> list[str]:
        last, short = self.frames - 1, f"DURATION*{self.last_samples}/{AAC_FRAME}"
        return ["-bsf:a", f"setts=duration=if(eq(N\\,{last})\\,{short}\\,DURATION)"]


async def encode_sound(
    render: SceneRender, house: HouseFormat, out: Path, work: Path, stretches: int | None = None
) -> EncodedSound:
    """Encode the episode's sound (the audio graph of `render`) to `out` as ADTS AAC, in `stretches` at once
    (default: one per core, each at least a minute). StudioError: an encoder failed or wrote something
    unexpected."""
    frames = round(render.timeline.seconds * SAMPLE_RATE) // AAC_FRAME
    if stretches is None:
        stretches = min(os.cpu_count() or 1, int(render.timeline.seconds // MIN_STRETCH_SECONDS))
    stretches = max(1, min(stretches, frames // (4 * PREROLL)))
    bounds = [frames * k // stretches for k in range(stretches)]  # first frame of each stretch
    parts = [work / f"sound-{k:02d}.aac" for k in range(stretches)]
    graph = ";".join(audio_chains(render)).replace("[aout]", "[sound]")
    encoders = []
    for k, start in enumerate(bounds):
        first = max(0, start - PREROLL)
        trim = f"start_sample={first * AAC_FRAME}"
        if k + 1 < stretches:
            trim += f":end_sample={(bounds[k + 1] + PREROLL) * AAC_FRAME}"
        args = ["-y", *input_args(render), "-filter_complex", f"{graph};[sound]atrim={trim},asetpts=PTS-STARTPTS[a]",
                "-map", "[a]", *house.audio_args(), "-f", "adts", file_url(parts[k])]  # fmt: skip
        encoders.append(run_ffmpeg(args, what="encode the episode's sound", files=[c.path for c in render.clips]))
    await asyncio.gather(*encoders)
    encoded = [adts_frames(await asyncio.to_thread(part.read_bytes)) for part in parts]
    joined = splice(encoded, bounds)
    await asyncio.to_thread(out.write_bytes, b"".join(joined))
    samples = round(render.timeline.seconds * SAMPLE_RATE)
    extra = (len(joined) - 1) * AAC_FRAME - samples  # beyond the episode, in the last frame
    if not 0 <= extra < AAC_FRAME:
        raise StudioError(f"the spliced sound holds {(len(joined) - 1) * AAC_FRAME} samples for {samples}")
    return EncodedSound(out, len(joined), AAC_FRAME - extra)


def splice(encoded: list[list[bytes]], bounds: list[int]) -> list[bytes]:
    """The frames of one stream from stretches encoded with pre- and post-roll (see the module docstring).

    Stretch k's frame j (after its priming frame 0) holds the sound from frame `first_k + j - 1`."""
    joined: list[bytes] = []
    for k, frames in enumerate(encoded):
        first = max(0, bounds[k] - PREROLL)
        skip = 0 if k == 0 else bounds[k] - first + 1  # the priming frame and the pre-roll
        end = None if k + 1 == len(encoded) else skip + bounds[k + 1] - bounds[k] + (1 if k == 0 else 0)
        kept = frames[skip:end]
        if end is not None and len(kept) != end - skip:
            raise StudioError(f"the sound encoder wrote {len(frames)} frames for stretch {k + 1}, too few to splice")
        joined += kept
    return joined


def adts_frames(data: bytes) -> list[bytes]:
    """The frames of an ADTS stream. StudioError: not ADTS."""
    frames, i = [], 0
    while i < len(data):
        header = data[i : i + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            raise StudioError(f"the sound encoder wrote something other than ADTS at byte {i}")
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if length < 7 or i + length > len(data):
            raise StudioError(f"the sound encoder wrote a cut-off ADTS frame at byte {i}")
        frames.append(data[i : i + length])
        i += length
    return frames
