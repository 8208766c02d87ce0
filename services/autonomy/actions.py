"""The orchestrator's actions: for an entity in a phase whose gate failed, the next thing to do through the
studio's own services, or why nothing can be done now.

Each action first looks for work already under way (a training run, a scene rendering, an assembly, read from
the database), so a restart, or a person who started the same thing by hand, never makes it run twice. Every
job the autopilot starts is background work by `AUTOPILOT`. A service's refusal (Invalid, Conflict,
BackendUnavailable...) is raised to the orchestrator, which logs it and pauses the project.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from services.assembly import SceneAssembly
from services.autonomy.gates import CharacterReading, ProjectGates, has_video, needs_source
from services.autonomy.log import AUTOPILOT, DecisionLog
from services.episodes import EpisodeAssembly, EpisodeDraft, EpisodePublishing, Episodes, EpisodeSceneEntry
from services.scenes import SceneGeneration, Scenes, ShotChanges, StoryPlanner
from services.scenes.scenes import scene_heading
from services.training import TrainingRuns
from services.training.epoch_scores import NOT_YET, EpochScore, propose
from services.training.runs import ACTIVE_STATES, trainer_of
from studio.clock import Clock
from studio.config import Settings
from studio.db import Database
from studio.models import ApprovalState, DatasetImage, JobPriority, PipelineState, Shot

LOOP = "orchestrator"
BACKGROUND = JobPriority.BACKGROUND
# The same action for the same thing (a scene, an episode, a training) launched this often without its gate
# passing needs a person: the earlier orchestrator retried forever.
MAX_LAUNCHES = 3
# A failed training is retried after this long (the earlier system's 30-minute LoRA retry cooldown).
TRAINING_RETRY_MINUTES = 30
# How many scenes the story planner is asked for (its page's default).
SCENES_WANTED = (3, 8)
# What each phase's action is called in the decision log.
ACTIONS = {
    "training_data": "generate",
    "lora_training": "train",
    "scene_planning": "plan",
    "shot_preparation": "prepare",
    "video_generation": "render",
    "video_qc": "qc",
    "scene_assembly": "assemble",
    "episode_assembly": "episode",
    "publishing": "publish",
}
EngineProposal = Callable[[Shot], Awaitable[tuple[str, str]]]


@dataclass(frozen=True)
class Step:
    """What an action did or why it did nothing: the entity's status and its sentence for the page and the log."""

    status: str  # acting | waiting | blocked | failed | done
    detail: str
    action: str = "gate"
    acted: bool = False  # it launched or changed something now (logged as "acted")
    job_id: int | None = None
    subject: str | None = None  # what it acted on ("scene:<id>"), whose launches count towards MAX_LAUNCHES
    attempts: int | None = None  # the attempt count to keep, when the action counts its own (video QC)
    logged: bool = False  # its decisions are in the log already (per shot, or the replenishment's)
    image_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def launches(state: PipelineState | None, phase: str, subject: str) -> int:
    """How often the current phase's action was launched for `subject` (since the phase was last reset)."""
    if state is None or state.phase != phase or state.subject != subject:
        return 0
    return state.attempts


def _gave_up(what: str, count: int, why: str) -> Step:
    return Step(
        "blocked",
        f"{what} was tried {count} times and still does not pass ({why}): fix it and reset this phase, or skip it",
    )


class Actions:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        log: DecisionLog,
        training: TrainingRuns,
        story_planner: StoryPlanner,
        scenes: Scenes,
        scene_generation: SceneGeneration,
        scene_assembly: SceneAssembly,
        episodes: Episodes,
        episode_assembly: EpisodeAssembly,
        episode_publishing: EpisodePublishing,
        engine_proposal: EngineProposal,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._log = log
        self._training = training
        self._story_planner = story_planner
        self._scenes = scenes
        self._scene_generation = scene_generation
        self._scene_assembly = scene_assembly
        self._episodes = episodes
        self._episode_assembly = episode_assembly
        self._episode_publishing = episode_publishing
        self._engine_proposal = engine_proposal

    # --- a character's LoRA ------------------------------------------------------------------------------

    async def lora_training(self, character: CharacterReading, state: PipelineState | None) -> Step:
        name, run = character.name, character.run
        needed = self._settings.training_min_images
        if character.standing.approved < needed:
            return Step(
                "blocked",
                f"{name} has {character.standing.approved} approved images and a training needs at least {needed}: "
                f"raise {name}'s target to {needed}, or lower training_min_images",
            )
        if run is not None and run.state in ACTIVE_STATES:
            epochs = f" (epoch {run.epochs_done} of {run.epochs_total})" if run.state == "running" else ""
            return Step("acting", f"training run {run.id} is {run.state}{epochs}", job_id=run.job_id)
        if run is not None and run.state == "succeeded":
            return await self._register(character, run.id)  # type: ignore[arg-type]
        if run is not None and run.state == "cancelled":
            return Step(
                "blocked",
                f"training run {run.id} of {name} was cancelled: start one on the Training page, or mark this phase "
                "complete",
            )
        tries = launches(state, "lora_training", "training")
        if run is not None and run.state == "failed":
            error = run.error or "no reason given"
            if tries >= MAX_LAUNCHES:
                return _gave_up(f"training {name}", tries, f"run {run.id}: {error}")
            again = (run.finished_at or self._clock.now()) + timedelta(minutes=TRAINING_RETRY_MINUTES)
            if again > self._clock.now():
                return Step("waiting", f"training run {run.id} failed ({error}); trying again at {again:%H:%M} UTC")
            run = await self._training.retry(run.id, AUTOPILOT, BACKGROUND)  # type: ignore[arg-type]
            return Step(
                "acting",
                f"training run {run.id} of {name} queued again (attempt {tries + 1} of {MAX_LAUNCHES}): it had "
                f"failed ({error})",
                action="train",
                acted=True,
                job_id=run.job_id,
                subject="training",
            )
        device = next((d for d in self._settings.devices if trainer_of(d) is not None), None)
        if device is None:
            return Step(
                "blocked",
                "no device trains LoRAs: add a GPU box with ComfyUI 0.3.41 or newer, or set a "
                "device's kohya sd-scripts folder, in Settings → Connections",
            )
        preset = await self._training.proposed_preset(character.character_id, device.name)
        run = await self._training.start(character.character_id, device.name, preset.name, None, AUTOPILOT, BACKGROUND)
        return Step(
            "acting",
            f"training run {run.id} of {name} queued on {device.name} ({preset.label}, {trainer_of(device)}), "
            f"from {character.standing.approved} approved images",
            action="train",
            acted=True,
            job_id=run.job_id,
            subject="training",
            data={"run_id": run.id, "preset": preset.name, "device": device.name},
        )

    async def _register(self, character: CharacterReading, run_id: int) -> Step:
        """A finished run: wait for its epochs' scores, then make the proposed epoch the character's LoRA."""
        name = character.name
        if character.run_registered:
            # Registered earlier and no longer active: a person retired it, and training again would undo that.
            return Step(
                "blocked",
                f"the LoRA of training run {run_id} was registered and then retired: activate a LoRA of {name} on "
                "the Training page, or mark this phase complete",
            )
        run = await self._training.get(run_id)
        scores = [EpochScore.of(entry.get("score")) for entry in run.epochs]
        if any(score.scored_by == NOT_YET for score in scores):
            return Step("acting", f"training run {run_id} finished; scoring its {len(scores)} epochs")
        proposal = propose(run.epochs)
        if proposal is None:
            why = next((s.scored_by for s in scores if s.score is None), "it saved no epoch")
            return Step(
                "blocked",
                f"training run {run_id} of {name} has no epoch the studio could score ({why}): register one on the "
                "Training page, or mark this phase complete",
            )
        registered = await self._training.register(run_id, proposal.epoch, AUTOPILOT)
        return Step(
            "acting",
            f"registered epoch {proposal.epoch} of training run {run_id} as {name}'s LoRA: {proposal.reason}; "
            f"{registered.message}",
            action="register",
            acted=True,
            data={"run_id": run_id, "epoch": proposal.epoch, "score": proposal.score},
        )

    # --- the project ----------------------------------------------------------------------------------------

    async def scene_planning(self, project_id: int) -> Step:
        plan = await self._story_planner.preview(project_id, SCENES_WANTED)
        scenes = await self._story_planner.apply(project_id, plan, replace=False, actor=AUTOPILOT)
        shots = [shot for scene in plan.scenes for shot in scene.shots]
        showing = sum(1 for shot in shots if shot.characters)
        return Step(
            "acting",
            f"planned {len(scenes)} scenes with {len(shots)} shots from the story ({showing} show characters)",
            action="plan",
            acted=True,
            data={"scenes": [str(s.id) for s in scenes]},
        )

    async def shot_preparation(self, gates: ProjectGates) -> Step:
        """Each shot that shows characters gets an approved image of them as its first frame (the best scored,
        one not used by another shot of its scene while there are enough), and the engine proposed for it."""
        reading = gates.reading
        empty = [scene_heading(s) for s in reading.scenes if not reading.shots.get(s.id)]
        if empty:
            return Step(
                "blocked",
                f"{', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no shots: add shots or delete the scene",
            )
        pending = [(scene, shot) for scene, shot in reading.all_shots() if needs_source(shot)]
        pictures = await self._best_images({c for _, shot in pending for c in shot.characters_present}, len(pending))
        used: dict[uuid.UUID, set[int]] = {
            scene.id: {s.source_image_id for s in reading.shots.get(scene.id, []) if s.source_image_id}
            for scene in reading.scenes
        }
        prepared, lacking = 0, []
        for scene, shot in pending:
            image = _pick(shot, pictures, used[scene.id])
            if image is None:
                lacking.append(f"shot {shot.shot_number} of {scene_heading(scene)}")
                continue
            used[scene.id].add(image.id)  # type: ignore[arg-type]
            engine, why = await self._engine_proposal(
                shot.model_copy(
                    update={"source_image_id": image.id, "source_image_path": image.file_path, "video_engine": None}
                )
            )
            await self._scenes.update_shot(
                shot.id,
                ShotChanges(source_image_id=image.id, video_engine=engine),
                AUTOPILOT,  # type: ignore[arg-type]
            )
            prepared += 1
            score = f" (score {image.quality_score:.2f})" if image.quality_score is not None else ""
            await self._log.record(
                loop=LOOP,
                action="prepare",
                outcome="acted",
                reason=f"shot {shot.shot_number} of {scene_heading(scene)} starts from image {image.id}{score}; "
                f"engine {why}",
                project_id=reading.project_id,
                phase="shot_preparation",
                image_id=image.id,
                data={"scene_id": str(scene.id), "shot_id": str(shot.id), "engine": engine},
            )
        if lacking:
            return Step(
                "blocked",
                f"no approved image of the characters of {', '.join(lacking)}: approve one, or set a source by hand",
                logged=prepared == 0,
            )
        return Step("acting", f"prepared {prepared} shots", action="prepare", acted=True, logged=True)

    async def _best_images(self, character_ids: set[int], shots: int) -> dict[int, list[DatasetImage]]:
        """Each character's best-scored approved images, enough for every shot to get its own."""
        found: dict[int, list[DatasetImage]] = {}
        async with self._db.session() as session:
            for character_id in sorted(character_ids):
                query = (
                    select(DatasetImage)
                    .where(
                        DatasetImage.character_id == character_id,
                        DatasetImage.approval_state == ApprovalState.APPROVED,
                    )
                    .order_by(col(DatasetImage.quality_score).desc().nulls_last(), col(DatasetImage.id))
                    .limit(shots + 1)
                )
                found[character_id] = list((await session.exec(query)).all())
        return found

    async def video_generation(self, gates: ProjectGates, state: PipelineState | None) -> Step:
        """Render the next scene that lacks videos (only its shots without one): one scene at a time, so the
        GPU is never flooded (the earlier orchestrator started them all at once)."""
        reading = gates.reading
        for scene in reading.scenes:
            shots = reading.shots.get(scene.id, [])
            missing = [shot for shot in shots if not has_video(shot)]
            if not missing:
                continue
            subject = f"scene:{scene.id}"
            tries = launches(state, "video_generation", subject)
            if tries >= MAX_LAUNCHES:
                errors = "; ".join(f"shot {s.shot_number}: {s.error_message}" for s in missing if s.error_message)
                return _gave_up(f"rendering {scene_heading(scene)}", tries, errors or _ended(reading, state))
            wanted = [shot.id for shot in missing] if len(missing) < len(shots) else None
            job = await self._scene_generation.start(scene.id, AUTOPILOT, shot_ids=wanted, priority=BACKGROUND)
            return Step(
                "acting",
                f"job {job.id} renders {scene_heading(scene)} ({_shots(len(missing))})",
                action="render",
                acted=True,
                job_id=job.id,
                subject=subject,
                data={"scene_id": str(scene.id)},
            )
        return Step("waiting", "every shot has a video")

    async def video_qc(self, gates: ProjectGates) -> Step:
        """Render the worst shot below the QC bar again; each scene at most `qc_max_attempts` times (the earlier
        orchestrator had no cap and regenerated forever)."""
        open_, _accepted = gates.qc_candidates()
        if not open_:
            return Step("waiting", "no shot is below the QC bar")
        scene, shot = open_[0]
        attempt = gates.reading.qc_launches.get(scene.id, 0) + 1
        job = await self._scene_generation.start(scene.id, AUTOPILOT, shot_ids=[shot.id], priority=BACKGROUND)
        cap, bar = self._settings.qc_max_attempts, self._settings.qc_min_score
        return Step(
            "acting",
            f"shot {shot.shot_number} of {scene_heading(scene)} scores {shot.quality_score:.2f}, below {bar:.2f}: "
            f"job {job.id} renders it again (QC attempt {attempt} of {cap})",
            action="qc",
            acted=True,
            job_id=job.id,
            subject=f"scene:{scene.id}",
            attempts=attempt,
            data={"scene_id": str(scene.id), "shot_id": str(shot.id), "score": shot.quality_score},
        )

    async def scene_assembly(self, gates: ProjectGates, state: PipelineState | None) -> Step:
        outstanding = await gates.unassembled()
        if not outstanding:
            return Step("waiting", "every scene is assembled")
        scene, why = outstanding[0]
        subject = f"assembly:{scene.id}"
        tries = launches(state, "scene_assembly", subject)
        if tries >= MAX_LAUNCHES:
            return _gave_up(f"assembling {scene_heading(scene)}", tries, _ended(gates.reading, state))
        job = await self._scene_assembly.start(scene.id, AUTOPILOT, priority=BACKGROUND)
        return Step(
            "acting",
            f"job {job.id} assembles {scene_heading(scene)} ({why})",
            action="assemble",
            acted=True,
            job_id=job.id,
            subject=subject,
            data={"scene_id": str(scene.id)},
        )

    async def episode_assembly(self, gates: ProjectGates, state: PipelineState | None) -> Step:
        """Put every scene in an episode (the earlier orchestrator never made one, so its projects stalled
        here), then assemble the episodes that are not assembled or out of date."""
        reading = gates.reading
        unplaced = gates.unplaced()
        if unplaced:
            # An empty episode (a start cut short between creating it and filling it) is filled, not doubled.
            episode = next((e for e in reading.episodes if not reading.entries.get(e.id) and not e.publication), None)
            created = episode is None
            if episode is None:
                episode = await self._episodes.create(reading.project_id, EpisodeDraft(), AUTOPILOT)
            await self._episodes.set_scenes(episode.id, [EpisodeSceneEntry(scene_id=s.id) for s in unplaced], AUTOPILOT)
            made = "created" if created else "filled"
            return Step(
                "acting",
                f"episode {episode.episode_number} {made} with {', '.join(scene_heading(s) for s in unplaced)}",
                action="episode",
                acted=True,
                data={"episode_id": str(episode.id)},
            )
        outstanding = await gates.unassembled_episodes()
        if not outstanding:
            return Step("waiting", "every episode is assembled")
        episode, why = outstanding[0]
        subject = f"episode:{episode.id}"
        tries = launches(state, "episode_assembly", subject)
        if tries >= MAX_LAUNCHES:
            return _gave_up(f"assembling episode {episode.episode_number}", tries, _ended(reading, state))
        job = await self._episode_assembly.start(episode.id, AUTOPILOT, priority=BACKGROUND)
        return Step(
            "acting",
            f"job {job.id} assembles episode {episode.episode_number} ({why})",
            action="assemble",
            acted=True,
            job_id=job.id,
            subject=subject,
            data={"episode_id": str(episode.id)},
        )

    async def publishing(self, gates: ProjectGates, state: PipelineState | None) -> Step:
        """Publish to Jellyfin when it is set up, else to the folder library."""
        outstanding = gates.unpublished()
        if not outstanding:
            return Step("waiting", "every episode is published")
        episode, why = outstanding[0]
        subject = f"publish:{episode.id}"
        tries = launches(state, "publishing", subject)
        if tries >= MAX_LAUNCHES:
            return _gave_up(f"publishing episode {episode.episode_number}", tries, _ended(gates.reading, state))
        libraries = {library.kind: library for library in self._episode_publishing.libraries()}
        library = libraries.get("jellyfin") or libraries["folder"]
        job = await self._episode_publishing.start(episode.id, library.kind, AUTOPILOT, priority=BACKGROUND)
        return Step(
            "acting",
            f"job {job.id} publishes episode {episode.episode_number} to the {library.label} ({why})",
            action="publish",
            acted=True,
            job_id=job.id,
            subject=subject,
            data={"episode_id": str(episode.id), "library": library.kind},
        )


def _pick(shot: Shot, pictures: dict[int, list[DatasetImage]], used: set[int]) -> DatasetImage | None:
    """The shot's source: the best image of its first-listed character (the one it is about) not used in its
    scene yet, then of the others; an image already used when every one is."""
    ranked = [image for cid in shot.characters_present for image in pictures.get(cid, [])]
    return next((image for image in ranked if image.id not in used), ranked[0] if ranked else None)


def _shots(count: int) -> str:
    return "1 shot" if count == 1 else f"{count} shots"


def _ended(reading: Any, state: PipelineState | None) -> str:
    """How the last launched job ended, for a sentence."""
    job = reading.ended.get(state.job_id) if state is not None and state.job_id is not None else None
    if job is None:
        return "its last job left no error"
    return f"job {job.id} {job.state.value}: {job.error}" if job.error else f"job {job.id} {job.state.value}"


def blocked_by(waiting: list[tuple[str, str, str]]) -> str:
    """The sentence of a project waiting for its characters: (name, phase label, its gate sentence) each."""
    return "waiting for its characters: " + "; ".join(f"{name} ({label}: {gate})" for name, label, gate in waiting)
