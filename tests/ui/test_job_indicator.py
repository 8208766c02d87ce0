"""The header's jobs indicator through NiceGUI's simulated user: it counts jobs in flight live, its drawer shows
them with progress and Cancel, and a long job of yours ends with a notice on whatever page you are."""

from __future__ import annotations

from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from services.jobs import JobDraft, JobProgressed
from studio.models import Job, JobState
from studio.root import Studio
from tests.ui.test_characters_page import element
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_home import HELD
from tests.ui.test_shell import eventually


def indicator(user: User) -> tuple[ui.badge, ui.tooltip]:
    """The header's count (hidden while nothing is in flight) and its tooltip."""
    badge, tip = element(user, "job-indicator").default_slot.children
    return badge, tip


async def run(studio: Studio, job: Job) -> None:
    """Take the job as a device would (the test plays its worker)."""
    claimed = await studio.jobs.claim("test-worker", "cpu", [HELD])
    assert claimed is not None and claimed.id == job.id


async def submitted_long_ago(studio: Studio, title: str, actor: str, seconds: float) -> Job:
    [job] = await studio.jobs.submit([JobDraft(HELD, {}, title=title)], actor)
    async with studio.db.session() as session:
        row = await session.get(Job, job.id)
        assert row is not None
        row.created_at -= timedelta(seconds=seconds)
        session.add(row)
    return job


async def test_the_header_counts_jobs_in_flight_and_its_drawer_follows_and_cancels_them(user: User) -> None:
    await user.open("/projects")
    studio = running_studio()
    badge, tip = indicator(user)
    assert not badge.visible  # nothing runs or waits
    first, second = await studio.jobs.submit(
        [JobDraft(HELD, {}, title="Render Arrival"), JobDraft(HELD, {}, title="Render Departure")], "local"
    )
    await eventually(lambda: badge.visible and badge.text == "2")
    await run(studio, first)
    await eventually(lambda: tip.text == "1 running, 1 queued")

    user.find(marker="job-indicator").click()
    await user.should_see(marker=f"job-drawer-{first.id}")
    await user.should_see("Render Departure")
    await studio.events.emit(JobProgressed(job_id=first.id, batch=None, progress=0.4, message="step 4 of 10"))  # type: ignore[arg-type]
    await eventually(lambda: element(user, f"job-progress-{first.id}").value == 0.4)
    assert element(user, f"job-message-{first.id}").text == "step 4 of 10"

    user.find(marker=f"cancel-job-{second.id}").click()
    await eventually(lambda: badge.text == "1")
    assert (await studio.jobs.get(second.id)).state == JobState.CANCELLED  # type: ignore[arg-type]
    await user.should_not_see(marker=f"job-drawer-{second.id}")


async def test_a_long_job_of_yours_ends_with_a_notice_wherever_you_are(user: User) -> None:
    await user.open("/projects")
    studio = running_studio()
    quick = await submitted_long_ago(studio, "Quick check", "local", seconds=1)
    theirs = await submitted_long_ago(studio, "Aiko's render", "aiko", seconds=60)
    long_done = await submitted_long_ago(studio, "Render Arrival", "local", seconds=60)
    long_failed = await submitted_long_ago(studio, "Render Departure", "local", seconds=60)
    for job in (quick, theirs, long_done, long_failed):
        await run(studio, job)
    await studio.jobs.succeed(quick.id, {})  # type: ignore[arg-type]
    await studio.jobs.succeed(theirs.id, {})  # type: ignore[arg-type]
    await studio.jobs.succeed(long_done.id, {})  # type: ignore[arg-type]
    await studio.jobs.fail(long_failed.id, "ComfyUI at http://gpu1:8188 went away")  # type: ignore[arg-type]

    await user.should_see("Render Arrival finished", retries=100)
    await user.should_see("Render Departure failed: ComfyUI at http://gpu1:8188 went away", retries=100)
    assert not user.notify.contains("Quick check")  # ended while you watched it
    assert not user.notify.contains("Aiko's render")  # not yours
