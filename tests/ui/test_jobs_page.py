"""The Jobs page through NiceGUI's simulated user: the live list, its filters, cancel/retry and the workers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nicegui import ui
from nicegui.testing import User

from services.scenes import SceneDraft, ShotDraft
from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_characters_page import api, element
from tests.ui.test_create_page import WAIT, comfy_device, project_with_koopa, state_of, visible
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    yield from comfy_device(monkeypatch)


async def finished(user: User, job_id: int, seconds: float = 10.0) -> dict:
    for _ in range(int(seconds / 0.05)):
        job = await api(user, "GET", f"/jobs/{job_id}")
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def one_job(user: User, character_id: int) -> int:
    batch = await api(user, "POST", f"/characters/{character_id}/generate", {"count": 1})
    return batch["jobs"][0]["id"]


async def test_without_jobs_the_page_says_so_and_shows_the_cpu_worker(user: User) -> None:
    await user.open("/jobs")
    await user.should_see("No jobs yet.", retries=WAIT)
    await user.should_see("cpu: connected · 0 in flight", retries=WAIT)


async def test_jobs_are_listed_filtered_and_retried_live(comfy: FakeComfyUI, user: User) -> None:
    _, character_id = await project_with_koopa(user)
    good = await one_job(user, character_id)
    assert (await finished(user, good))["state"] == "succeeded"
    comfy.fail_next("CUDA out of memory")
    bad = await one_job(user, character_id)
    assert (await finished(user, bad))["state"] == "failed"

    await user.open("/jobs")
    await user.should_see(marker=f"job-row-{good}", retries=WAIT)
    await user.should_see(marker=f"job-row-{bad}", retries=WAIT)
    await user.should_see("2 jobs", retries=WAIT)
    await user.should_see("gpu1: connected · 0 in flight", retries=WAIT)
    await user.should_see("CUDA out of memory", retries=WAIT)
    assert state_of(user, good) == "succeeded" and state_of(user, bad) == "failed"
    await user.should_not_see(marker=f"retry-job-{good}", retries=WAIT)  # only failed or cancelled jobs offer Retry

    element(user, "state-filter").value = ["failed"]
    await user.should_not_see(marker=f"job-row-{good}", retries=WAIT)
    await user.should_see(marker=f"job-row-{bad}", retries=WAIT)
    await user.should_see("1 job", retries=WAIT)

    element(user, "state-filter").value = []
    assert "image.generate" in element(user, "kind-filter").options
    element(user, "kind-filter").value = "image.generate"
    await user.should_see(marker=f"job-row-{good}", retries=WAIT)
    element(user, "device-filter").value = "cpu"
    await user.should_see("No job matches these filters.", retries=WAIT)
    element(user, "device-filter").value = "gpu1"  # they ran there, though any device could have taken them
    await user.should_see(marker=f"job-row-{good}", retries=WAIT)
    await user.should_see(marker=f"job-row-{bad}", retries=WAIT)

    user.find(marker=f"retry-job-{bad}").click()
    await user.should_see(f"Job {bad} queued again", retries=WAIT)
    await eventually(lambda: state_of(user, bad) == "succeeded", seconds=20)
    await user.should_not_see("CUDA out of memory", retries=WAIT)
    assert (await api(user, "GET", f"/jobs/{bad}"))["attempts"] == 2


async def test_a_held_job_is_cancelled_from_its_row_and_a_stale_row_reports_the_conflict(
    comfy: FakeComfyUI, user: User
) -> None:
    _, character_id = await project_with_koopa(user)
    comfy.hold()
    await user.open("/jobs")
    job_id = await one_job(user, character_id)
    # Queued on ComfyUI, which has not started it: waiting on the device, not running, no start time.
    await eventually(lambda: state_of(user, job_id) == "waiting", seconds=20)  # live: no reload needed
    await user.should_see("waiting on gpu1 (queued on ComfyUI)", retries=WAIT)
    assert (await api(user, "GET", f"/jobs/{job_id}"))["started_at"] is None
    await eventually(
        lambda: bool(visible(user, "worker-gpu1")) and "1 in flight" in visible(user, "worker-gpu1")[0].text
    )

    user.find(marker=f"cancel-job-{job_id}").click()
    await user.should_see(f"Job {job_id} cancelled", retries=WAIT)
    await eventually(lambda: state_of(user, job_id) == "cancelled", seconds=20)
    await user.should_see("cancelled by local", retries=WAIT)

    # A row that has not caught up yet (its redraw paused here) offers Retry on a job another tab retried:
    # the service refuses, and the page says why instead of failing.
    for timer in user.find(kind=ui.timer).elements:
        timer.deactivate()
    await api(user, "POST", f"/jobs/{job_id}/retry")
    user.find(marker=f"retry-job-{job_id}").click()
    await user.should_see("only failed or cancelled jobs can be retried", retries=WAIT)
    for timer in user.find(kind=ui.timer).elements:
        timer.activate()
    await eventually(lambda: state_of(user, job_id) in ("queued", "waiting"), seconds=20)
    comfy.release()
    await eventually(lambda: state_of(user, job_id) == "succeeded", seconds=20)


async def test_jobs_read_in_words_with_duration_progress_subject_and_a_project_filter(
    comfy: FakeComfyUI, user: User
) -> None:
    project_a, character_id = await project_with_koopa(user)
    image = await one_job(user, character_id)
    assert (await finished(user, image))["state"] == "succeeded"
    studio = running_studio()
    project_b = (await api(user, "POST", "/projects", {"name": "Moon Rise"}))["id"]
    scene = await studio.scenes.create(project_b, SceneDraft(title="Arrival"), "local")
    await studio.scenes.add_shot(scene.id, ShotDraft(video_engine="animatic"), "local")
    generation = (await studio.scene_generation.start(scene.id, "local")).id
    assert (await finished(user, generation, seconds=30))["state"] == "succeeded"

    await user.open("/jobs")
    await user.should_see(marker=f"job-row-{generation}", retries=WAIT)
    assert element(user, f"job-kind-{image}").text == "Image generation"
    assert element(user, f"job-kind-{generation}").text == "Scene generation"
    assert element(user, "kind-filter").options["scene.generate"] == "Scene generation"
    character_link = element(user, f"job-link-{image}")
    assert character_link.text == "open character"
    assert character_link.props["href"] == f"/characters?project={project_a}&character={character_id}"
    assert element(user, f"job-link-{generation}").props["href"] == f"/scenes?project={project_b}&scene={scene.id}"
    assert element(user, f"job-progress-{generation}").value == 1.0  # finished jobs keep their bar
    assert element(user, f"job-duration-{generation}").text.endswith(" s")

    element(user, "project-filter").value = project_b
    await user.should_not_see(marker=f"job-row-{image}", retries=WAIT)
    await user.should_see(marker=f"job-row-{generation}", retries=WAIT)
