"""FolderLibrary: publishes episodes into a folder in Jellyfin's TV layout (always available).

JellyfinLibrary writes through the same `write` and `remove`, then tells Jellyfin.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from services.errors import Invalid
from services.publishing.files import FileMode, LibraryFolder
from services.publishing.layout import ACTORS_FOLDER, EpisodeLayout, episode_code, layout_for, video_suffix
from services.publishing.nfo import episode_nfo, tvshow_nfo
from services.publishing.release import Progress, Publication, Release

MAX_SEASON = 999
MAX_EPISODE = 9999


@dataclass(frozen=True)
class Written:
    """What `FolderLibrary.write` put in place (the parts of a Publication every library shares)."""

    root: Path
    layout: EpisodeLayout
    files: tuple[str, ...]
    series_files: tuple[str, ...]
    stale_removed: tuple[str, ...]  # files of the previous publish that the new one no longer has
    placed_by: str  # "hard link", "copy", ...
    in_place: bool
    previous_elsewhere: str | None  # the other root a previous publish was written under, left alone

    def publication(self, library: str, verified: bool, note: str) -> Publication:
        return Publication(
            library=library,
            root=str(self.root),
            series_folder=self.layout.series_folder,
            episode_file=self.layout.video,
            files=self.files,
            series_files=self.series_files,
            verified=verified,
            note=note,
        )

    def summary(self) -> str:
        """The file-side half of a note: where it went and what was replaced."""
        parts = [f"the video as a {self.placed_by}"]
        if self.stale_removed:
            count = len(self.stale_removed)
            parts.append(f"removed {count} file{'s' if count != 1 else ''} of the previous publish")
        text = "; ".join(parts)
        if self.previous_elsewhere:
            text += f"; the previous copy under {self.previous_elsewhere} was left in place"
        return text


@dataclass(frozen=True)
class Removed:
    files: tuple[str, ...]
    series_removed: bool  # the series folder's studio files went too (no episode was left)
    elsewhere: bool  # the publication belongs to another root: nothing was touched

    def summary(self, label: str, publication: Publication) -> str:
        if self.elsewhere:
            return (
                f"Nothing removed: the episode was published under {publication.root}, which is not the "
                f"{label} folder any more; delete {publication.episode_file} there by hand"
            )
        count = len(self.files)
        text = f"Removed {count} file{'s' if count != 1 else ''} of the episode from the {label}"
        if self.series_removed:
            return f"{text}, and the series files (no other episode was left)"
        return f"{text}; the series folder stays for its other episodes"


class FolderLibrary:
    """Episodes in Jellyfin's TV layout under a folder; point any media server at it."""

    kind = "folder"

    def __init__(
        self,
        root: Path,
        file_mode: FileMode = "hardlink",
        *,
        create_root: bool = True,
        missing_hint: str = "set library_dir (STUDIO_LIBRARY_DIR) to a writable folder",
        label: str | None = None,
    ) -> None:
        self._folder = LibraryFolder(root, create=create_root, missing_hint=missing_hint)
        self.file_mode: FileMode = file_mode
        self.label = label or f"Folder library ({root})"

    @property
    def root(self) -> Path:
        return self._folder.root

    async def publish(self, release: Release, previous: Publication | None, progress: Progress) -> Publication:
        """Write the episode into the folder, replacing `previous` atomically. Raises Invalid for a release
        whose files are missing or unusable, PublishError when the folder cannot be written."""
        written = await self.write(release, previous, progress)
        code = episode_code(release.season, release.episode)
        note = f"Published {code} to {self.root / written.layout.video} ({written.summary()})"
        await progress(1.0, "Published")
        return written.publication(self.kind, written.in_place, note)

    async def unpublish(self, publication: Publication) -> str:
        """Remove exactly the files `publication` lists (and emptied folders). Raises PublishError."""
        removed = await self.remove(publication)
        return removed.summary("folder library", publication)

    # --- shared with JellyfinLibrary -------------------------------------------------------------

    async def write(self, release: Release, previous: Publication | None, progress: Progress) -> Written:
        """Stage every file, rename them all into place, then remove what only `previous` had."""
        await progress(0.0, "Checking the episode's files")
        await asyncio.to_thread(check_release, release)
        await asyncio.to_thread(self._folder.ensure_root)
        layout = layout_for(release)
        all_thumbs = layout.actor_thumbs([member.name for member in release.cast])
        actor_thumbs = [thumb if member.thumb else None for member, thumb in zip(release.cast, all_thumbs, strict=True)]

        async with self._folder.staging() as staging:
            # Series files first and the video last: when the video appears, its metadata is already there.
            await progress(0.02, "Writing the series files")
            series_files: list[str] = []
            for index, (member, thumb) in enumerate(zip(release.cast, actor_thumbs, strict=True)):
                if member.thumb is not None and thumb is not None:
                    target = f"{layout.series_folder}/{thumb}"
                    await staging.jpeg(target, member.thumb, f"cast.{index}.thumb")
                    series_files.append(target)
            poster_field = "series_poster" if release.series_poster is not None else "thumbnail"
            await staging.jpeg(layout.poster, release.series_poster or release.thumbnail, poster_field)
            await staging.write(layout.tvshow_nfo, tvshow_nfo(release, actor_thumbs))
            series_files[:0] = [layout.tvshow_nfo, layout.poster]

            await progress(0.08, "Writing the episode's metadata")
            files = [layout.video, layout.nfo, layout.thumb]
            await staging.jpeg(layout.thumb, release.thumbnail, "thumbnail")
            if release.subtitles_srt.strip():
                await staging.write(layout.subtitles, _srt_bytes(release.subtitles_srt))
                files.append(layout.subtitles)
            await staging.write(layout.nfo, episode_nfo(release))

            async def video_progress(fraction: float) -> None:
                await progress(0.1 + 0.85 * fraction, "Copying the video into the library")

            await progress(0.1, "Placing the video")
            placed_by = await staging.video(layout.video, release.video, self.file_mode, video_progress)
            await progress(0.96, "Moving the files into place")
            await staging.commit()

        stale: tuple[str, ...] = ()
        elsewhere = None
        if previous is not None:
            if await asyncio.to_thread(self._same_root, previous):
                stale = await asyncio.to_thread(self._remove_stale, previous, layout, files, series_files)
            else:
                elsewhere = previous.root
        in_place = await asyncio.to_thread(lambda: all(self._folder.exists(f) for f in (*files, *series_files)))
        return Written(
            root=self.root,
            layout=layout,
            files=tuple(files),
            series_files=tuple(series_files),
            stale_removed=stale,
            placed_by=placed_by,
            in_place=in_place,
            previous_elsewhere=elsewhere,
        )

    async def remove(self, publication: Publication) -> Removed:
        """Delete the files the publication lists, then its emptied season folder; the series files and folder
        too when no episode video is left in it. Never deletes a file it did not write."""
        return await asyncio.to_thread(self._remove, publication)

    def _remove(self, publication: Publication) -> Removed:
        if not self._same_root(publication):
            return Removed(files=(), series_removed=False, elsewhere=True)
        removed = self._folder.remove_files(publication.files)
        season = _parent(publication.episode_file)
        series_removed = self._tidy(publication.series_folder, season, publication.series_files)
        return Removed(files=tuple(removed), series_removed=series_removed, elsewhere=False)

    def _remove_stale(
        self, previous: Publication, layout: EpisodeLayout, files: list[str], series_files: list[str]
    ) -> tuple[str, ...]:
        keep = {*files, *series_files}
        removed = self._folder.remove_files(f for f in previous.files if f not in keep)
        if previous.series_folder == layout.series_folder:
            # The same series: tvshow.nfo was just rewritten, so actor thumbs it no longer names can go.
            removed += self._folder.remove_files(f for f in previous.series_files if f not in keep)
            season = _parent(previous.episode_file)
            if season != layout.season_folder:
                self._folder.remove_empty_folder(season)
        else:
            # The series was renamed: its old folder goes once no episode is left there.
            self._tidy(previous.series_folder, _parent(previous.episode_file), previous.series_files)
        return tuple(removed)

    def _tidy(self, series_folder: str, season_folder: str, series_files: tuple[str, ...]) -> bool:
        """Remove an emptied season folder, and the series' files and folder when no video is left in it.
        True when the series files went."""
        if season_folder and season_folder != series_folder:
            self._folder.remove_empty_folder(season_folder)
        if self._folder.holds_video(series_folder):
            return False
        self._folder.remove_files(series_files)
        self._folder.remove_empty_folder(f"{series_folder}/{ACTORS_FOLDER}")
        self._folder.remove_empty_folder(series_folder)
        return True

    def _same_root(self, publication: Publication) -> bool:
        return Path(publication.root).resolve() == self.root.resolve()


def check_release(release: Release) -> None:
    """Refuse a release a library cannot take, naming the field and the fix. Blocking (stats files)."""
    if not 1900 <= release.year <= 2200:
        raise Invalid("year", f"{release.year} is not a plausible year")
    if not 0 <= release.season <= MAX_SEASON:
        raise Invalid("season", f"must be between 0 (specials) and {MAX_SEASON}")
    if not 1 <= release.episode <= MAX_EPISODE:
        raise Invalid("episode", f"must be between 1 and {MAX_EPISODE}")
    if video_suffix(release.video.name) is None:
        raise Invalid("video", f"{release.video.name} is not an MP4 or MKV file: assemble the episode again")
    if not release.video.is_file():
        raise Invalid("video", f"{release.video} does not exist: assemble the episode again")
    if not release.thumbnail.is_file():
        raise Invalid("thumbnail", f"{release.thumbnail} does not exist: assemble the episode again")
    if release.series_poster is not None and not release.series_poster.is_file():
        raise Invalid("series_poster", f"{release.series_poster} does not exist: choose the poster again")
    for index, member in enumerate(release.cast):
        if member.thumb is not None and not member.thumb.is_file():
            raise Invalid(
                f"cast.{index}.thumb",
                f"the portrait {member.thumb} does not exist: make {member.name}'s portrait again",
            )


def _srt_bytes(text: str) -> bytes:
    # Jellyfin reads UTF-8 SRT; a trailing newline ends the last cue cleanly.
    return (text if text.endswith("\n") else f"{text}\n").encode("utf-8")


def _parent(relative: str) -> str:
    head, _, _tail = relative.rpartition("/")
    return head
