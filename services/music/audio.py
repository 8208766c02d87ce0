"""What an audio file or a server's reply holds, read by ffprobe in a subprocess (the event loop never waits)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.errors import Invalid, StudioError
from services.toolchain import INSTALL_HINT

PROBE_SECONDS = 60.0
# The container ffprobe names -> the file suffix the music cache stores it under.
SUFFIXES = {
    "wav": ".wav",
    "mp3": ".mp3",
    "flac": ".flac",
    "ogg": ".ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": ".m4a",
    "aac": ".aac",
    "aiff": ".aiff",
    "w64": ".w64",
    "matroska,webm": ".webm",
}


@dataclass(frozen=True)
class AudioInfo:
    duration_seconds: float | None  # None when the stream does not say (a pipe of a format without a header)
    codec: str
    container: str
    sample_rate: int
    channels: int
    has_video: bool  # a real picture stream (cover art does not count)

    @property
    def suffix(self) -> str:
        return SUFFIXES.get(self.container, ".audio")


class NotAudio(Invalid):
    """ffprobe found no audio in the file (garbage, a picture, a video without sound...)."""

    def __init__(self, message: str) -> None:
        super().__init__("file", message)


async def probe_audio(path: Path, name: str | None = None) -> AudioInfo:
    """Describe an audio file (an absolute path). NotAudio naming `name` (default: the file's name) when it holds
    no audio."""
    # Behind file:, a name starting with "-" or holding "http:" stays a file name.
    return await _probe([f"file:{path}"], None, name or path.name)


async def probe_audio_bytes(data: bytes, name: str) -> AudioInfo:
    """Describe audio held in memory (fed to ffprobe on stdin). NotAudio when it holds no audio."""
    if not data:
        raise NotAudio(f"{name} is empty")
    return await _probe(["-i", "pipe:0"], data, name)


async def _probe(source: list[str], data: bytes | None, name: str) -> AudioInfo:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise StudioError(f"ffprobe is not installed; {INSTALL_HINT}")
    args = ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", *source]
    proc = await asyncio.create_subprocess_exec(
        ffprobe,
        *args,
        stdin=asyncio.subprocess.PIPE if data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            out, err = await proc.communicate(data)
    except TimeoutError as exc:
        raise NotAudio(f"ffprobe took longer than {PROBE_SECONDS:g} s to read {name}") from exc
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
    if proc.returncode != 0:
        lines = [line.strip() for line in err.decode(errors="replace").splitlines() if line.strip()]
        reason = (lines[-1] if lines else f"ffprobe exit code {proc.returncode}").split(": ", 1)[-1]
        raise NotAudio(f"{name} is not a readable audio file ({reason})")
    try:
        described: dict[str, Any] = json.loads(out or b"{}")
    except ValueError as exc:
        raise StudioError(f"ffprobe printed something other than JSON for {name}") from exc
    streams = described.get("streams") or []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    pictures = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not audio:
        container = str((described.get("format") or {}).get("format_name") or "")
        if container.endswith("_pipe") or container in ("image2", "gif", "webp"):
            raise NotAudio(f"{name} is a picture, not audio; upload an audio file (WAV, MP3, FLAC, OGG, M4A)")
        what = "a video without sound" if pictures else "no audio stream"
        raise NotAudio(f"{name} has {what}; upload an audio file (WAV, MP3, FLAC, OGG, M4A)")
    stream, container = audio[0], described.get("format") or {}
    return AudioInfo(
        duration_seconds=_seconds(container.get("duration")) or _seconds(stream.get("duration")),
        codec=str(stream.get("codec_name") or "unknown"),
        container=str(container.get("format_name") or "unknown"),
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 0),
        has_video=bool(pictures),
    )


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
