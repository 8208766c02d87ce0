"""What an audio file or a server's reply holds, as ffprobe reads it (in a subprocess: the event loop never waits)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.errors import Invalid
from services.media.frames import NotAccepted, ffprobe

# The container ffprobe names -> the file suffix the music cache stores it under. Audio is read only in these
# containers: a playlist or a concat list would make ffprobe and ffmpeg read other files.
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


_ACCEPTED = "WAV, MP3, FLAC, OGG, M4A"


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
    return await _probe(path, name or path.name)


async def probe_audio_bytes(data: bytes, name: str) -> AudioInfo:
    """Describe audio held in memory (fed to ffprobe on stdin). NotAudio when it holds no audio."""
    if not data:
        raise NotAudio(f"{name} is empty")
    return await _probe(data, name)


async def _probe(source: Path | bytes, name: str) -> AudioInfo:
    try:
        described = await ffprobe(source, "audio file", name, formats=tuple(SUFFIXES))
    except NotAccepted as exc:
        if exc.picture:
            raise NotAudio(f"{name} is a picture, not audio; upload an audio file ({_ACCEPTED})") from exc
        raise NotAudio(exc.message) from exc
    except Invalid as exc:
        raise NotAudio(exc.message) from exc
    streams = described.get("streams") or []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    pictures = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not audio:
        what = "a video without sound" if pictures else "no audio stream"
        raise NotAudio(f"{name} has {what}; upload an audio file ({_ACCEPTED})")
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
