"""Publishing end to end: real files in a real library folder (hard links, copies, symlinks, atomic
republishing, exact unpublishing), and Jellyfin over loopback (the fake scans the same folder)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from services.errors import Invalid
from services.publishing import (
    CastMember,
    FolderLibrary,
    JellyfinLibrary,
    JellyfinRefused,
    JellyfinUnreachable,
    LibraryPathError,
    Publication,
    PublishError,
    Release,
    libraries,
)
from studio.config import Settings
from studio.secrets import SecretStore
from tests.conftest import free_port
from tests.fakes.jellyfin import FakeJellyfin

SERIES = "Moonlit Harbor (2026)"
SEASON = f"{SERIES}/Season 01"
PILOT = f"{SEASON}/Moonlit Harbor S01E01 - Pilot"
KEY = "jf-publish-key"
JELLYFIN_MOUNT = "/media/anime"  # the library folder as the (containerised) Jellyfin sees it


@dataclass(frozen=True)
class Media:
    video: Path
    other_video: Path
    thumbnail: Path
    portrait: Path  # a PNG with alpha: converted to JPEG for .actors


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("media")
    videos = []
    for name, tone in (("final.mp4", 440), ("retake.mp4", 660)):
        path = folder / name
        subprocess.run(
            [
                *("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=1"),
                *("-f", "lavfi", "-i", f"sine=frequency={tone}:duration=1", "-shortest", "-pix_fmt", "yuv420p"),
                *("-c:v", "libx264", "-c:a", "aac", "-y", str(path)),
            ],
            check=True,
            capture_output=True,
        )
        videos.append(path)
    thumbnail = folder / "thumb.jpg"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(thumbnail, "JPEG")
    portrait = folder / "aiko.png"
    Image.new("RGBA", (32, 32), (10, 200, 90, 128)).save(portrait, "PNG")
    return Media(video=videos[0], other_video=videos[1], thumbnail=thumbnail, portrait=portrait)


def _release(media: Media, **changes: Any) -> Release:
    release = Release(
        series_title="Moonlit Harbor",
        year=2026,
        series_plot="Two lighthouse keepers & one ghost ship.",
        genres=("Drama", "Fantasy"),
        cast=(
            CastMember(name="Aiko Tanaka", role="Keeper", thumb=media.portrait),
            CastMember(name="Ren", role="Ghost", thumb=None),
        ),
        series_poster=None,
        season=1,
        episode=1,
        title="Pilot",
        plot="The fog <rolls> in & the bell rings.",
        aired=date(2026, 3, 14),
        runtime_seconds=61.0,
        video=media.video,
        thumbnail=media.thumbnail,
        subtitles_srt="1\n00:00:00,000 --> 00:00:01,000\nThe bell.\n",
        series_id="project-7",
        episode_id="5b7c2f0e-1111-4a4a-9c9c-0123456789ab",
    )
    return replace(release, **changes)


class Recorder:
    def __init__(self) -> None:
        self.steps: list[tuple[float, str]] = []

    async def __call__(self, fraction: float, message: str) -> None:
        self.steps.append((fraction, message))


def _tree(root: Path) -> set[str]:
    """Every file under root (hidden ones too), as relative posix paths."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def _pilot_files(*, subtitles: bool = True, stem: str = PILOT) -> set[str]:
    files = {f"{stem}.mp4", f"{stem}.nfo", f"{stem}-thumb.jpg"}
    return files | {f"{stem}.en.srt"} if subtitles else files


SERIES_FILES = {f"{SERIES}/tvshow.nfo", f"{SERIES}/poster.jpg", f"{SERIES}/.actors/Aiko_Tanaka.jpg"}


def _same_file(a: Path, b: Path) -> bool:
    return os.stat(a).st_ino == os.stat(b).st_ino and os.stat(a).st_dev == os.stat(b).st_dev


# --- the folder library ------------------------------------------------------------------------------


async def test_folder_publish_writes_exactly_the_jellyfin_layout(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    progress = Recorder()
    publication = await library.publish(_release(media), None, progress)

    assert _tree(root) == _pilot_files() | SERIES_FILES
    assert set(publication.files) == _pilot_files()
    assert set(publication.series_files) == SERIES_FILES
    assert publication.episode_file == f"{PILOT}.mp4"
    assert publication.series_folder == SERIES
    assert publication.root == str(root)
    assert publication.library == "folder"
    assert publication.verified
    assert "hard link" in publication.note
    assert Publication.from_json(publication.to_json()) == publication
    assert progress.steps[-1][0] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction, _ in progress.steps)

    video = root / f"{PILOT}.mp4"
    assert _same_file(video, media.video)
    episode = ET.parse(root / f"{PILOT}.nfo").getroot()
    assert episode.tag == "episodedetails"
    assert (episode.findtext("title"), episode.findtext("season"), episode.findtext("episode")) == ("Pilot", "1", "1")
    assert episode.findtext("plot") == "The fog <rolls> in & the bell rings."
    show = ET.parse(root / SERIES / "tvshow.nfo").getroot()
    assert show.tag == "tvshow"
    assert show.findtext("title") == "Moonlit Harbor"
    assert [a.findtext("thumb") for a in show.findall("actor")] == [".actors/Aiko_Tanaka.jpg", None]
    for picture in ("poster.jpg", ".actors/Aiko_Tanaka.jpg"):
        with Image.open(root / SERIES / picture) as image:
            assert image.format == "JPEG"
    assert (root / f"{PILOT}-thumb.jpg").read_bytes() == media.thumbnail.read_bytes()
    assert (root / f"{PILOT}.en.srt").read_text(encoding="utf-8") == "1\n00:00:00,000 --> 00:00:01,000\nThe bell.\n"


async def test_copy_mode_makes_an_independent_copy_and_reports_progress(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    progress = Recorder()
    publication = await FolderLibrary(root, "copy").publish(_release(media), None, progress)
    video = root / publication.episode_file
    assert video.is_file() and not video.is_symlink()
    assert not _same_file(video, media.video)
    assert video.read_bytes() == media.video.read_bytes()
    assert any("Copying the video" in message for _, message in progress.steps)
    assert "copy" in publication.note


async def test_symlink_mode_links_to_the_assembled_video(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    publication = await FolderLibrary(root, "symlink").publish(_release(media), None, Recorder())
    video = root / publication.episode_file
    assert video.is_symlink()
    assert video.resolve() == media.video.resolve()
    # Unpublishing removes the link, never the studio's own video it points to.
    await FolderLibrary(root, "symlink").unpublish(publication)
    assert not video.is_symlink() and not video.exists()
    assert media.video.is_file()


def _other_file_system() -> Path | None:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and os.stat(shm).st_dev != os.stat(tempfile.gettempdir()).st_dev:
        return shm
    return None


@pytest.mark.skipif(_other_file_system() is None, reason="needs /dev/shm on another file system than the temp dir")
async def test_hardlink_mode_copies_across_file_systems(tmp_path: Path, media: Media) -> None:
    other = _other_file_system()
    assert other is not None
    with tempfile.TemporaryDirectory(dir=other) as elsewhere:
        source = Path(elsewhere) / "final.mp4"
        shutil.copyfile(media.video, source)
        root = tmp_path / "library"
        publication = await FolderLibrary(root, "hardlink").publish(_release(media, video=source), None, Recorder())
        video = root / publication.episode_file
        assert video.read_bytes() == source.read_bytes()
        assert not _same_file(video, source)
        assert "copy (a hard link is not possible there)" in publication.note


async def test_republish_with_a_new_title_replaces_the_old_files(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    first = await library.publish(_release(media), None, Recorder())
    second = await library.publish(
        _release(media, title="Storm Warning", subtitles_srt="", video=media.other_video), first, Recorder()
    )
    stem = f"{SEASON}/Moonlit Harbor S01E01 - Storm Warning"
    assert _tree(root) == _pilot_files(subtitles=False, stem=stem) | SERIES_FILES
    assert second.episode_file == f"{stem}.mp4"
    assert _same_file(root / second.episode_file, media.other_video)
    assert "removed 4 files of the previous publish" in second.note
    assert not [p for p in root.rglob("*.part")]


async def test_republish_under_the_same_name_swaps_the_video(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    first = await library.publish(_release(media), None, Recorder())
    reader = (root / first.episode_file).open("rb")  # a player that has the old file open keeps reading it
    try:
        second = await library.publish(_release(media, video=media.other_video), first, Recorder())
        assert second.files == first.files
        assert _same_file(root / second.episode_file, media.other_video)
        assert reader.read() == media.video.read_bytes()
    finally:
        reader.close()
    # The same video again: rename() between two links of one file does nothing; no temp file may stay.
    third = await library.publish(_release(media, video=media.other_video), second, Recorder())
    assert _same_file(root / third.episode_file, media.other_video)
    assert _tree(root) == _pilot_files() | SERIES_FILES


async def test_a_failed_republish_leaves_the_previous_publication_intact(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    first = await library.publish(_release(media), None, Recorder())
    before = {path: (root / path).read_bytes() for path in _tree(root)}

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture at all")
    # The series files are staged before the thumbnail fails: their temp files must go too.
    with pytest.raises(Invalid) as failed:
        await library.publish(
            _release(media, title="Storm", thumbnail=broken, series_poster=media.thumbnail), first, Recorder()
        )
    assert failed.value.field == "thumbnail"
    # A new season's folder made for the failed publish goes with it.
    with pytest.raises(Invalid):
        await library.publish(
            _release(media, season=2, thumbnail=broken, series_poster=media.thumbnail), None, Recorder()
        )
    assert not (root / SERIES / "Season 02").exists()
    with pytest.raises(Invalid) as missing:
        await library.publish(_release(media, title="Storm", video=tmp_path / "gone.mp4"), first, Recorder())
    assert missing.value.field == "video"
    assert "assemble the episode again" in missing.value.message

    assert {path: (root / path).read_bytes() for path in _tree(root)} == before
    assert _same_file(root / first.episode_file, media.video)


async def test_unpublish_removes_exactly_what_was_written(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    pilot = await library.publish(_release(media), None, Recorder())
    second = await library.publish(
        _release(media, episode=2, title="Fog", episode_id="ep-2", subtitles_srt=""), None, Recorder()
    )
    (root / SERIES / "notes.txt").write_text("the user's own file", encoding="utf-8")
    fog = f"{SEASON}/Moonlit Harbor S01E02 - Fog"

    note = await library.unpublish(pilot)
    assert _tree(root) == _pilot_files(subtitles=False, stem=fog) | SERIES_FILES | {f"{SERIES}/notes.txt"}
    assert "Removed 4 files" in note and "stays" in note

    note = await library.unpublish(second)
    assert _tree(root) == {f"{SERIES}/notes.txt"}
    assert not (root / SEASON).exists()
    assert (root / SERIES).is_dir()
    assert "series files" in note
    assert media.video.is_file()


async def test_unpublishing_the_last_episode_removes_the_series(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "copy")
    publication = await library.publish(_release(media), None, Recorder())
    await library.unpublish(publication)
    assert _tree(root) == set()
    assert list(root.iterdir()) == []
    # Twice is harmless: missing files are fine.
    await library.unpublish(publication)


async def test_paths_outside_the_library_are_refused(tmp_path: Path, media: Media) -> None:
    root = tmp_path / "library"
    library = FolderLibrary(root, "hardlink")
    publication = await library.publish(_release(media), None, Recorder())
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me", encoding="utf-8")

    forged = replace(publication, files=(*publication.files, "../precious.txt"))
    with pytest.raises(LibraryPathError):
        await library.unpublish(forged)
    assert outside.read_text(encoding="utf-8") == "keep me"

    # A series folder that is a symlink to somewhere else: nothing is written through it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other_root = tmp_path / "other-library"
    other_root.mkdir()
    (other_root / SERIES).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LibraryPathError) as refused:
        await FolderLibrary(other_root, "hardlink").publish(_release(media), None, Recorder())
    assert "outside the library" in str(refused.value)
    assert list(elsewhere.iterdir()) == []


async def test_a_publication_of_another_root_is_left_alone(tmp_path: Path, media: Media) -> None:
    old = FolderLibrary(tmp_path / "old", "hardlink")
    publication = await old.publish(_release(media), None, Recorder())
    new = FolderLibrary(tmp_path / "new", "hardlink")
    note = await new.unpublish(publication)
    assert "Nothing removed" in note
    assert (tmp_path / "old" / publication.episode_file).is_file()


# --- Jellyfin ----------------------------------------------------------------------------------------


@pytest.fixture
def jellyfin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "jellyfin-shows"
    folder.mkdir()
    return folder


@pytest.fixture
def jellyfin(jellyfin_dir: Path) -> Iterator[FakeJellyfin]:
    with FakeJellyfin(api_key=KEY, library_dir=jellyfin_dir, library_path=JELLYFIN_MOUNT, scan_delay=0.1) as fake:
        yield fake


def _jellyfin_library(tmp_path: Path, url: str, library_dir: Path, **extra: Any) -> JellyfinLibrary:
    settings = Settings(
        data_dir=tmp_path / "data",
        jellyfin_url=url,
        jellyfin_library_dir=library_dir,
        jellyfin_library_path=JELLYFIN_MOUNT,
        **{"jellyfin_api_key": KEY, "jellyfin_verify_seconds": 5.0, **extra},
    )
    found = libraries(settings, SecretStore(settings))
    assert set(found) == {"folder", "jellyfin"}
    library = found["jellyfin"]
    assert isinstance(library, JellyfinLibrary)
    return library


def test_libraries_offer_jellyfin_only_with_its_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", jellyfin_url="http://127.0.0.1:8096")
    found = libraries(settings, SecretStore(settings))
    assert set(found) == {"folder"}
    assert found["folder"].root == tmp_path / "data" / "library"
    assert found["folder"].label == f"Folder library ({tmp_path / 'data' / 'library'})"


async def test_jellyfin_publish_refreshes_the_exact_path_and_verifies(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir)
    assert library.label == f"Jellyfin ({jellyfin.url})"
    progress = Recorder()
    publication = await library.publish(_release(media), None, progress)

    jellyfin_path = f"{JELLYFIN_MOUNT}/{PILOT}.mp4"
    assert jellyfin.media_updates == [[{"Path": jellyfin_path, "UpdateType": "Created"}]]
    [update] = jellyfin.requests_to("/Library/Media/Updated")
    assert update.headers["authorization"] == f'MediaBrowser Token="{KEY}"'
    for request in jellyfin.requests:
        assert "x-emby-token" not in request.headers
        assert "api_key" not in request.query.lower()
    assert jellyfin.refreshes == 0
    assert publication.library == "jellyfin"
    assert publication.verified
    assert "targeted refresh" in publication.note
    assert _tree(jellyfin_dir) == _pilot_files() | SERIES_FILES
    item = jellyfin.items[jellyfin_path]
    assert (item["Name"], item["SeriesName"], item["ParentIndexNumber"], item["IndexNumber"]) == (
        "Pilot",
        "Moonlit Harbor",
        1,
        1,
    )
    assert any("Waiting for Jellyfin" in message for _, message in progress.steps)


async def test_jellyfin_republish_and_unpublish_report_each_path(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir)
    first = await library.publish(_release(media), None, Recorder())
    same = await library.publish(_release(media, video=media.other_video), first, Recorder())
    renamed = await library.publish(_release(media, title="Storm"), same, Recorder())
    old_path = f"{JELLYFIN_MOUNT}/{PILOT}.mp4"
    new_path = f"{JELLYFIN_MOUNT}/{SEASON}/Moonlit Harbor S01E01 - Storm.mp4"
    assert jellyfin.media_updates[1:] == [
        [{"Path": old_path, "UpdateType": "Modified"}],
        [{"Path": new_path, "UpdateType": "Created"}, {"Path": old_path, "UpdateType": "Deleted"}],
    ]
    assert renamed.verified

    note = await library.unpublish(renamed)
    assert jellyfin.media_updates[-1] == [{"Path": new_path, "UpdateType": "Deleted"}]
    assert "targeted refresh" in note
    assert _tree(jellyfin_dir) == set()


async def test_jellyfin_without_targeted_refresh_gets_a_full_scan(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    jellyfin.targeted_refresh = False
    publication = await _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir).publish(
        _release(media), None, Recorder()
    )
    assert [r.method for r in jellyfin.requests_to("/Library/Media/Updated")] == ["POST"]
    assert jellyfin.refreshes == 1
    assert publication.verified
    assert "full library scan" in publication.note and "404" in publication.note


async def test_jellyfin_refusing_the_key_names_the_setting(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir, jellyfin_api_key="wrong-key")
    with pytest.raises(JellyfinRefused) as refused:
        await library.publish(_release(media), None, Recorder())
    message = str(refused.value)
    assert "refused the API key (HTTP 401)" in message
    assert "jellyfin_api_key" in message
    assert str(jellyfin_dir) in message  # the files are there already, and the message says so
    assert jellyfin.items == {}


async def test_jellyfin_without_a_key_writes_nothing(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir, jellyfin_api_key=None)
    with pytest.raises(JellyfinRefused, match=r"needs an API key.*jellyfin_api_key"):
        await library.publish(_release(media), None, Recorder())
    assert _tree(jellyfin_dir) == set()
    assert jellyfin.requests == []


async def test_an_episode_jellyfin_never_lists_is_unverified(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    jellyfin.scan_finds_nothing = True
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir, jellyfin_verify_seconds=1.0)
    publication = await library.publish(_release(media), None, Recorder())
    assert not publication.verified
    assert "did not list the episode within 1 s" in publication.note
    assert len(jellyfin.requests_to("/Items")) >= 2
    assert _tree(jellyfin_dir) == _pilot_files() | SERIES_FILES


async def test_unreachable_jellyfin_is_a_clear_error(tmp_path: Path, media: Media, jellyfin_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    library = _jellyfin_library(tmp_path, url, jellyfin_dir)
    with pytest.raises(JellyfinUnreachable) as unreachable:
        await library.publish(_release(media), None, Recorder())
    message = str(unreachable.value)
    assert f"Jellyfin at {url} is not reachable (connection refused)" in message
    assert "jellyfin_url" in message
    assert f"already in {jellyfin_dir}" in message
    assert (jellyfin_dir / f"{PILOT}.mp4").is_file()


async def test_unpublish_with_jellyfin_down_still_removes_the_files(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin, jellyfin_dir: Path
) -> None:
    library = _jellyfin_library(tmp_path, jellyfin.url, jellyfin_dir)
    publication = await library.publish(_release(media), None, Recorder())
    jellyfin.down = True
    note = await library.unpublish(publication)
    assert "Jellyfin could not be told" in note and "next scan" in note
    assert _tree(jellyfin_dir) == set()


async def test_a_missing_jellyfin_library_folder_is_not_created(
    tmp_path: Path, media: Media, jellyfin: FakeJellyfin
) -> None:
    missing = tmp_path / "not-mounted"
    library = _jellyfin_library(tmp_path, jellyfin.url, missing)
    with pytest.raises(PublishError, match=r"does not exist.*jellyfin_library_dir"):
        await library.publish(_release(media), None, Recorder())
    assert not missing.exists()
