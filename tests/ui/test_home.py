"""The home page through NiceGUI's simulated user: a fresh studio's welcome and its three ways to start, the choice
of a project, and a project's overview (every scene's shots, review, jobs, last episode) that follows the studio."""

from __future__ import annotations

from datetime import UTC, datetime

from nicegui.testing import User

from services.episodes import EpisodeDraft
from services.jobs import JobDraft
from services.scenes import SceneDraft, ShotDraft
from studio.models import Episode, Shot
from tests.dataset_helpers import seed_pending
from tests.ui.test_characters_page import KOOPA, api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import cast, running_studio
from tests.ui.test_shell import eventually

# A kind no worker runs: the job waits in the queue until the test moves it on.
HELD = "test.held"


async def test_a_fresh_studio_welcomes_with_three_ways_to_start(user: User) -> None:
    await user.open("/")
    await user.should_see("Welcome to Anime Studio")
    for start in ("welcome-sample", "welcome-connect", "welcome-new-project"):
        user.find(marker=start)
    user.find(marker="welcome-connect").click()
    await eventually(lambda: user.back_history[-1] == "/settings#connections")


async def test_new_project_from_the_welcome_opens_its_overview(user: User) -> None:
    await user.open("/")
    user.find(marker="welcome-new-project").click()
    await user.should_see(marker="project-name")
    user.find(marker="project-name").type("Mario Galaxy")
    user.find(marker="save-project").click()
    await eventually(lambda: user.back_history[-1].startswith("/?project="))
    await user.should_not_see(marker="page-loading", retries=400)
    assert element(user, "overview-project").text == "Mario Galaxy"
    await user.should_see(marker="overview-no-scenes")
    await user.should_see(marker="overview-nothing-published")


async def test_the_sample_project_starts_from_the_welcome(user: User) -> None:
    await user.open("/")
    user.find(marker="welcome-sample").click()
    await user.should_see(marker="sample-progress", retries=WAIT)
    await user.should_see("Making the sample project")
    state = running_studio().demo.state
    assert state is not None and state.running
    await running_studio().demo.stop()


async def test_with_projects_but_none_opened_the_home_asks_which(user: User) -> None:
    await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    zelda = await api(user, "POST", "/projects", {"name": "Zelda Skies"})
    await user.open("/")
    await user.should_see("Which project do you work on?")
    user.find(marker=f"choose-project-{zelda['id']}").click()
    await eventually(lambda: user.back_history[-1] == f"/?project={zelda['id']}")
    await user.should_not_see(marker="page-loading", retries=400)
    assert element(user, "overview-project").text == "Zelda Skies"


async def test_the_overview_shows_shots_review_jobs_and_the_last_episode_and_follows_the_studio(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    scene = await studio.scenes.create(project_id, SceneDraft(title="Arrival"), "local")
    shots = [await studio.scenes.add_shot(scene.id, ShotDraft(description=d), "local") for d in "abc"]
    episode = await studio.episodes.create(project_id, EpisodeDraft(title="Pilot"), "local")
    async with studio.db.session() as session:
        for shot, status in zip(shots, ("completed", "failed", "pending"), strict=True):
            row = await session.get(Shot, shot.id)
            assert row is not None
            row.status = status
            session.add(row)
        published = await session.get(Episode, episode.id)
        assert published is not None
        published.published_at = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
        session.add(published)
    await seed_pending(studio, koopa, 3)
    await studio.jobs.submit([JobDraft(HELD, {}, title="Render Arrival", project_id=project_id)], "local")

    await user.open(f"/?project={project_id}")
    states = [element(user, f"overview-shot-{shot.id}").props["data-state"] for shot in shots]
    assert states == ["completed", "failed", "pending"]
    assert element(user, "overview-pending").text == "3"
    assert element(user, "overview-job-count").text == "1"
    assert element(user, "overview-episode").text == "1. Pilot"
    await user.should_see("published 2026-12-01 20:30 UTC")

    # Live: a job queued elsewhere shows without a reload.
    await studio.jobs.submit([JobDraft(HELD, {}, title="Render more", project_id=project_id)], "local")
    await eventually(lambda: [e.text for e in visible(user, "overview-job-count")] == ["2"])

    user.find(marker=f"overview-shot-{shots[1].id}").click()  # a cell opens its scene
    await eventually(lambda: user.back_history[-1] == f"/scenes?project={project_id}&scene={scene.id}")


async def test_status_is_one_click_from_the_overview(user: User) -> None:
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    await user.open(f"/?project={project['id']}")
    user.find(marker="open-status").click()
    await eventually(lambda: user.back_history[-1] == "/status")
    await user.should_see("Backends", retries=WAIT)
