"""Publishing an assembled episode through the studio: the folder library's exact Jellyfin layout with
NFOs that parse, republishing after a retake, unpublishing, and Jellyfin told about exactly the new path."""

from __future__ import annotations

import asyncio
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.errors import Invalid
from studio.config import Settings
from studio.models import Episode, JobState, Project
from studio.root import Studio
from tests.fakes import FakeJellyfin
from tests.fakes.jellyfin import parse_mediabrowser
from tests.integration.test_episode_assembly import LINE, _assembled_episode, _episode, _tone_scene
from tests.integration.test_scene_assembly import _project, studio
from tests.integration.test_scene_generation import _settled

__all__ = ["studio"]  # the fixture, shared with the scene assembly tests
JELLYFIN_KEY = "jf-publish-key"


async def _published(studio: Studio, episode: Episode, library: str = "folder") -> Episode:
    job = await studio.episode_publishing.start(episode.id, library, "aiko")
    finished = await _settled(studio, job.id, within=60)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    return await studio.episodes.get(episode.id)


async def _one_episode(studio: Studio) -> tuple[Project, Episode]:
    project_id, cast = await _project(studio)
    scenes = [
        await _tone_scene(studio, project_id, "Dusk", 330, 2.0, None),
        await _tone_scene(studio, project_id, "Pier", 440, 3.0, cast["Mira"]),
    ]
    episode = await _assembled_episode(studio, await _episode(studio, project_id, scenes))
    async with studio.db.session() as session:
        project = await session.get(Project, project_id)
    return project, episode  # type: ignore[return-value]


def _same_file(a: Path, b: Path) -> bool:
    return os.path.samefile(a, b)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


async def test_the_folder_library_gets_the_exact_jellyfin_layout_and_loses_exactly_it_on_unpublish(
    studio: Studio,
) -> None:
    project, episode = await _one_episode(studio)
    with pytest.raises(Invalid, match="no library 'plex'"):
        await studio.episode_publishing.start(episode.id, "plex", "aiko")
    episode = await _published(studio, episode)

    root = studio.settings.folder_library_dir
    series = f"{project.name} ({project.created_at.year})"
    stem = f"{series}/Season 01/{project.name} S01E01 - The Lantern"
    assert _tree(root) == {
        f"{series}/tvshow.nfo",
        f"{series}/poster.jpg",
        f"{stem}.mp4",
        f"{stem}.nfo",
        f"{stem}-thumb.jpg",
        f"{stem}.en.srt",
    }
    assert episode.status == "published" and episode.publication is not None
    assert episode.publication["verified"] is True and episode.publication["episode_file"] == f"{stem}.mp4"
    show = ET.parse(root / series / "tvshow.nfo").getroot()
    assert show.tag == "tvshow" and show.findtext("title") == project.name
    assert [a.findtext("name") for a in show.findall("actor")] == ["Mira", "Jun"]
    details = ET.parse(root / f"{stem}.nfo").getroot()
    assert (details.tag, details.findtext("season"), details.findtext("episode")) == ("episodedetails", "1", "1")
    assert details.findtext("title") == "The Lantern"
    assert LINE in (root / f"{stem}.en.srt").read_text()
    # Hard-linked by default: the library costs no extra space.
    video = studio.media.path_of(episode.final_video_path or "")
    assert _same_file(root / f"{stem}.mp4", video)
    assert studio.episode_publishing.out_of_date(episode) is None

    # A retake: assembled again, the library copy is out of date until published again.
    episode = await _assembled_episode(studio, episode)
    assert "publish it again" in (studio.episode_publishing.out_of_date(episode) or "")
    episode = await _published(studio, episode)
    assert _same_file(root / f"{stem}.mp4", studio.media.path_of(episode.final_video_path or ""))
    assert not any(".part" in name for name in _tree(root))

    # A file the user put in the series folder stays, and so does the folder; everything written goes.
    (root / series / "notes.txt").write_text("mine")
    episode, note = await studio.episode_publishing.unpublish(episode.id, "aiko")
    assert note
    assert episode.status == "assembled" and episode.publication is None
    assert _tree(root) == {f"{series}/notes.txt"}
    with pytest.raises(Invalid, match="not published"):
        await studio.episode_publishing.unpublish(episode.id, "aiko")


@pytest.fixture
async def jellyfin_studio(tmp_path: Path) -> AsyncIterator[tuple[Studio, FakeJellyfin]]:
    library = tmp_path / "jellyfin-media"
    library.mkdir()
    with FakeJellyfin(api_key=JELLYFIN_KEY, library_dir=library, library_path="/media/anime") as fake:
        settings = Settings(
            data_dir=tmp_path / "data",
            job_claim_poll_seconds=0.2,
            jellyfin_url=fake.url,
            jellyfin_api_key=JELLYFIN_KEY,  # type: ignore[arg-type]
            jellyfin_library_dir=library,
            jellyfin_library_path="/media/anime",
            jellyfin_verify_seconds=10,
        )
        studio = Studio.build(settings)
        studio.migrate()
        await studio.start()
        try:
            yield studio, fake
        finally:
            await studio.stop()


async def test_jellyfin_is_told_the_new_path_with_its_token_and_shows_the_episode(
    jellyfin_studio: tuple[Studio, FakeJellyfin],
) -> None:
    studio, fake = jellyfin_studio
    assert [library.kind for library in studio.episode_publishing.libraries()] == ["folder", "jellyfin"]
    project, episode = await _one_episode(studio)
    episode = await _published(studio, episode, "jellyfin")

    series = f"{project.name} ({project.created_at.year})"
    jellyfin_path = f"/media/anime/{series}/Season 01/{project.name} S01E01 - The Lantern.mp4"
    assert fake.media_updates[0] == [{"Path": jellyfin_path, "UpdateType": "Created"}]
    updated = [r for r in fake.requests if r.path == "/Library/Media/Updated"]
    assert parse_mediabrowser(updated[0].headers.get("authorization")) == {"Token": JELLYFIN_KEY}
    assert fake.refreshes == 0  # the targeted refresh was enough
    assert episode.publication is not None and episode.publication["verified"] is True
    assert jellyfin_path in fake.items

    episode, _ = await studio.episode_publishing.unpublish(episode.id, "aiko")
    assert fake.media_updates[-1] == [{"Path": jellyfin_path, "UpdateType": "Deleted"}]
    for _ in range(50):  # the fake forgets the item after its scan delay
        if jellyfin_path not in fake.items:
            break
        await asyncio.sleep(0.1)
    assert jellyfin_path not in fake.items
