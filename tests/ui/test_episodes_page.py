"""The Episodes page through NiceGUI's simulated user: an empty project's guidance, an episode created and
filled with scenes, a transition changed, the order changed with the ↑ ↓ buttons and by the drag helper's
event, a scene removed and put back, the unassembled-scene notice, delete and undo, and an episode of two
assembled scenes assembled (progress, then the player) and published to the folder library."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from nicegui import helpers, ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction

from components.timeline import ORDER_EVENT
from services.episodes import EpisodeDraft, EpisodeSceneEntry
from services.scenes import SceneDraft, ShotDraft
from studio.models import Episode, JobState, Scene
from tests.integration.test_scene_assembly import _given_video
from tests.integration.test_scene_generation import _settled
from tests.ui.test_characters_page import api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_scenes_page import text_of
from tests.ui.test_shell import eventually


@pytest.fixture(autouse=True)
def quick_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STUDIO_JOB_CLAIM_POLL_SECONDS", "0.2")


async def project_with_scenes(user: User, *titles: str) -> tuple[int, list[Scene]]:
    project_id, _ = await cast(user)
    studio = running_studio()
    return project_id, [await studio.scenes.create(project_id, SceneDraft(title=t), "local") for t in titles]


async def open_episode(user: User, project_id: int, episode: Episode) -> None:
    await user.open(f"/episodes?project={project_id}&episode={episode.id}")
    await user.should_see(marker="episode-form", retries=WAIT)
    await user.should_see(marker="episode-scenes-total", retries=WAIT)


def row_order(user: User) -> list[uuid.UUID]:
    """The scene ids of the episode's rows, top to bottom."""
    ids = []
    for e in visible(user, "episode-scenes")[0].descendants():
        for mark in e._markers:
            rest = mark.removeprefix("episode-scene-")
            if rest != mark and len(rest) == 36:
                ids.append(uuid.UUID(rest))
    return ids


async def saved_order(episode: Episode) -> list[tuple[uuid.UUID, str, float]]:
    entries = await running_studio().episodes.entries(episode.id)
    return [(e.scene.id, e.link.transition, e.link.transition_duration) for e in entries]


async def saved_as(episode: Episode, expected: list[tuple[uuid.UUID, str, float]]) -> None:
    """Wait until the episode's saved scene list is `expected` (the page saves as the user changes it)."""
    for _ in range(100):
        if await saved_order(episode) == expected:
            return
        await asyncio.sleep(0.05)
    assert await saved_order(episode) == expected


async def test_an_empty_project_says_to_create_scenes_first(user: User) -> None:
    project_id, _ = await cast(user)
    await user.open(f"/episodes?project={project_id}")
    await user.should_see(marker="no-episodes", retries=WAIT)
    await user.should_see("Mario Galaxy has no episodes yet.")
    await user.should_see("An episode plays assembled scenes in order: create scenes first.")
    labels = [e.text for e in sorted(user.find(ui.item_label).elements, key=lambda e: e.id)]
    assert labels.index("Music") + 1 == labels.index("Episodes")  # scenes, their music, then episodes

    user.find(marker="empty-new-episode").click()
    await user.should_see("Episode 1 added: give it a title and scenes", retries=WAIT)
    await user.should_see(marker="episode-form", retries=WAIT)
    await user.should_see("The project has no scenes yet.", retries=WAIT)
    [episode] = await running_studio().episodes.list(project_id)
    assert element(user, f"episode-status-{episode.id}").text == "draft"


async def test_scenes_are_added_given_transitions_reordered_and_removed(user: User) -> None:
    project_id, [a, b, c] = await project_with_scenes(user, "Arrival", "Storm", "Dawn")
    studio = running_studio()
    episode = await studio.episodes.create(project_id, EpisodeDraft(title="Homecoming"), "local")
    await open_episode(user, project_id, episode)
    await user.should_see(marker="episode-no-scenes")

    for scene in (a, b, c):
        element(user, "episode-add-scene-select").value = str(scene.id)
        user.find(marker="episode-add-scene").click()
        await eventually(lambda s=scene: s.id in row_order(user), seconds=5)
    assert row_order(user) == [a.id, b.id, c.id]
    assert [s for s, _, _ in await saved_order(episode)] == [a.id, b.id, c.id]
    await user.should_see("Every scene of the project is in this episode.")
    assert element(user, "episode-scenes-total").text == "3 scenes · 3 not assembled yet"

    # None of them is assembled: each row says so and links to its scene.
    await user.should_see(marker=f"episode-scene-unassembled-{a.id}")
    link = element(user, f"episode-scene-link-{a.id}")
    assert link.props["href"] == f"/scenes?project={project_id}&scene={a.id}"

    # A transition at each boundary, none after the last scene.
    await user.should_see(marker=f"episode-transition-{a.id}")
    await user.should_not_see(marker=f"episode-transition-{c.id}")
    element(user, f"episode-transition-{a.id}").value = "dissolve"
    element(user, f"episode-transition-seconds-{a.id}").value = 1.5
    await saved_as(episode, [(a.id, "dissolve", 1.5), (b.id, "fadeblack", 0.5), (c.id, "fadeblack", 0.5)])
    element(user, f"episode-transition-{b.id}").value = "cut"
    await eventually(lambda: element(user, f"episode-transition-seconds-{b.id}").enabled is False)
    await saved_as(episode, [(a.id, "dissolve", 1.5), (b.id, "cut", 0.5), (c.id, "fadeblack", 0.5)])
    element(user, f"episode-transition-{b.id}").value = "fadeblack"
    element(user, f"episode-transition-seconds-{b.id}").value = 5
    await user.should_see(marker="episode-scenes-problem")
    await eventually(lambda: "less than or equal to 3" in element(user, "episode-scenes-problem").text)

    # ↑ ↓ move a scene one step; the transition goes with the scene it leads out of.
    user.find(marker=f"episode-scene-down-{a.id}").click()
    await eventually(lambda: row_order(user) == [b.id, a.id, c.id])
    assert [s for s, _, _ in await saved_order(episode)] == [b.id, a.id, c.id]
    user.find(marker=f"episode-scene-up-{c.id}").click()
    await eventually(lambda: row_order(user) == [b.id, c.id, a.id])
    assert element(user, f"episode-scene-up-{b.id}").enabled is False
    assert element(user, f"episode-scene-down-{a.id}").enabled is False
    await user.should_not_see(marker=f"episode-transition-{a.id}")  # last now

    # A drop reported by the timeline's drag helper (track = episode id, cards = scene ids) saves the order.
    assert user.client is not None
    dropped = helpers.event_type_to_camel_case(ORDER_EVENT)
    order = [str(a.id), str(b.id), str(c.id)]
    layout = UserInteraction(user, {user.client.layout}, None)
    layout.trigger(dropped, {"scene_id": str(episode.id), "shot_ids": order})
    await eventually(lambda: row_order(user) == [a.id, b.id, c.id])
    assert (await saved_order(episode))[0] == (a.id, "dissolve", 1.5)
    # A drop of a list that no longer matches (another tab changed it) saves nothing and shows the list again.
    layout.trigger(dropped, {"scene_id": str(episode.id), "shot_ids": order[:2]})
    await user.should_see("The scene list changed meanwhile", retries=WAIT)
    assert [s for s, _, _ in await saved_order(episode)] == [a.id, b.id, c.id]

    # Removing a scene is undone with Undo.
    user.find(marker=f"episode-scene-remove-{b.id}").click()
    await eventually(lambda: row_order(user) == [a.id, c.id])
    assert [s for s, _, _ in await saved_order(episode)] == [a.id, c.id]
    user.find(marker="undo").click()
    await user.should_see("Scene 2. Storm is back in the episode", retries=WAIT)
    assert [s for s, _, _ in await saved_order(episode)] == [a.id, b.id, c.id]

    # Another tab changing the list shows here without a reload.
    await studio.episodes.set_scenes(episode.id, [EpisodeSceneEntry(scene_id=c.id)], "someone")
    await eventually(lambda: row_order(user) == [c.id], seconds=5)


async def test_an_episode_is_edited_deleted_and_brought_back_with_undo(user: User) -> None:
    project_id, _ = await project_with_scenes(user, "Arrival")
    studio = running_studio()
    episode = await studio.episodes.create(project_id, EpisodeDraft(), "local")
    await open_episode(user, project_id, episode)

    element(user, "episode-title").value = "Homecoming"
    element(user, "episode-number").value = 3
    element(user, "episode-description").value = "Rin comes home."
    user.find(marker="save-episode").click()
    await user.should_see("Episode 3. Homecoming saved", retries=WAIT)
    saved = await studio.episodes.get(episode.id)
    assert (saved.title, saved.episode_number, saved.description) == ("Homecoming", 3, "Rin comes home.")
    await eventually(lambda: element(user, f"episode-title-{episode.id}").text == "3. Homecoming")
    await eventually(lambda: element(user, "episode-heading").text == "Episode 3")

    element(user, "episode-number").value = 0
    user.find(marker="save-episode").click()
    await eventually(lambda: "greater than or equal to 1" in element(user, "episode-problem").text)

    user.find(marker="delete-episode").click()
    await user.should_see("Episode 3. Homecoming deleted", retries=WAIT)
    await user.should_see(marker="no-episodes", retries=WAIT)
    assert (await studio.episodes.get(episode.id)).deleted_at is not None
    user.find(marker="undo").click()
    await user.should_see("Episode 3. Homecoming restored", retries=WAIT)
    await user.should_see(marker="episode-form", retries=WAIT)
    assert (await studio.episodes.get(episode.id)).deleted_at is None


async def _assembled_scene(project_id: int, title: str, source: str) -> Scene:
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title=title), "local")
    shot = await studio.scenes.add_shot(scene.id, ShotDraft(duration_seconds=1.5, video_engine="animatic"), "local")
    await _given_video(studio, shot, source, (426, 240), 12, 1.5)
    job = await studio.scene_assembly.start(scene.id, "local")
    finished = await _settled(studio, job.id, within=120)  # type: ignore[arg-type]
    assert finished.state == JobState.SUCCEEDED, finished.error
    return await studio.scenes.get(scene.id)


async def test_an_episode_is_assembled_watched_published_and_unpublished(user: User) -> None:
    project_id, _ = await cast(user)
    await api(user, "PATCH", f"/projects/{project_id}", {"frame_width": 426, "frame_height": 240, "frame_rate": 12})
    first = await _assembled_scene(project_id, "Arrival", "testsrc")
    second = await _assembled_scene(project_id, "Storm", "smptebars")
    studio = running_studio()
    episode = await studio.episodes.create(project_id, EpisodeDraft(title="Homecoming"), "local")
    await studio.episodes.set_scenes(
        episode.id,
        [EpisodeSceneEntry(scene_id=first.id, transition="cut"), EpisodeSceneEntry(scene_id=second.id)],
        "local",
    )
    await open_episode(user, project_id, episode)
    await user.should_see(marker="episode-not-assembled")
    await user.should_see(marker=f"episode-scene-duration-{first.id}")
    assert element(user, "episode-scenes-total").text == "2 scenes · 3.0 s assembled"
    assert element(user, "episode-publish").enabled is False
    assert "Assemble the episode first" in element(user, "episode-publish-reason").text

    user.find(marker="episode-assemble").click()
    await eventually(lambda: element(user, "episode-assemble").enabled is False, seconds=10)
    await user.should_see(marker="episode-player", retries=WAIT * 6)
    player = element(user, "episode-player")
    assert player.props["src"].startswith(f"/api/episodes/{episode.id}/video?v=")
    assert player.props["poster"].startswith(f"/api/episodes/{episode.id}/thumbnail?v=")
    assert player.default_slot.children[0].props["src"].startswith(f"/api/episodes/{episode.id}/subtitles.vtt?v=")
    await eventually(lambda: element(user, "episode-assemble").enabled is True, seconds=10)
    assert element(user, "episode-duration").text.startswith("3.00 s")  # 1.5 + 1.5 s joined with a cut
    assert element(user, "episode-render-mode").text.startswith(("Smart render", "Full render"))
    await eventually(lambda: element(user, "episode-status").text == "assembled")

    # A changed transition makes it out of date, and the card says why.
    element(user, f"episode-transition-{first.id}").value = "dissolve"
    await user.should_see(marker="episode-out-of-date", retries=WAIT)
    assert "The transition after scene 1 (Arrival) changed" in text_of(user, "episode-out-of-date")

    await eventually(lambda: element(user, "episode-publish").enabled is True, seconds=5)
    library = element(user, "episode-library")
    assert library.value == "folder" and str(studio.episode_publishing.libraries()[0].root) in library.options["folder"]
    user.find(marker="episode-publish").click()
    await user.should_see(marker="episode-publication", retries=WAIT * 3)
    published = await studio.episodes.get(episode.id)
    assert published.publication is not None
    path = Path(published.publication["root"]) / published.publication["episode_file"]
    assert element(user, "episode-published-file").text == str(path) and path.is_file()
    assert element(user, "episode-published-verified").text.startswith("Verified")
    await eventually(lambda: element(user, "episode-status").text == "published")

    user.find(marker="episode-unpublish").click()
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_see(marker="episode-not-published", retries=WAIT)
    assert not path.exists()
    await eventually(lambda: element(user, "episode-status").text == "assembled")
