"""The publishing interface: what an episode release carries, what a publish wrote, and the Library protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from services.errors import Invalid, StudioError

Progress = Callable[[float, str], Awaitable[None]]


class PublishError(StudioError):
    """A library could not take the episode; the message names the library and the fix."""


class LibraryPathError(PublishError):
    """A path would leave the library folder (a symlinked folder, a tampered publication record)."""


@dataclass(frozen=True)
class CastMember:
    name: str
    role: str  # short role text (the character's role or the first line of its description); may be ""
    thumb: Path | None  # character portrait (png/jpg) or None


@dataclass(frozen=True)
class Release:
    """Everything a library needs to publish one episode. Paths are absolute files that exist."""

    series_title: str
    year: int
    series_plot: str
    genres: tuple[str, ...]
    cast: tuple[CastMember, ...]
    series_poster: Path | None  # jpg/png for poster.jpg; None -> the episode thumbnail
    season: int
    episode: int
    title: str
    plot: str
    aired: date
    runtime_seconds: float
    video: Path  # the assembled MP4
    thumbnail: Path  # jpg
    subtitles_srt: str  # SRT text ("" -> no subtitle file)
    series_id: str  # stable studio id of the series (project id) -> <uniqueid type="anime-studio">
    episode_id: str  # stable studio id of the episode


@dataclass(frozen=True)
class Publication:
    """What one publish wrote; stored by the caller (as JSON via to_json/from_json) and handed back to
    unpublish or to the next publish of the same episode."""

    library: str  # "folder" | "jellyfin"
    root: str  # absolute library root it was written under
    series_folder: str  # relative to root
    episode_file: str  # relative path of the video
    files: tuple[str, ...]  # every episode-level file written (relative to root)
    series_files: tuple[str, ...]  # series-level files written (tvshow.nfo, poster.jpg, actor thumbs)
    verified: bool  # folder: files in place; jellyfin: the items API listed the episode
    note: str  # one sentence: what happened

    def to_json(self) -> dict[str, Any]:
        return {
            "library": self.library,
            "root": self.root,
            "series_folder": self.series_folder,
            "episode_file": self.episode_file,
            "files": list(self.files),
            "series_files": list(self.series_files),
            "verified": self.verified,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Publication:
        """Read a stored publication. Raises Invalid("publication", ...) when the record is malformed."""
        if not isinstance(data, dict):
            raise Invalid("publication", f"expected an object, got {type(data).__name__}")
        text = {}
        for name in ("library", "root", "series_folder", "episode_file"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                raise Invalid("publication", f"the stored record lacks '{name}'")
            text[name] = value
        lists = {}
        for name in ("files", "series_files"):
            value = data.get(name, [])
            if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
                raise Invalid("publication", f"'{name}' must be a list of relative paths")
            lists[name] = tuple(value)
        return cls(
            library=text["library"],
            root=text["root"],
            series_folder=text["series_folder"],
            episode_file=text["episode_file"],
            files=lists["files"],
            series_files=lists["series_files"],
            verified=bool(data.get("verified", False)),
            note=str(data.get("note", "")),
        )


class Library(Protocol):
    """Somewhere an episode can be published to, in Jellyfin's TV layout."""

    kind: str  # "folder" | "jellyfin"
    label: str  # e.g. "Folder library (/path)"

    @property
    def root(self) -> Path: ...

    async def publish(self, release: Release, previous: Publication | None, progress: Progress) -> Publication:
        """Write the episode (replacing `previous` atomically). Raises Invalid, PublishError."""
        ...

    async def unpublish(self, publication: Publication) -> str:
        """Remove what `publication` wrote; returns a note sentence. Raises PublishError."""
        ...
