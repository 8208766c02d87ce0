"""Subtitles of a scene's dialogue at the lines' real positions: WebVTT for the studio's player, SRT for
media servers (Jellyfin reads `<video>.en.srt` beside the video)."""

from __future__ import annotations

import html
import re
import textwrap
from dataclasses import dataclass, replace

# Readable subtitle lines: at most two rows of about 42 characters, on screen at least a second.
ROW_WIDTH = 42
MIN_CUE_SECONDS = 1.0
# A line with no voice (its synthesis failed) is shown for about as long as it takes to read.
READING_WORDS_PER_SECOND = 2.5


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    speaker: str = ""


def reading_seconds(text: str) -> float:
    return max(MIN_CUE_SECONDS, len(text.split()) / READING_WORDS_PER_SECOND)


def cue(start: float, seconds: float, text: str, speaker: str, scene_seconds: float) -> Cue:
    """A cue from `start` for `seconds` (at least a second), never past the scene's end."""
    end = min(scene_seconds, start + max(seconds, MIN_CUE_SECONDS))
    return Cue(start=start, end=max(end, start), text=" ".join(text.split()), speaker=speaker)


def _rows(text: str) -> str:
    return "\n".join(textwrap.wrap(text, ROW_WIDTH)) or text


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{_stamp(c.start, ',')} --> {_stamp(c.end, ',')}\n{_rows(c.text)}\n" for n, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def to_vtt(cues: list[Cue]) -> str:
    blocks = ["WEBVTT\n"]
    for c in cues:
        # A voice span names the speaker for players that show it; the text is escaped as WebVTT requires.
        text = _rows(c.text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        speaker = c.speaker.replace("&", "&amp;").replace("<", "").replace(">", "")
        body = f"<v {speaker}>{text}" if speaker else text
        blocks.append(f"{_stamp(c.start, '.')} --> {_stamp(c.end, '.')}\n{body}\n")
    return "\n".join(blocks)


_VOICE = re.compile(r"^<v ([^>]*)>")


def parse_vtt(text: str) -> list[Cue]:
    """The cues of a WebVTT file as `to_vtt` writes it (an episode re-times its scenes' subtitles)."""
    cues = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        rows = [row for row in block.strip().split("\n") if row]
        timing = next((i for i, row in enumerate(rows) if "-->" in row), None)
        if timing is None:
            continue
        start, _, end = rows[timing].partition("-->")
        body = " ".join(rows[timing + 1 :])
        voice = _VOICE.match(body)
        speaker = voice.group(1) if voice else ""
        body = body[voice.end() :] if voice else body
        body = html.unescape(re.sub(r"</?[^>]+>", "", body))
        cues.append(Cue(_seconds(start), _seconds(end.split()[0]), " ".join(body.split()), html.unescape(speaker)))
    return cues


def _seconds(stamp: str) -> float:
    parts = stamp.strip().replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def shifted(cues: list[Cue], offset: float, until: float) -> list[Cue]:
    """Cues moved `offset` seconds later and cut at `until` (a scene's place in an episode)."""
    moved = [replace(c, start=c.start + offset, end=min(c.end + offset, until)) for c in cues]
    return [c for c in moved if c.start < until]
