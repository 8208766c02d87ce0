"""The simulated production (issue 23's Done-when): an empty project with a storyline and two characters runs
under the orchestrator to a published episode with nobody touching it, on a fake ComfyUI that generates images,
trains LoRAs with its own training nodes and renders FramePack video, and a fake LLM that reviews pictures,
plans the story and scores frames. The studio is stopped and started again twice on the way (once with a
training run on the GPU, once with a scene rendering); the decision log tells the whole story, and nothing ran
twice."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from services.autonomy import AUTOPILOT, AutopilotChanges
from services.bible.schemas import AppearanceData, CharacterDraft, ProjectDraft, StorylineDraft, StyleDraft
from services.jobs import JobFilter
from services.scenes import SCENE_JOB
from studio.clock import DrivenClock
from studio.config import DeviceSettings, Settings
from studio.models import AutonomyDecision, Decider, Job, JobState, ReviewDecision, TrainingRun
from studio.root import Studio
from tests.fakes import FakeComfyUI
from tests.fakes.ollama import DEFAULT_REVIEW, FakeOllama
from tests.integration.test_comfy_worker import _until

CHECKPOINT = "dreamshaper_8.safetensors"  # an SD 1.5 checkpoint the fake ComfyUI has
CAST = (
    CharacterDraft(
        name="Rin",
        design_prompt="1girl, a courier with short red hair",
        appearance_data=AppearanceData(species="human", gender="female", key_colors={"hair": "red hair"}),
    ),
    CharacterDraft(
        name="Kai",
        design_prompt="1boy, a lighthouse keeper in a yellow raincoat",
        appearance_data=AppearanceData(species="human", gender="male", key_colors={"coat": "yellow raincoat"}),
    ),
)


def _shot(characters: list[str], what: str) -> dict[str, Any]:
    return {
        "shot_type": "medium",
        "camera_angle": "eye_level",
        "description": what,
        "motion_prompt": "slow push in",
        "duration_seconds": 1,
        "characters": characters,
        "dialogue_text": "",
        "speaking_character": None,
    }


PLAN = {
    "scenes": [
        {
            "title": title,
            "description": what,
            "location": "the harbour",
            "time_of_day": "evening",
            "mood": "calm",
            "characters": who,
            "shots": [_shot(who, what)],
        }
        for title, who, what in (
            ("The Letter", ["Rin"], "Rin runs along the pier with a letter"),
            ("The Lighthouse", ["Kai"], "Kai lights the lamp at the top of the lighthouse"),
            ("The Meeting", ["Rin", "Kai"], "Rin hands Kai the letter at the lighthouse door"),
        )
    ]
}
FRAME = {"character_match": 8, "style_match": 8, "motion_execution": 8, "technical_quality": 8, "issues": []}


def _reply(body: dict[str, Any]) -> str:
    """The fake LLM: a story plan, a frame review or a dataset review, by the schema it is asked to fill."""
    schema = json.dumps(body.get("format") or {})
    if '"scenes"' in schema:
        return json.dumps(PLAN)
    if "motion_execution" in schema:
        return json.dumps(FRAME)
    return json.dumps(DEFAULT_REVIEW) if body.get("format") else "Yes."


def _settings(tmp_path: Path, database_url: str, comfy: FakeComfyUI, llm: FakeOllama) -> Settings:
    loras = tmp_path / "comfy-loras"
    loras.mkdir(exist_ok=True)
    comfy.model_folders["loras"] = loras  # the device's LoRA folder is that ComfyUI's models/loras
    device = DeviceSettings(name="gpu", comfyui_url=comfy.url, llm_url=llm.url, loras_dir=loras)
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[device],
        job_claim_poll_seconds=0.2,
        autopilot_tick_seconds=3600,  # the test drives the passes
        training_min_images=3,
        replenish_batch_size=3,
        replenish_pending_buffer=3,
        replenish_cooldown_seconds=60,
        replenish_daily_limit=20,
    )


async def _started(settings: Settings, clock: DrivenClock) -> Studio:
    studio = Studio.build(settings, clock=clock)
    studio.migrate()
    await studio.start()
    studio.job_handlers.remote["lora.train"].comfy.poll_seconds = 0.1  # type: ignore[attr-defined]
    return studio


async def _idle(studio: Studio, within: float = 60) -> None:
    """Until no job is queued or running (the jobs a pass launched, and the reviews they queued)."""

    async def idle() -> bool:
        return not await studio.jobs.list(JobFilter(states=(JobState.QUEUED, JobState.RUNNING), limit=1))

    await _until(idle, within, "the autopilot's jobs")
    async with studio.db.session() as session:
        runs = (await session.exec(select(TrainingRun.id))).all()
    for run_id in runs:  # a finished run's epochs are scored in the background, not as a job
        await studio.training.scoring_settled(run_id)  # type: ignore[arg-type]


async def _phase(studio: Studio, project_id: int) -> str:
    return (await studio.autonomy.orchestrator.pipeline(project_id)).project.phase


async def _run_until(studio: Studio, clock: DrivenClock, project_id: int, stop: Any, passes: int = 40) -> None:
    """Passes of the autopilot, each followed by its jobs and a minute of the clock, until `stop()`."""
    for _ in range(passes):
        await studio.autonomy.runner.tick()
        if await stop():
            return
        await _idle(studio)
        clock.advance(61)
    raise AssertionError(f"the production did not get there: {await studio.autonomy.orchestrator.pipeline(project_id)}")


async def _training_run(studio: Studio) -> bool:
    async with studio.db.session() as session:
        return (await session.exec(select(TrainingRun))).first() is not None


async def _scene_job(studio: Studio) -> bool:
    return bool(await studio.jobs.list(JobFilter(kind=SCENE_JOB, limit=1)))


@pytest.mark.timeout(180)
async def test_an_empty_project_is_produced_to_a_published_episode_by_the_autopilot_alone(
    tmp_path: Path, database_url: str
) -> None:
    clock = DrivenClock()
    with FakeComfyUI(training="0.3.64") as comfy, FakeOllama(reply_for=_reply) as llm:
        comfy.job_seconds = 0.01
        comfy.training_step_seconds = 0.002
        settings = _settings(tmp_path, database_url, comfy, llm)
        studio = await _started(settings, clock)
        try:
            await studio.styles.create(
                StyleDraft(name="harbour", checkpoint_model=CHECKPOINT, width=256, height=256, steps=8), "aiko"
            )
            project = await studio.projects.create(
                ProjectDraft(
                    name=f"Harbour {uuid.uuid4().hex[:6]}",
                    genre="drama",
                    premise="A courier brings a letter to a lighthouse keeper",
                    default_style="harbour",
                    frame_width=426,
                    frame_height=240,
                    frame_rate=12,
                ),
                "aiko",
            )
            project_id: int = project.id  # type: ignore[assignment]
            await studio.projects.save_storyline(
                project_id, StorylineDraft(title="The Letter", summary="Rin delivers a letter to Kai."), "aiko"
            )
            for draft in CAST:
                await studio.characters.create(project_id, draft, "aiko")
            await studio.autonomy.config.update(
                project_id, AutopilotChanges(enabled=True, orchestrator=True, default_target=3), "aiko"
            )
            started_at = max((j.id or 0 for j in await studio.jobs.list(JobFilter(limit=1))), default=0)

            # Training data, then a training run on the GPU: the studio stops with it there.
            await _run_until(studio, clock, project_id, lambda: _training_run(studio))
            await studio.stop()
            studio = await _started(settings, clock)

            # The LoRAs, the story, the shots, then a scene on the GPU: the studio stops again.
            await _run_until(studio, clock, project_id, lambda: _scene_job(studio))
            await studio.stop()
            studio = await _started(settings, clock)

            async def published() -> bool:
                return await _phase(studio, project_id) == "published"

            await _run_until(studio, clock, project_id, published)

            view = await studio.autonomy.orchestrator.pipeline(project_id)
            assert view.project.status == "done" and all(c.phase == "ready" for c in view.characters)
            (episode,) = await studio.episodes.list(project_id)
            assert episode.publication is not None and episode.status == "published"
            assert episode.publication["library"] == "folder" and episode.publication["verified"]
            video = Path(episode.publication["root"]) / episode.publication["episode_file"]
            assert video.is_file() and video.stat().st_size > 0
            await _assert_the_story(studio, project_id, started_at)
        finally:
            await studio.stop()


async def _assert_the_story(studio: Studio, project_id: int, started_at: int) -> None:
    async with studio.db.session() as session:
        decisions = list(
            (
                await session.exec(
                    select(AutonomyDecision)
                    .where(AutonomyDecision.project_id == project_id)
                    .order_by(col(AutonomyDecision.id))
                )
            ).all()
        )
        runs = list((await session.exec(select(TrainingRun))).all())
        jobs = list((await session.exec(select(Job).where(col(Job.id) > started_at))).all())
        reviews = list((await session.exec(select(ReviewDecision))).all())
    story = [(d.loop, d.phase, d.action, d.outcome) for d in decisions]
    acted = [(d.phase, d.action) for d in decisions if d.outcome == "acted" and d.loop == "orchestrator"]
    # Nothing launched twice: one training run per character, one generation per scene, one of each assembly.
    assert len({r.character_id for r in runs}) == len(runs) == 2
    assert [r.created_by for r in runs] == [AUTOPILOT, AUTOPILOT] and all(r.state == "succeeded" for r in runs)
    # The run the first restart interrupted went on in its own job (requeued), not in a second one.
    assert len([j for j in jobs if j.kind == "lora.train"]) == 2
    assert acted.count(("lora_training", "train")) == 2 and acted.count(("lora_training", "register")) == 2
    assert acted.count(("scene_planning", "plan")) == 1
    assert acted.count(("shot_preparation", "prepare")) == 3  # one decision per shot: its image and engine
    renders = [j for j in jobs if j.kind == SCENE_JOB]
    assert len(renders) == 3 and acted.count(("video_generation", "render")) == 3
    assert acted.count(("scene_assembly", "assemble")) == 3
    assert acted.count(("episode_assembly", "episode")) == 1 and acted.count(("episode_assembly", "assemble")) == 1
    assert acted.count(("publishing", "publish")) == 1
    # Training data came through replenishment's guards, for both characters.
    launched = [(loop, action, outcome) for loop, _phase, action, outcome in story]
    assert launched.count(("replenishment", "generate", "acted")) >= 2
    # The story in order: every phase's gate passed once, characters first.
    passed = [d.phase for d in decisions if d.action == "gate" and d.outcome == "done" and d.character_id is None]
    assert passed == [
        "scene_planning",
        "shot_preparation",
        "video_generation",
        "video_qc",
        "scene_assembly",
        "episode_assembly",
        "publishing",
        "published",
    ], passed
    first_project_act = next(i for i, d in enumerate(decisions) if d.character_id is None and d.outcome == "acted")
    last_lora = max(i for i, d in enumerate(decisions) if d.action == "register")
    assert last_lora < first_project_act  # the project waited for its characters
    assert story[-1][1] == "published" and decisions[-1].outcome == "done"
    # Nobody touched it: every job since the switch was the autopilot's (or the studio's own), every review the
    # vision model's.
    assert {j.created_by for j in jobs} <= {AUTOPILOT, "studio"}, {j.created_by for j in jobs}
    assert reviews and all(r.decider == Decider.VISION for r in reviews)
    assert all(d.actor == AUTOPILOT for d in decisions)
