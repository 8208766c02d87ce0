"""File and folder names of a published episode in Jellyfin's TV layout (pure; no file system access).

`<Series> (<Year>)/Season 01/<Series> S01E01 - <Title>.mp4`, with `<stem>.nfo`, `<stem>-thumb.jpg` and
`<stem>.en.srt` beside the video, and `tvshow.nfo`, `poster.jpg` and `.actors/<Name>.jpg` in the series
folder. All paths here are relative to the library root, with `/` separators.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from services.publishing.release import Release

FALLBACK_NAME = "Untitled"
MAX_NAME_CHARS = 120
# NAME_MAX is 255 bytes on Linux file systems; keep room for "-thumb.jpg" and a ".<name>.<token>.part" temp name.
MAX_NAME_BYTES = 200
VIDEO_SUFFIXES = (".mp4", ".mkv")
# What counts as "another episode still here" when deciding whether series files may go.
EPISODE_VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".m4v", ".webm", ".avi", ".mov", ".ts"})
SUBTITLE_LANGUAGE = "en"
TVSHOW_NFO = "tvshow.nfo"
POSTER = "poster.jpg"
ACTORS_FOLDER = ".actors"

_FORBIDDEN = re.compile(r'[<>:"/\\|?*]')
_SPACE = re.compile(r"\s+")
# Windows refuses these as file names (with any extension), and libraries often live on SMB shares.
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
)


def clean_name(text: str, *, fallback: str = FALLBACK_NAME, limit: int = MAX_NAME_CHARS) -> str:
    """A safe single path component: no `< > : " / \\ | ? *` or control characters, whitespace collapsed,
    no leading/trailing dots or spaces (a leading dot would hide it), never empty, `.` or `..`, and at
    most `limit` characters and MAX_NAME_BYTES bytes of UTF-8."""
    return _clean(text, limit) or _clean(fallback, limit) or FALLBACK_NAME


def _clean(text: str, limit: int) -> str:
    """clean_name without the fallback: "" when nothing usable is left."""
    kept = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    kept = _SPACE.sub(" ", _FORBIDDEN.sub("", kept))
    name = _trim(_cap(_trim(kept), limit))
    if name and name.split(".")[0].upper() in _RESERVED:
        name = f"{name}_"
    return name


def _trim(text: str) -> str:
    return text.strip(" .")


def _cap(text: str, limit: int) -> str:
    text = text[: max(limit, 1)]
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    return text


def episode_code(season: int, episode: int) -> str:
    """`S01E01`: two digits at least (Jellyfin's own style), three from 100 on."""
    return f"S{season:02d}E{episode:02d}"


def season_folder_name(season: int) -> str:
    """`Season 01` (`Season 00` holds specials); custom names can collapse seasons in Jellyfin."""
    return f"Season {season:02d}"


def series_folder_name(series_title: str, year: int) -> str:
    suffix = f" ({year})"
    return f"{clean_name(series_title, limit=MAX_NAME_CHARS - len(suffix))}{suffix}"


def episode_stem(series_title: str, season: int, episode: int, title: str) -> str:
    """`<Series> S01E01 - <Title>`, or `<Series> S01E01` without a title; a long series name is shortened
    to half the name and the title to the rest (Jellyfin only needs the SxxEyy part)."""
    code = episode_code(season, episode)
    # Half the name at most for the series, so a long series name still leaves room for the title.
    series = clean_name(series_title, limit=MAX_NAME_CHARS // 2)
    head = f"{series} {code}"
    cleaned_title = _clean(title, MAX_NAME_CHARS)
    if not cleaned_title:
        return head
    room = MAX_NAME_CHARS - len(head) - len(" - ")
    room_bytes = MAX_NAME_BYTES - len(head.encode("utf-8")) - len(" - ")
    short = cleaned_title[: max(room, 0)]
    while short and len(short.encode("utf-8")) > room_bytes:
        short = short[:-1]
    short = _trim(short)
    return f"{head} - {short}" if short else head


def actor_file_name(name: str) -> str:
    """Kodi's `.actors` naming (spaces become underscores), which Jellyfin reads too."""
    return f"{clean_name(name, fallback='Actor', limit=MAX_NAME_CHARS - 4).replace(' ', '_')}.jpg"


def video_suffix(video_name: str) -> str | None:
    """The library suffix for a source video (`.mp4`/`.mkv`), or None for anything else."""
    dot = video_name.rfind(".")
    suffix = video_name[dot:].lower() if dot >= 0 else ""
    return suffix if suffix in VIDEO_SUFFIXES else None


@dataclass(frozen=True)
class EpisodeLayout:
    """Every relative path one episode publish writes."""

    series_folder: str
    season_folder: str
    stem: str
    suffix: str = ".mp4"

    def _beside(self, ending: str) -> str:
        return f"{self.season_folder}/{self.stem}{ending}"

    @property
    def video(self) -> str:
        return self._beside(self.suffix)

    @property
    def nfo(self) -> str:
        return self._beside(".nfo")

    @property
    def thumb(self) -> str:
        return self._beside("-thumb.jpg")

    @property
    def subtitles(self) -> str:
        return self._beside(f".{SUBTITLE_LANGUAGE}.srt")

    @property
    def tvshow_nfo(self) -> str:
        return f"{self.series_folder}/{TVSHOW_NFO}"

    @property
    def poster(self) -> str:
        return f"{self.series_folder}/{POSTER}"

    @property
    def actors_folder(self) -> str:
        return f"{self.series_folder}/{ACTORS_FOLDER}"

    def actor_thumbs(self, names: list[str]) -> list[str]:
        """One `.actors/<Name>.jpg` per name (relative to the series folder), unique even for equal names."""
        taken: set[str] = set()
        result = []
        for name in names:
            file = actor_file_name(name)
            stem, n = file[:-4], 2
            while file.lower() in taken:
                file, n = f"{stem}_{n}.jpg", n + 1
            taken.add(file.lower())
            result.append(f"{ACTORS_FOLDER}/{file}")
        return result


def layout_for(release: Release) -> EpisodeLayout:
    series = series_folder_name(release.series_title, release.year)
    return EpisodeLayout(
        series_folder=series,
        season_folder=f"{series}/{season_folder_name(release.season)}",
        stem=episode_stem(release.series_title, release.season, release.episode, release.title),
        suffix=video_suffix(release.video.name) or ".mp4",
    )
