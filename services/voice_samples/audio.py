"""A voice source's audio: probe it, decode it for analysis and for the samples, cut the samples, download it.

The analysis copy is 16 kHz mono (what the VAD, Whisper and the speaker embedder read); the samples are cut
from a 32 kHz mono copy decoded from the source in the same ffmpeg pass (not from the 16 kHz copy: voice
cloning wants the highest frequencies the source has, and GPT-SoVITS resamples to 32 kHz itself). Both copies
are raw 16-bit PCM files read through memory maps, so a 90-minute source never sits in memory whole.
"""

from __future__ import annotations

import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.errors import Invalid
from services.media.frames import ProgressCallback, download_video, file_url, run_ffmpeg
from services.music import audio as music_audio
from services.music.audio import AudioInfo
from services.voice_samples.vad import SAMPLE_RATE, Span

SAMPLE_RATE_OUT = 32000  # the cut samples' rate
AUDIO_FORMAT = "bestaudio/best"  # yt-dlp: the audio stream alone when the site has one, else the whole file


@dataclass(frozen=True)
class Decoded:
    analysis: Path  # raw s16le mono at SAMPLE_RATE
    samples: Path  # raw s16le mono at SAMPLE_RATE_OUT


async def probe_audio(path: Path, name: str | None, max_minutes: float) -> AudioInfo:
    """Describe a voice source (a video or audio file; ffprobe reads it in the music module's containers, which
    include MP4, MKV and WebM video). Invalid("file") naming `name` (default: the file's name) when it is not
    media, has no audio track, or is longer than `max_minutes` (settings.voice_source_max_minutes)."""
    name = name or path.name
    info = await music_audio.probe_audio(path, name)
    if info.duration_seconds is None:
        raise Invalid("file", f"{name} does not say how long it is; convert it to WAV, MP3 or M4A and try again")
    if info.duration_seconds > max_minutes * 60:
        raise Invalid(
            "file",
            f"{name} is {_minutes(info.duration_seconds)} long; voice sources may be at most {max_minutes:g} minutes "
            "(voice_source_max_minutes): cut it into parts",
        )
    return info


async def decode(source: Path, work: Path, seconds: float, progress: ProgressCallback | None = None) -> Decoded:
    """Decode the source's first audio track (mixed down to mono) into the analysis and sample copies in `work`."""
    decoded = Decoded(work / "analysis.s16", work / "samples.s16")
    mono = ["-map", "0:a:0", "-ac", "1", "-c:a", "pcm_s16le", "-f", "s16le"]
    await run_ffmpeg(
        ["-y", "-i", file_url(source), "-vn", "-sn", "-dn",
         *mono, "-ar", str(SAMPLE_RATE), file_url(decoded.analysis),
         *mono, "-ar", str(SAMPLE_RATE_OUT), file_url(decoded.samples)],
        what=f"decode the audio of {source.name}",
        seconds=seconds,
        progress=progress,
        files=[source, work],
    )  # fmt: skip
    return decoded


def samples(path: Path) -> np.ndarray:
    """A raw s16le file as an int16 array over a memory map (read lazily)."""
    if path.stat().st_size < 2:
        return np.zeros(0, np.int16)
    return np.memmap(path, dtype="<i2", mode="r")


def cut(source: np.ndarray, spans: Sequence[Span], out_dir: Path, first_number: int = 1) -> list[Path]:
    """Write each span of the 32 kHz copy as out_dir/seg_NNNN.wav (mono 16-bit). Blocking."""
    paths = []
    for number, span in enumerate(spans, start=first_number):
        path = out_dir / f"seg_{number:04d}.wav"
        piece = source[int(span.start * SAMPLE_RATE_OUT) : int(span.end * SAMPLE_RATE_OUT)]
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(SAMPLE_RATE_OUT)
            out.writeframes(np.ascontiguousarray(piece, dtype="<i2").tobytes())
        paths.append(path)
    return paths


async def download_audio(url: str, out_dir: Path, max_bytes: int, progress: ProgressCallback | None = None) -> Path:
    """Download the audio of a web page's video into out_dir with yt-dlp (audio only when the site offers it);
    its path. Invalid("url") for a bad address, StudioError saying what went wrong otherwise."""
    return await download_video(
        url, out_dir, max_bytes=max_bytes, progress=progress, media_format=AUDIO_FORMAT, merge_format=None
    )


def _minutes(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min {rest % 60} s"
