"""The orchestrator's gates, actions and overrides on SQLite and PostgreSQL, on a studio whose device workers do
not run (the jobs a pass queues stay queued, so what a pass launches is exactly what is in the jobs table): the
project waits for its characters; a pass that finds the same logs nothing; a refusing backend pauses the project
with its reason (no retry storm); overrides; shot preparation picks the best image per shot and proposes its
engine; one scene renders at a time, also after a restart; video QC stops after its attempts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from services.autonomy import AUTOPILOT, AutopilotChanged, AutopilotChanges
from services.bible.schemas import AppearanceData, CharacterDraft, ProjectDraft, StyleDraft
from services.errors import Invalid, NotFound
from services.jobs import JobFilter
from services.scenes import SCENE_JOB, SceneDraft, ShotDraft
from studio.clock import DrivenClock
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, AutonomyDecision, Character, DatasetImage, JobState, Shot
from studio.root import Studio
from tests.conftest import free_port
from tests.integration.test_training_export import add_images

RIN = CharacterDraft(name="Rin", appearance_data=AppearanceData(species="human"))
KAI = CharacterDraft(name="Kai", appearance_data=AppearanceData(species="human"))


def _settings(tmp_path: Path, database_url: str, **extra: object) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        autopilot_tick_seconds=3600,
        training_min_images=3,
        **extra,  # type: ignore[arg-type]
    )


async def _quiet(settings: Settings, clock: DrivenClock) -> Studio:
    """A migrated studio with its built-in data but no device workers: queued jobs stay queued."""
    studio = Studio.build(settings, clock=clock)
    studio.migrate()
    await studio.library.ensure_builtins()
    return studio


@pytest.fixture
def clock() -> DrivenClock:
    return DrivenClock()


@pytest.fixture
async def studio(tmp_path: Path, database_url: str, clock: DrivenClock) -> AsyncIterator[Studio]:
    built = await _quiet(_settings(tmp_path, database_url), clock)
    try:
        yield built
    finally:
        await built.stop()


async def _production(studio: Studio, approved: int = 3) -> tuple[int, list[Character]]:
    """A project with two characters, each with `approved` approved images, its orchestrator on (target 3)."""
    name = f"harbour-{uuid.uuid4().hex[:6]}"
    await studio.styles.create(StyleDraft(name=name, checkpoint_model="dreamshaper_8.safetensors"), "aiko")
    project = await studio.projects.create(
        ProjectDraft(name=name, default_style=name, frame_width=426, frame_height=240, frame_rate=12), "aiko"
    )
    project_id: int = project.id  # type: ignore[assignment]
    cast = [await studio.characters.create(project_id, draft, "aiko") for draft in (RIN, KAI)]
    for character in cast:
        await add_images(studio, character, approved)
    changes = AutopilotChanges(enabled=True, orchestrator=True, default_target=3)
    await studio.autonomy.config.update(project_id, changes, "aiko")
    return project_id, cast


async def _decisions(studio: Studio, project_id: int) -> list[AutonomyDecision]:
    return list(reversed(await studio.autonomy.log.list(project_id=project_id, loops=["orchestrator"], limit=500)))


async def _ready(studio: Studio, project_id: int, cast: list[Character]) -> None:
    """Characters marked ready by a person (their LoRA phase complete): the project's phases are next."""
    for character in cast:
        await studio.autonomy.orchestrator.override(
            project_id,
            "character",
            character.id,
            "lora_training",
            "complete",
            "aiko",  # type: ignore[arg-type]
        )


async def test_a_refusing_trainer_pauses_the_project_with_its_reason_and_nothing_is_asked_again_meanwhile(
    tmp_path: Path, database_url: str, clock: DrivenClock
) -> None:
    # A device whose ComfyUI does not answer: the training start is refused.
    gone = DeviceSettings(name="gpu", comfyui_url=f"http://127.0.0.1:{free_port()}")
    studio = await _quiet(_settings(tmp_path, database_url, devices=[gone]), clock)
    try:
        project_id, (rin, _kai) = await _production(studio)
        await studio.autonomy.runner.tick()
        view = await studio.autonomy.orchestrator.pipeline(project_id)
        assert view.autopilot.paused and "Rin, LoRA training" in (view.autopilot.settings.paused_reason or "")
        assert "cannot be asked" in (view.autopilot.settings.paused_reason or "")
        rin_view = next(c for c in view.characters if c.entity_id == rin.id)
        assert rin_view.phase == "lora_training" and rin_view.status == "waiting"  # paused: the reason is shown
        assert "paused until 09:" in rin_view.detail and "cannot be asked" in rin_view.detail
        assert [p.status for p in rin_view.phases] == ["done", "current", "pending"]
        assert rin_view.phases[0].gate == "Rin has 3 of 3 approved images" and rin_view.phases[0].passed
        # The project waits for both characters, naming them (Kai was not asked: the project paused first).
        assert view.project.status == "blocked" and view.project.phase == "scene_planning"
        assert "Rin (LoRA training: Rin has no active LoRA)" in view.project.detail and "Kai" in view.project.detail
        log = await _decisions(studio, project_id)
        failed = [d for d in log if d.outcome == "failed"]
        assert len(failed) == 1 and failed[0].action == "train" and failed[0].character_id == rin.id
        assert [d.reason for d in log if d.phase == "training_data"] == [
            "Training data passed: Rin has 3 of 3 approved images"
        ]

        # Paused: further passes ask nothing and log nothing, however often they come.
        for _ in range(3):
            await studio.autonomy.runner.tick()
        assert len(await _decisions(studio, project_id)) == len(log)
        assert await studio.jobs.list(JobFilter()) == []

        # After the pause the start is tried once more, refused again, logged again and paused again.
        clock.advance(studio.settings.autopilot_failure_pause_minutes * 60 + 1)
        await studio.autonomy.runner.tick()
        again = [d for d in await _decisions(studio, project_id) if d.outcome == "failed"]
        assert len(again) == 2 and (await studio.autonomy.config.get(project_id)).paused
    finally:
        await studio.stop()


async def test_a_pass_that_finds_the_same_logs_nothing_and_overrides_are_logged_and_reset(
    studio: Studio, clock: DrivenClock
) -> None:
    changes: list[AutopilotChanged] = []
    studio.events.subscribe(AutopilotChanged, changes.append)
    project_id, (rin, kai) = await _production(studio, approved=1)
    for character in (rin, kai):  # images waiting for review: replenishment holds both characters
        await add_images(studio, character, 3, ApprovalState.PENDING)
    await studio.autonomy.runner.tick()
    first = await _decisions(studio, project_id)
    assert [(d.character_id, d.action, d.outcome) for d in first] == [
        (rin.id, "wait", "waiting"),
        (kai.id, "wait", "waiting"),
        (None, "gate", "blocked"),
    ]
    assert first[0].reason == "Rin has 1 of 3 approved images; 3 images wait for review"
    clock.advance(600)
    await studio.autonomy.runner.tick()
    await studio.autonomy.runner.tick()
    assert [d.id for d in await _decisions(studio, project_id)] == [d.id for d in first]  # nothing new to say
    view = await studio.autonomy.orchestrator.pipeline(project_id)
    assert [(c.phase, c.status) for c in view.characters] == [("training_data", "acting")] * 2
    assert view.project.detail.startswith("waiting for its characters: Rin (Training data: Rin has 1 of 3")

    # A person marks both characters' training data complete: they go on to LoRA training.
    for character in (rin, kai):
        await studio.autonomy.orchestrator.override(
            project_id,
            "character",
            character.id,
            "training_data",
            "skip",
            "aiko",  # type: ignore[arg-type]
        )
    view = await studio.autonomy.orchestrator.pipeline(project_id)
    rin_view = view.characters[0]
    assert rin_view.phase == "lora_training" and rin_view.phases[0].status == "skipped"
    assert rin_view.phases[0].override == "skip"
    # Then their LoRA phase: both ready, the project's first phase asks for an LLM that is not set up.
    await _ready(studio, project_id, [rin, kai])
    await studio.autonomy.orchestrator.tick([project_id])
    view = await studio.autonomy.orchestrator.pipeline(project_id)
    assert [c.phase for c in view.characters] == ["ready", "ready"]
    assert view.project.phase == "scene_planning"
    assert "story to scenes needs an LLM" in (view.autopilot.settings.paused_reason or "")
    log = await _decisions(studio, project_id)
    overrides = [d for d in log if d.action == "override"]
    assert [d.actor for d in overrides] == ["aiko"] * 4
    assert overrides[0].reason == "aiko skipped Training data of Rin"
    assert overrides[2].reason == "aiko marked complete LoRA training of Rin"
    passes = [d.reason for d in log if d.action == "gate" and d.character_id == rin.id and d.outcome == "done"]
    assert passes[:2] == ["Training data passed: skipped by aiko", "LoRA training passed: marked complete by aiko"]
    assert [c.change for c in changes if c.change == "override"] == ["override"] * 4, (
        "studio/root.py must pass events=events to Orchestrator(...)"
    )

    # A reset removes the overrides from that phase on: Rin is back to waiting for images.
    await studio.autonomy.orchestrator.override(
        project_id,
        "character",
        rin.id,
        "training_data",
        "reset",
        "aiko",  # type: ignore[arg-type]
    )
    view = await studio.autonomy.orchestrator.pipeline(project_id)
    assert view.characters[0].phase == "training_data" and view.characters[0].phases[0].override is None
    assert view.project.status == "blocked"

    # What a client may get wrong is a clear refusal.
    orchestrator = studio.autonomy.orchestrator
    with pytest.raises(Invalid, match="ends"):
        await orchestrator.override(project_id, "character", rin.id, "ready", "skip", "aiko")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="phases are"):
        await orchestrator.override(project_id, "project", project_id, "training_data", "skip", "aiko")
    with pytest.raises(Invalid, match="skip, reset, complete"):
        await orchestrator.override(project_id, "project", project_id, "video_qc", "later", "aiko")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="not a live character"):
        await orchestrator.override(project_id, "character", 999, "training_data", "skip", "aiko")
    with pytest.raises(Invalid, match="own pipeline"):
        await orchestrator.override(project_id, "project", project_id + 1, "video_qc", "skip", "aiko")
    with pytest.raises(NotFound):
        await orchestrator.override(project_id + 99, "project", project_id + 99, "video_qc", "skip", "aiko")


async def _scene_with_shots(
    studio: Studio, project_id: int, shots: list[list[int]], title: str = "Harbour"
) -> uuid.UUID:
    scene = await studio.scenes.create(project_id, SceneDraft(title=title), "aiko")
    for present in shots:
        draft = ShotDraft(duration_seconds=1.0, description="on the pier", characters_present=present)  # type: ignore[arg-type]
        await studio.scenes.add_shot(scene.id, draft, "aiko")
    return scene.id


async def _score(studio: Studio, character: Character, scores: list[float]) -> list[int]:
    """The character's approved images, scored (best first in the returned ids)."""
    async with studio.db.session() as session:
        images = list(
            (
                await session.exec(
                    select(DatasetImage).where(DatasetImage.character_id == character.id).order_by(col(DatasetImage.id))
                )
            ).all()
        )
        for image, score in zip(images, scores, strict=False):
            image.quality_score = score
            session.add(image)
    ranked = sorted(zip(images, scores, strict=False), key=lambda pair: -pair[1])
    return [image.id for image, _ in ranked]  # type: ignore[misc]


async def test_shot_preparation_gives_each_shot_its_best_unused_image_and_an_engine_then_scenes_render_one_at_a_time(
    tmp_path: Path, database_url: str, clock: DrivenClock
) -> None:
    settings = _settings(tmp_path, database_url)
    studio = await _quiet(settings, clock)
    try:
        project_id, (rin, kai) = await _production(studio)
        await _ready(studio, project_id, [rin, kai])
        best_rin = await _score(studio, rin, [0.5, 0.9, 0.7])
        best_kai = await _score(studio, kai, [0.8, 0.6, 0.4])
        first = await _scene_with_shots(studio, project_id, [[rin.id], [rin.id], [kai.id, rin.id], []])  # type: ignore[list-item]
        second = await _scene_with_shots(studio, project_id, [[kai.id]], "Lighthouse")  # type: ignore[list-item]

        await studio.autonomy.orchestrator.tick([project_id])  # scene planning passes (it has scenes): shots
        one, two, three, four = await studio.scenes.shots(first)
        (five,) = await studio.scenes.shots(second)
        # Rin's best for shot 1, her next best for shot 2 (not used twice in a scene), Kai's best for shot 3
        # (its first-listed character), and Kai's best again in the other scene; the establishing shot has none.
        assert [s.source_image_id for s in (one, two, three, four, five)] == [
            best_rin[0],
            best_rin[1],
            best_kai[0],
            None,
            best_kai[0],
        ]
        assert one.source_image_path and one.video_engine == "animatic"  # no GPU device: the proposal's fallback
        prepared = [d for d in await _decisions(studio, project_id) if d.action == "prepare"]
        assert len(prepared) == 4 and prepared[0].image_id == best_rin[0] and "score 0.90" in prepared[0].reason
        assert "Animatic" in prepared[0].reason

        # Video generation: the first scene only, background work by the autopilot; the next pass waits for it.
        await studio.autonomy.orchestrator.tick([project_id])
        await studio.autonomy.orchestrator.tick([project_id])
        (job,) = await studio.jobs.list(JobFilter(kind=SCENE_JOB))
        assert job.payload["scene_id"] == str(first) and job.created_by == AUTOPILOT and job.priority == 10
        view = await studio.autonomy.orchestrator.pipeline(project_id)
        assert (view.project.phase, view.project.status, view.project.job_id) == ("video_generation", "acting", job.id)
        assert view.project.detail == f"job {job.id} renders Scene 1: Harbour"

        # A restart: the job is still queued, and the new studio waits for it rather than rendering again.
        await studio.stop()
        studio = await _quiet(settings, clock)
        await studio.autonomy.orchestrator.tick([project_id])
        assert len(await studio.jobs.list(JobFilter(kind=SCENE_JOB))) == 1
        renders = [(d.action, d.outcome) for d in await _decisions(studio, project_id) if d.phase == "video_generation"]
        assert renders == [("render", "acted"), ("wait", "waiting")]
    finally:
        await studio.stop()


async def test_video_qc_renders_the_worst_shot_again_at_most_its_attempts_then_accepts_it(
    tmp_path: Path, database_url: str, clock: DrivenClock
) -> None:
    settings = _settings(tmp_path, database_url, qc_max_attempts=2)
    studio = await _quiet(settings, clock)
    try:
        project_id, (rin, kai) = await _production(studio)
        await _ready(studio, project_id, [rin, kai])
        scene_id = await _scene_with_shots(studio, project_id, [[], []])
        # Both shots rendered by a GPU engine; shot 2 scores below the QC bar.
        async with studio.db.session() as session:
            for shot, score in zip(await studio.scenes.shots(scene_id), (0.8, 0.1), strict=True):
                row = await session.get(Shot, shot.id)
                assert row is not None
                row.video_engine, row.status, row.quality_score, row.selected_attempt = (
                    "animatic",
                    "accepted_best",
                    score,
                    1,
                )
                row.output_video_path = f"videos/{shot.id}.mp4"
                row.attempts = [{"n": 1, "run": "r0", "video": row.output_video_path, "score": score, "passed": False}]
                session.add(row)
        # An animatic renders the same video again: QC leaves it alone.
        await studio.autonomy.orchestrator.tick([project_id])
        view = await studio.autonomy.orchestrator.pipeline(project_id)
        assert view.project.phase == "scene_assembly"
        assert await studio.jobs.list(JobFilter(kind=SCENE_JOB)) == []

        for job in await studio.jobs.list(JobFilter()):  # the scene assembly it went on to
            await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
        await studio.autonomy.orchestrator.override(project_id, "project", project_id, "video_qc", "reset", "aiko")
        async with studio.db.session() as session:
            for shot in await studio.scenes.shots(scene_id):
                row = await session.get(Shot, shot.id)
                row.video_engine = "wan"  # type: ignore[union-attr]
                session.add(row)
        # The GPU engine needs a device that can run it: the refusal is the service's own, and it pauses.
        await studio.autonomy.orchestrator.tick([project_id])
        view = await studio.autonomy.orchestrator.pipeline(project_id)
        assert view.project.phase == "video_qc"
        assert "no device can run Wan 2.1" in (view.autopilot.settings.paused_reason or "")
    finally:
        await studio.stop()


async def test_video_qc_attempts_are_capped_per_scene_and_the_log_says_the_shot_was_accepted(
    tmp_path: Path, database_url: str, clock: DrivenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(tmp_path, database_url, qc_max_attempts=2)
    studio = await _quiet(settings, clock)
    try:

        async def every_engine() -> set[str]:  # a GPU box that can run Wan (no ComfyUI in this test)
            return {"wan", "animatic"}

        monkeypatch.setattr(studio.scene_generation, "_engines_ready", every_engine)
        project_id, (rin, kai) = await _production(studio)
        await _ready(studio, project_id, [rin, kai])
        scene_id = await _scene_with_shots(studio, project_id, [[], []])
        async with studio.db.session() as session:
            for shot, score in zip(await studio.scenes.shots(scene_id), (0.1, 0.8), strict=True):
                row = await session.get(Shot, shot.id)
                assert row is not None
                row.video_engine, row.status, row.quality_score, row.selected_attempt = "wan", "accepted_best", score, 1
                row.output_video_path = f"videos/{shot.id}.mp4"
                row.attempts = [{"n": 1, "run": "r0", "video": row.output_video_path, "score": score, "passed": False}]
                session.add(row)
        worst = (await studio.scenes.shots(scene_id))[0]
        for attempt in (1, 2):
            await studio.autonomy.orchestrator.tick([project_id])
            jobs = await studio.jobs.list(JobFilter(kind=SCENE_JOB))
            assert len(jobs) == attempt and jobs[0].payload["shot_ids"] == [str(worst.id)]
            await studio.autonomy.orchestrator.tick([project_id])  # waits for its render
            # The render ends without a better video (cancelled here): the shot keeps its old one.
            await studio.jobs.cancel(jobs[0].id, "test")  # type: ignore[arg-type]
        await studio.autonomy.orchestrator.tick([project_id])
        assert len(await studio.jobs.list(JobFilter(kind=SCENE_JOB))) == 2  # capped: no third
        view = await studio.autonomy.orchestrator.pipeline(project_id)
        assert view.project.phase == "scene_assembly"
        log = await _decisions(studio, project_id)
        # While its shot renders again the scene lacks that video: the project waits in video generation.
        launched = [(d.phase, d.action, d.outcome) for d in log if d.outcome in ("acted", "waiting")]
        assert launched == [
            ("video_qc", "qc", "acted"),
            ("video_generation", "wait", "waiting"),
            ("video_qc", "qc", "acted"),
            ("video_generation", "wait", "waiting"),
            ("scene_assembly", "assemble", "acted"),
        ]
        qc = [d for d in log if d.phase == "video_qc"]
        assert "QC attempt 2 of 2" in [d for d in qc if d.action == "qc"][1].reason
        passed = next(d for d in qc if d.action == "gate" and d.outcome == "done")
        assert "accepted after 2 QC attempts (shot 1 of Scene 1: Harbour: 0.10)" in passed.reason
        # Cancelled renders are not failures: the project is not paused.
        assert not (await studio.autonomy.config.get(project_id)).paused
        assert all(j.state == JobState.CANCELLED for j in await studio.jobs.list(JobFilter(kind=SCENE_JOB)))
    finally:
        await studio.stop()
