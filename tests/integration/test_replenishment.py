"""Replenishment: small background batches top characters up to their target, and every guard holds (each test
here fails without its guard). Real image jobs against the fake ComfyUI; the studio's clock is driven by hand."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from services.autonomy import AutopilotChanges
from services.datasets.decisions import Verdict
from services.datasets.store import GENERATED_SOURCE, NewImage
from services.generation import IMAGE_JOB, ImageBatchDraft
from studio.clock import DrivenClock
from studio.config import DeviceSettings, Settings
from studio.models import (
    ApprovalState,
    AutonomyDecision,
    DatasetImage,
    Job,
    JobPriority,
    JobState,
)
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA, PEACH, noisy_png
from tests.fakes import FakeComfyUI

ACTIVE = (JobState.QUEUED, JobState.RUNNING)
# Small images: the fake draws (and triage measures) every pixel, and these tests generate dozens.
STYLE = COUNTERFEIT.model_copy(update={"width": 256, "height": 256})


@pytest.fixture(scope="module")
def shared_comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.01) as fake:
        yield fake


@pytest.fixture
def comfy(shared_comfy: FakeComfyUI) -> Iterator[FakeComfyUI]:
    shared_comfy.reset()
    shared_comfy.release()
    shared_comfy.models = {**shared_comfy.models, "checkpoints": [COUNTERFEIT.checkpoint_model]}
    yield shared_comfy
    shared_comfy.release()


@dataclass
class Rig:
    studio: Studio
    clock: DrivenClock
    project_id: int
    characters: list[int]

    async def tick(self) -> None:
        await self.studio.autonomy.replenishment.tick([self.project_id])

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


def rig_settings(tmp_path: Path, database_url: str, comfy: FakeComfyUI, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[DeviceSettings(name="gpu1", comfyui_url=comfy.url)],
        job_claim_poll_seconds=0.2,
        autopilot_tick_seconds=3600,  # the background loop stays out of the way: the tests call the passes
        triage_min_side=256,
        **overrides,
    )


async def started(settings: Settings, clock: DrivenClock, *, workers: bool = True) -> Studio:
    studio = Studio.build(settings, clock=clock)
    studio.migrate()
    await studio.start()
    await studio.autonomy.runner.stop()  # passes only when a test asks (its event subscriptions stay)
    if not workers:
        await studio.workers.stop()  # what the autopilot queues stays queued
    return studio


async def project_with(studio: Studio, *, enabled: bool = True, characters: int = 1, **changes: Any) -> Rig:
    """A project with Koopa (and Peach) whose autopilot has `changes`."""
    if not any(s.name == STYLE.name for s in await studio.styles.list()):
        await studio.styles.create(STYLE, "aiko")
    draft = GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}", "default_style": STYLE.name})
    project = await studio.projects.create(draft, "aiko")
    ids = [(await studio.characters.create(project.id, d, "aiko")).id for d in (KOOPA, PEACH)[:characters]]  # type: ignore[arg-type]
    targets = changes.pop("targets", None)
    await studio.autonomy.config.update(
        project.id,  # type: ignore[arg-type]
        AutopilotChanges(enabled=enabled, targets={ids[i]: t for i, t in (targets or {}).items()}, **changes),
        "aiko",
    )
    clock = studio.clock
    assert isinstance(clock, DrivenClock)
    return Rig(studio, clock, project.id, ids)  # type: ignore[arg-type]


@pytest.fixture
async def rigs(tmp_path: Path, database_url: str, comfy: FakeComfyUI) -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    built: list[Studio] = []

    async def make(
        *, workers: bool = True, characters: int = 1, autopilot: dict[str, Any] | None = None, **settings: Any
    ) -> Rig:
        studio = await started(rig_settings(tmp_path, database_url, comfy, **settings), DrivenClock(), workers=workers)
        built.append(studio)
        return await project_with(studio, characters=characters, **(autopilot or {}))

    yield make
    for studio in built:
        await studio.stop()


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def autopilot_jobs(studio: Studio, character_id: int | None = None) -> list[Job]:
    query = select(Job).where(Job.kind == IMAGE_JOB, Job.created_by == "autopilot").order_by(col(Job.id))
    async with studio.db.session() as session:
        jobs = list((await session.exec(query)).all())
    return [j for j in jobs if character_id is None or j.payload["character_id"] == character_id]


async def settled(studio: Studio) -> None:
    """Every image job finished and its images stored (reviewed by nobody yet)."""

    async def done() -> bool:
        async with studio.db.session() as session:
            jobs = (await session.exec(select(Job).where(col(Job.kind).in_([IMAGE_JOB])))).all()
        return all(j.state not in ACTIVE for j in jobs)

    await until(done, "image jobs to finish")
    failed = [j.error for j in await autopilot_jobs(studio) if j.state != JobState.SUCCEEDED]
    assert not failed, failed


async def land(studio: Studio) -> list[int]:
    """Carry out the queued autopilot image jobs as a device would, without ComfyUI: each succeeds and stores one
    pending image with its job's recipe (the guards read only these rows; one test runs the real device)."""
    stored = []
    while (job := await studio.jobs.claim("test-device", "gpu1", [IMAGE_JOB])) is not None:
        character = await studio.characters.get(job.payload["character_id"])
        data = noisy_png(64, 64, seed=job.id)  # type: ignore[arg-type]
        new = NewImage(
            data, GENERATED_SOURCE, f"test:{job.id}", {"recipe": job.payload}, job.payload["derived_from_id"]
        )
        admission = await studio.dataset_store.add(character, new, job.created_by)
        await studio.jobs.succeed(job.id, {"image_ids": [admission.image.id]})  # type: ignore[arg-type]
        stored.append(admission.image.id)
    return stored  # type: ignore[return-value]


async def images(studio: Studio, character_id: int, state: ApprovalState | None = None) -> list[DatasetImage]:
    query = select(DatasetImage).where(DatasetImage.character_id == character_id).order_by(col(DatasetImage.id))
    if state is not None:
        query = query.where(DatasetImage.approval_state == state)
    async with studio.db.session() as session:
        return list((await session.exec(query)).all())


async def review(studio: Studio, character_id: int, state: ApprovalState, count: int | None = None) -> list[int]:
    """A person decides the character's pending images (the first `count` of them)."""
    pending = (await images(studio, character_id, ApprovalState.PENDING))[:count]
    categories = ("wrong_pose",) if state == ApprovalState.REJECTED else ()
    for image in pending:
        await studio.decisions.decide(image.id, Verdict(state, categories=categories), "aiko")  # type: ignore[arg-type]
    return [i.id for i in pending]  # type: ignore[misc]


async def decisions(studio: Studio, character_id: int, loop: str = "replenishment") -> list[AutonomyDecision]:
    return list(reversed(await studio.autonomy.log.list(character_id=character_id, loops=[loop])))


async def last_reason(rig: Rig, character_id: int) -> str:
    return (await decisions(rig.studio, character_id))[-1].reason


# --- topping up ------------------------------------------------------------------------------------


async def test_two_characters_are_topped_up_exactly_to_their_targets(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(characters=2, autopilot={"default_target": 5, "targets": {1: 4}})
    koopa, peach = rig.characters
    rounds = 0
    while True:  # 3 + 2 for Koopa, 3 + 1 for Peach, on the fake ComfyUI
        launched = len(await autopilot_jobs(rig.studio))
        await rig.tick()
        if len(await autopilot_jobs(rig.studio)) == launched:
            break
        rounds += 1
        assert rounds <= 4, "the characters should have reached their targets by now"
        await settled(rig.studio)
        for character in rig.characters:
            await review(rig.studio, character, ApprovalState.APPROVED)
        rig.advance(61)
    assert len(await images(rig.studio, koopa, ApprovalState.APPROVED)) == 5
    assert len(await images(rig.studio, peach, ApprovalState.APPROVED)) == 4
    jobs = await autopilot_jobs(rig.studio)
    assert all(j.priority == JobPriority.BACKGROUND and j.created_by == "autopilot" for j in jobs)
    # Every launch logged with its numbers; the last word is "done", logged once.
    koopa_log = await decisions(rig.studio, koopa)
    acted = [d for d in koopa_log if d.outcome == "acted"]
    assert acted[0].reason == "Koopa King has 0 of 5 approved; 3 more" and acted[0].count == 3
    assert acted[0].job_id == (await autopilot_jobs(rig.studio, koopa))[0].id
    assert sum(d.count for d in acted) == len(await autopilot_jobs(rig.studio, koopa))
    assert [d.outcome for d in koopa_log].count("done") == 1 and koopa_log[-1].outcome == "done"
    assert koopa_log[-1].reason == "Koopa King: target reached (5 of 5 approved)"


async def test_a_character_at_its_target_gets_nothing_more(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 2})
    [koopa] = rig.characters
    await rig.tick()
    await land(rig.studio)
    assert len(await autopilot_jobs(rig.studio)) == 2  # not a full batch of 3: only what the target misses
    await review(rig.studio, koopa, ApprovalState.APPROVED)
    rig.advance(3600)
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 2
    [standing] = (await rig.studio.autonomy.replenishment.standing([koopa])).values()
    assert standing.reached and standing.hold == "target reached (2 of 2 approved)" and standing.batch == 0
    assert (await decisions(rig.studio, koopa))[-1].outcome == "done"


# --- the guards -------------------------------------------------------------------------------------


async def test_images_waiting_for_review_hold_the_next_batch(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    await land(rig.studio)
    rig.advance(3600)  # the cooldown is long over
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 3
    assert await last_reason(rig, koopa) == "Koopa King: 3 images wait for review"
    await review(rig.studio, koopa, ApprovalState.APPROVED, count=1)  # 2 pending: below the buffer
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 6


async def test_a_batch_still_generating_holds_the_character(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    rig.advance(3600)
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 3
    assert await last_reason(rig, koopa) == (
        "Koopa King: its last batch is still generating (3 image jobs queued or running)"
    )


async def test_the_studio_wide_limit_on_background_jobs_holds_every_character(
    rigs: Callable[..., Awaitable[Rig]],
) -> None:
    rig = await rigs(workers=False, characters=2, replenish_max_active_jobs=3, autopilot={"default_target": 20})
    koopa, peach = rig.characters
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio, koopa)) == 3
    assert await autopilot_jobs(rig.studio, peach) == []
    assert await last_reason(rig, peach) == "Princess Peach: 3 background image jobs already running"
    # The limit is live, and a ceiling: raised by 2, the next pass gives Peach 2 of a batch of 3.
    rig.studio.settings.replenish_max_active_jobs = 5
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio, peach)) == 2


async def test_the_cooldown_spaces_one_characters_batches(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, replenish_cooldown_seconds=300, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    await land(rig.studio)
    await review(rig.studio, koopa, ApprovalState.APPROVED)
    rig.advance(299)
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 3
    assert await last_reason(rig, koopa) == "Koopa King: cooldown until 09:05 UTC"
    rig.advance(1)
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 6


async def test_the_daily_limit_holds_until_midnight_utc(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, replenish_daily_limit=4, autopilot={"default_target": 20})
    [koopa] = rig.characters
    for _ in range(3):
        await rig.tick()
        await land(rig.studio)
        await review(rig.studio, koopa, ApprovalState.APPROVED)
        rig.advance(61)
    assert [j.payload["character_id"] for j in await autopilot_jobs(rig.studio)] == [koopa] * 4  # 3, then 1
    assert await last_reason(rig, koopa) == "Koopa King: daily limit reached (4 of 4); more after midnight UTC"
    rig.advance((24 - 9) * 3600 - 3 * 61)  # 00:00 UTC the next day
    assert rig.clock.now().hour == 0
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 7


async def test_rejections_in_a_row_pause_a_character_until_an_approval(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, replenish_pause_after_rejects=2, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    await land(rig.studio)
    await review(rig.studio, koopa, ApprovalState.REJECTED, count=2)  # one left pending: below the buffer
    rig.advance(61)
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 3
    decision = (await decisions(rig.studio, koopa))[-1]
    assert decision.outcome == "blocked"
    assert decision.reason == "Koopa King: paused after 2 rejections in a row; an approval resumes it"
    await review(rig.studio, koopa, ApprovalState.APPROVED)  # a person approves the last one
    await rig.tick()
    assert len(await autopilot_jobs(rig.studio)) == 6


async def test_a_waiting_character_logs_its_reason_once(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    for _ in range(5):
        rig.advance(61)
        await rig.tick()
    assert [d.outcome for d in await decisions(rig.studio, koopa)] == ["acted", "waiting"]


async def test_a_project_without_autonomy_or_paused_gets_nothing(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    await rig.studio.autonomy.config.pause(rig.project_id, "job 1 failed", 10)
    running = [p.project_id for p in await rig.studio.autonomy.config.running() if p.enabled]
    assert running == []
    # Asked directly (the orchestrator does), a paused project launches nothing either.
    assert await rig.studio.autonomy.replenishment.consider(rig.characters[0], trigger="orchestrator") is None
    assert await autopilot_jobs(rig.studio) == []


async def test_a_refused_batch_pauses_the_project_instead_of_asking_every_pass(
    rigs: Callable[..., Awaitable[Rig]],
) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    [koopa] = rig.characters
    rig.studio.settings.devices = []  # ComfyUI disconnected
    await rig.tick()
    [failed] = await decisions(rig.studio, koopa)
    assert failed.outcome == "failed" and "no device has a ComfyUI server" in failed.reason
    view = await rig.studio.autonomy.config.get(rig.project_id)
    assert view.paused and "no device has a ComfyUI server" in (view.settings.paused_reason or "")


async def test_the_orchestrators_batches_respect_the_same_guards(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, replenish_daily_limit=3, autopilot={"default_target": 20})
    [koopa] = rig.characters
    replenishment = rig.studio.autonomy.replenishment
    acted = await replenishment.consider(koopa, trigger="orchestrator", phase="training_data")
    assert acted is not None and acted.outcome == "acted" and acted.phase == "training_data" and acted.count == 3
    rig.advance(3600)
    again = await replenishment.consider(koopa, trigger="orchestrator", phase="training_data")
    assert again is not None and again.outcome == "waiting"
    assert await replenishment.consider(koopa, trigger="orchestrator", phase="training_data") is None  # said so
    assert len(await autopilot_jobs(rig.studio)) == 3


# --- restart and priority ---------------------------------------------------------------------------


async def test_a_restart_finds_the_running_batch_and_does_not_launch_again(
    tmp_path: Path, database_url: str, comfy: FakeComfyUI
) -> None:
    settings = rig_settings(tmp_path, database_url, comfy)
    clock = DrivenClock()
    first = await started(settings, clock, workers=False)
    try:
        rig = await project_with(first, default_target=20)
        await rig.tick()
        assert len(await autopilot_jobs(first)) == 3
    finally:
        await first.stop()
    clock.advance(3600)
    second = await started(settings, clock, workers=False)
    try:
        await second.autonomy.replenishment.tick([rig.project_id])
        assert len(await autopilot_jobs(second)) == 3
        [koopa] = rig.characters
        [standing] = (await second.autonomy.replenishment.standing([koopa])).values()
        assert standing.active_jobs == 3 and standing.launched_today == 3 and standing.last_batch_at is not None
    finally:
        await second.stop()


async def test_a_persons_generate_runs_before_the_autopilots_batch(rigs: Callable[..., Awaitable[Rig]]) -> None:
    rig = await rigs(workers=False, autopilot={"default_target": 20})
    [koopa] = rig.characters
    await rig.tick()
    background = await autopilot_jobs(rig.studio)
    [person] = await rig.studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
    assert person.id > max(j.id for j in background)  # type: ignore[operator]
    claimed = await rig.studio.jobs.claim("probe", "gpu1", [IMAGE_JOB])
    assert claimed is not None and claimed.id == person.id
    claimed = await rig.studio.jobs.claim("probe", "gpu1", [IMAGE_JOB])
    assert claimed is not None and claimed.id == background[0].id
