"""Checking that a speech engine's reply really is a WAV file with sound in it.

espeak-ng writing to stdout cannot seek back, so its header claims a huge length; `checked_wav` writes the
true sizes into the header, so every cached line is a well-formed file ffmpeg and browsers read alike.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Below this much sound a "line" is a click: no engine says a word in less.
MIN_SECONDS = 0.05
_FORMATS = {1: "PCM", 3: "float", 0xFFFE: "extensible"}


class NotAWav(ValueError):
    """The bytes are not a WAV file with sound; the message says what is wrong, in a few words."""


@dataclass(frozen=True)
class WavInfo:
    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def checked_wav(data: bytes) -> tuple[bytes, WavInfo]:
    """The WAV with true sizes in its header, and what it holds. NotAWav: not a WAV, or silent or empty."""
    if not data:
        raise NotAWav("it is empty")
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise NotAWav(f"it does not start with a RIFF/WAVE header (it starts {_excerpt(data)})")
    fixed = bytearray(data)
    offset, fmt = 12, None
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack_from("<I", data, offset + 4)[0]
        body = offset + 8
        if chunk == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise NotAWav("its format chunk is cut short")
            fmt = struct.unpack_from("<HHIIHH", data, body)
        elif chunk == b"data":
            if fmt is None:
                raise NotAWav("its samples come before their format")
            return _finish(fixed, fmt, body, size)
        offset = body + size + (size & 1)
    raise NotAWav("it has no samples (no data chunk)")


def _finish(fixed: bytearray, fmt: tuple[int, ...], body: int, size: int) -> tuple[bytes, WavInfo]:
    audio_format, channels, rate, _byte_rate, block_align, bits = fmt
    if audio_format not in _FORMATS:
        raise NotAWav(f"its samples are in format {audio_format}, not PCM")
    if not 1 <= channels <= 8 or not 4000 <= rate <= 192_000 or block_align != channels * ((bits + 7) // 8):
        raise NotAWav(f"its format is not plausible ({channels} channels, {rate} Hz, {bits} bits)")
    available = len(fixed) - body
    size = min(size, available)  # a streamed header claims more than was written
    size -= size % block_align
    del fixed[body + size :]
    struct.pack_into("<I", fixed, 4, len(fixed) - 8)
    struct.pack_into("<I", fixed, body - 4, size)
    info = WavInfo(
        sample_rate=rate, channels=channels, sample_width=block_align // channels, frames=size // block_align
    )
    if info.seconds < MIN_SECONDS:
        raise NotAWav(f"it holds only {info.seconds:.3f} s of sound")
    if not any(fixed[body : body + size]):
        raise NotAWav("it is silent")
    return bytes(fixed), info


def wav_info(data: bytes) -> WavInfo:
    """What a WAV file holds (its length in seconds, mostly). NotAWav as `checked_wav`."""
    return checked_wav(data)[1]


def _excerpt(data: bytes) -> str:
    head = data[:24]
    text = head.decode("utf-8", "replace")
    return repr(text) if text.isprintable() else head.hex(" ")
