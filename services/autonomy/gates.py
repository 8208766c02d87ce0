"""The orchestrator's gates: what the database says about each phase, read in batches.

Characters are read for many projects at once (the replenishment standing's GROUP BY queries, one query each for
active LoRAs, newest training runs and their registrations). A project's scenes, shots, episodes and jobs are read
only when its characters are ready, in a few queries per project; the assembled videos' freshness is asked only
when a gate needs it (gates are evaluated in order, up to the first that fails).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from services.assembly import SceneAssembly
from services.autonomy.replenishment import CharacterStanding, Replenishment
from services.episodes import EpisodeAssembly, EpisodePublishing
from services.jobs import FINISHED_STATES
from services.scenes.generation import DONE
from services.scenes.scenes import scene_heading
from services.training import LoraRegistry
from studio.config import Settings
from studio.db import Database
from studio.models import (
    AutonomyDecision,
    Character,
    CharacterLora,
    Episode,
    EpisodeScene,
    Job,
    Scene,
    Shot,
    TrainingRun,
)

LOOP = "orchestrator"
# A deterministic render: regenerating it gives the same video, so video QC never asks for it again.
ANIMATIC = "animatic"


@dataclass(frozen=True)
class Gate:
    """A phase's verdict and its sentence ("Koopa has 34 of 100 approved images")."""

    passed: bool
    sentence: str


# --- characters --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CharacterReading:
    """One live character as its gates see it."""

    standing: CharacterStanding
    lora: CharacterLora | None  # its active LoRA
    run: TrainingRun | None  # its newest training run
    run_registered: bool  # an epoch of that run was registered as a LoRA (still active or not)

    @property
    def character_id(self) -> int:
        return self.standing.character_id

    @property
    def project_id(self) -> int:
        return self.standing.project_id

    @property
    def name(self) -> str:
        return self.standing.name

    def gate(self, phase: str) -> Gate:
        standing = self.standing
        if phase == "training_data":
            return Gate(standing.reached, f"{self.name} has {standing.approved} of {standing.target} approved images")
        if phase == "lora_training":
            if self.lora is None:
                return Gate(False, f"{self.name} has no active LoRA")
            epoch = f" (epoch {self.lora.epoch})" if self.lora.epoch is not None else ""
            return Gate(True, f"{self.name}'s LoRA {self.lora.file_name}{epoch} is active")
        return Gate(True, f"{self.name} is ready for production")


async def read_characters(
    db: Database, replenishment: Replenishment, loras: LoraRegistry, project_ids: Sequence[int]
) -> dict[int, list[CharacterReading]]:
    """The live characters of these projects (by project, in creation order), each with what its gates read."""
    if not project_ids:
        return {}
    query = (
        select(Character.id)
        .where(col(Character.project_id).in_(list(project_ids)), col(Character.deleted_at).is_(None))
        .order_by(col(Character.id))
    )
    async with db.session() as session:
        ids = [cid for cid in (await session.exec(query)).all() if cid is not None]
    if not ids:
        return {}
    standings = await replenishment.standing(ids)
    active = await loras.active_for(ids)
    newest = select(func.max(TrainingRun.id)).where(col(TrainingRun.character_id).in_(ids))
    newest = newest.group_by(col(TrainingRun.character_id))
    async with db.session() as session:
        runs = {
            r.character_id: r for r in (await session.exec(select(TrainingRun).where(col(TrainingRun.id).in_(newest))))
        }
        run_ids = [r.id for r in runs.values()]
        registered = set(
            (await session.exec(select(CharacterLora.run_id).where(col(CharacterLora.run_id).in_(run_ids)))).all()
            if run_ids
            else []
        )
    found: dict[int, list[CharacterReading]] = defaultdict(list)
    for cid in ids:
        standing = standings.get(cid)
        if standing is None:
            continue  # deleted between the two reads
        run = runs.get(cid)
        found[standing.project_id].append(
            CharacterReading(standing, active.get(cid), run, run is not None and run.id in registered)
        )
    return found


# --- a project ---------------------------------------------------------------------------------------------


@dataclass
class ProjectReading:
    """A project whose characters are ready: its live scenes and shots, episodes, the jobs they name, and how
    often video QC regenerated each scene. Freshness of assembled videos is read on demand."""

    project_id: int
    scenes: list[Scene]
    shots: dict[uuid.UUID, list[Shot]]
    episodes: list[Episode]
    entries: dict[uuid.UUID, list[uuid.UUID]]  # episode -> its scenes in order
    running: dict[int, Job]  # the unfinished jobs among those the scenes, episodes and the state name
    ended: dict[int, Job]  # the finished ones
    qc_launches: dict[uuid.UUID, int]  # scene -> video QC regenerations since the phase was last reset
    _scene_stale: dict[uuid.UUID, list[str]] = field(default_factory=dict)
    _episode_stale: dict[uuid.UUID, list[str]] = field(default_factory=dict)

    def all_shots(self) -> list[tuple[Scene, Shot]]:
        return [(scene, shot) for scene in self.scenes for shot in self.shots.get(scene.id, [])]

    def job(self, job_id: int | None) -> Job | None:
        """The job if it is still queued or running."""
        return self.running.get(job_id) if job_id is not None else None

    def busy(self) -> tuple[Job, str] | None:
        """A job that works on the project's scenes or episodes now, and what it does: one action at a time."""
        for scene in self.scenes:
            if (job := self.job(scene.generation_job_id)) is not None and scene.generation_status == "generating":
                return job, f"renders {scene_heading(scene)}"
            if (job := self.job(scene.assembly_job_id)) is not None:
                return job, f"assembles {scene_heading(scene)}"
        for episode in self.episodes:
            if (job := self.job(episode.assembly_job_id)) is not None:
                return job, f"assembles episode {episode.episode_number}"
            if (job := self.job(episode.publish_job_id)) is not None:
                return job, f"publishes episode {episode.episode_number}"
        return None

    async def scene_stale(self, scene: Scene, assembly: SceneAssembly) -> list[str]:
        if scene.id not in self._scene_stale:
            self._scene_stale[scene.id] = await assembly.out_of_date(scene)
        return self._scene_stale[scene.id]

    async def episode_stale(self, episode: Episode, assembly: EpisodeAssembly) -> list[str]:
        if episode.id not in self._episode_stale:
            self._episode_stale[episode.id] = await assembly.out_of_date(episode.id)
        return self._episode_stale[episode.id]

    def placed(self) -> set[uuid.UUID]:
        """Scenes some live episode holds."""
        return {scene_id for episode in self.episodes for scene_id in self.entries.get(episode.id, [])}

    def playing(self) -> list[Episode]:
        """Live episodes that hold scenes (an empty one has nothing to assemble)."""
        return [e for e in self.episodes if self.entries.get(e.id)]


async def read_project(
    db: Database, project_id: int, state_job_id: int | None, reset_after: Callable[[], Awaitable[int]]
) -> ProjectReading:
    """A project's production as its gates read it; QC regenerations count after the decision `reset_after()`
    names (the newest reset of video QC or an earlier phase), asked only when the project has scenes."""
    async with db.session() as session:
        scenes = list(
            (
                await session.exec(
                    select(Scene)
                    .where(Scene.project_id == project_id, col(Scene.deleted_at).is_(None))
                    .order_by(col(Scene.scene_number), col(Scene.created_at))
                )
            ).all()
        )
    shots: dict[uuid.UUID, list[Shot]] = defaultdict(list)
    if not scenes:  # the first gate fails: nothing else is read (most projects of a busy studio wait here)
        return ProjectReading(project_id, [], shots, [], defaultdict(list), {}, {}, {})
    after = await reset_after()
    async with db.session() as session:
        if scenes:
            query = select(Shot).where(col(Shot.scene_id).in_([s.id for s in scenes])).order_by(col(Shot.shot_number))
            for shot in (await session.exec(query)).all():
                shots[shot.scene_id].append(shot)
        episodes = list(
            (
                await session.exec(
                    select(Episode)
                    .where(Episode.project_id == project_id, col(Episode.deleted_at).is_(None))
                    .order_by(col(Episode.episode_number))
                )
            ).all()
        )
        entries: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        live = {s.id for s in scenes}
        if episodes:
            query = (
                select(EpisodeScene.episode_id, EpisodeScene.scene_id)
                .where(col(EpisodeScene.episode_id).in_([e.id for e in episodes]))
                .order_by(col(EpisodeScene.position))
            )
            for episode_id, scene_id in (await session.exec(query)).all():
                if scene_id in live:
                    entries[episode_id].append(scene_id)
        named = {state_job_id} | {s.generation_job_id for s in scenes} | {s.assembly_job_id for s in scenes}
        named |= {e.assembly_job_id for e in episodes} | {e.publish_job_id for e in episodes}
        job_ids = [j for j in named if j is not None]
        jobs = list((await session.exec(select(Job).where(col(Job.id).in_(job_ids)))).all()) if job_ids else []
        qc = (
            await session.exec(
                select(AutonomyDecision.data).where(
                    AutonomyDecision.project_id == project_id,
                    AutonomyDecision.loop == LOOP,
                    AutonomyDecision.action == "qc",
                    AutonomyDecision.outcome == "acted",
                    col(AutonomyDecision.id) > after,
                )
            )
        ).all()
    launches: dict[uuid.UUID, int] = defaultdict(int)
    for data in qc:
        scene_id = _uuid((data or {}).get("scene_id"))
        if scene_id is not None:
            launches[scene_id] += 1
    return ProjectReading(
        project_id=project_id,
        scenes=scenes,
        shots=shots,
        episodes=episodes,
        entries=entries,
        running={j.id: j for j in jobs if j.state not in FINISHED_STATES and j.id is not None},
        ended={j.id: j for j in jobs if j.state in FINISHED_STATES and j.id is not None},
        qc_launches=launches,
    )


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- the project's gates ---------------------------------------------------------------------------------


def needs_source(shot: Shot) -> bool:
    """A shot that shows characters starts from an approved image of them (identity comes from the picture)."""
    return bool(shot.characters_present) and shot.source_image_id is None


def has_video(shot: Shot) -> bool:
    return shot.status in DONE and bool(shot.output_video_path)


def below_qc(shot: Shot, settings: Settings) -> bool:
    """A kept video scoring under the QC bar that a new render could improve (an animatic renders the same)."""
    return (
        has_video(shot)
        and shot.quality_score is not None
        and shot.quality_score < settings.qc_min_score
        and shot.video_engine != ANIMATIC
    )


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class ProjectGates:
    """The project phases' gates over one reading (pure reads; assembled videos' freshness asked lazily)."""

    def __init__(
        self,
        reading: ProjectReading,
        settings: Settings,
        scene_assembly: SceneAssembly,
        episode_assembly: EpisodeAssembly,
    ) -> None:
        self.reading = reading
        self._settings = settings
        self._scene_assembly = scene_assembly
        self._episode_assembly = episode_assembly

    async def gate(self, phase: str) -> Gate:
        return await getattr(self, phase)()

    async def scene_planning(self) -> Gate:
        scenes = self.reading.scenes
        if not scenes:
            return Gate(False, "the project has no scenes yet")
        shots = len(self.reading.all_shots())
        return Gate(True, f"{_count(len(scenes), 'scene')} with {_count(shots, 'shot')} planned")

    async def shot_preparation(self) -> Gate:
        empty = [scene_heading(s) for s in self.reading.scenes if not self.reading.shots.get(s.id)]
        if empty:
            return Gate(False, f"{', '.join(empty)} {'has' if len(empty) == 1 else 'have'} no shots")
        showing = [shot for _, shot in self.reading.all_shots() if shot.characters_present]
        missing = [shot for shot in showing if needs_source(shot)]
        if missing:
            return Gate(False, f"{len(missing)} of {_count(len(showing), 'shot')} with characters have no source image")
        if not showing:
            return Gate(True, "no shot shows characters, so none needs a source image")
        return Gate(True, f"every shot with characters has a source image ({_count(len(showing), 'shot')})")

    async def video_generation(self) -> Gate:
        shots = self.reading.all_shots()
        lacking = [(scene, shot) for scene, shot in shots if not has_video(shot)]
        if lacking:
            first = scene_heading(lacking[0][0])
            return Gate(False, f"{len(lacking)} of {_count(len(shots), 'shot')} have no video yet (first in {first})")
        return Gate(True, f"every shot has a video ({_count(len(shots), 'shot')})")

    def qc_candidates(self) -> tuple[list[tuple[Scene, Shot]], list[tuple[Scene, Shot]]]:
        """(shots below the QC bar whose scene may still be regenerated, worst first; those accepted because
        their scene's QC attempts ran out)."""
        below = [(scene, shot) for scene, shot in self.reading.all_shots() if below_qc(shot, self._settings)]
        below.sort(key=lambda pair: pair[1].quality_score or 0.0)
        cap = self._settings.qc_max_attempts
        open_ = [(s, shot) for s, shot in below if self.reading.qc_launches.get(s.id, 0) < cap]
        accepted = [(s, shot) for s, shot in below if self.reading.qc_launches.get(s.id, 0) >= cap]
        return open_, accepted

    async def video_qc(self) -> Gate:
        bar = self._settings.qc_min_score
        open_, accepted = self.qc_candidates()
        if open_:
            scene, shot = open_[0]
            return Gate(
                False,
                f"shot {shot.shot_number} of {scene_heading(scene)} scores {shot.quality_score:.2f}, below {bar:.2f}"
                + (f" ({len(open_) - 1} more below)" if len(open_) > 1 else ""),
            )
        sentence = f"every shot scores at least {bar:.2f}"
        if accepted:
            sentence = f"every shot scores at least {bar:.2f} or was accepted after {self._settings.qc_max_attempts} "
            sentence += (
                "QC attempts ("
                + ", ".join(
                    f"shot {shot.shot_number} of {scene_heading(scene)}: {shot.quality_score:.2f}"
                    for scene, shot in accepted
                )
                + ")"
            )
        return Gate(True, sentence)

    async def unassembled(self) -> list[tuple[Scene, str]]:
        """Scenes whose assembled video is missing or out of date, with why."""
        found = []
        for scene in self.reading.scenes:
            if not scene.final_video_path:
                found.append((scene, f"{scene_heading(scene)} is not assembled"))
            elif stale := await self.reading.scene_stale(scene, self._scene_assembly):
                found.append((scene, f"{scene_heading(scene)} is out of date: {stale[0]}"))
        return found

    async def scene_assembly(self) -> Gate:
        outstanding = await self.unassembled()
        if outstanding:
            more = f" ({len(outstanding) - 1} more)" if len(outstanding) > 1 else ""
            return Gate(False, outstanding[0][1] + more)
        return Gate(True, f"every scene is assembled ({_count(len(self.reading.scenes), 'scene')})")

    def unplaced(self) -> list[Scene]:
        placed = self.reading.placed()
        return [s for s in self.reading.scenes if s.id not in placed]

    async def unassembled_episodes(self) -> list[tuple[Episode, str]]:
        found = []
        for episode in self.reading.playing():
            if not episode.final_video_path:
                found.append((episode, f"episode {episode.episode_number} is not assembled"))
            elif stale := await self.reading.episode_stale(episode, self._episode_assembly):
                found.append((episode, f"episode {episode.episode_number} is out of date: {stale[0]}"))
        return found

    async def episode_assembly(self) -> Gate:
        unplaced = self.unplaced()
        if unplaced:
            return Gate(False, f"no episode holds {', '.join(scene_heading(s) for s in unplaced)}")
        outstanding = await self.unassembled_episodes()
        if outstanding:
            return Gate(False, outstanding[0][1])
        episodes = self.reading.playing()
        return Gate(True, f"{_episodes(episodes)} assembled from every scene")

    def unpublished(self) -> list[tuple[Episode, str]]:
        found = []
        for episode in self.reading.playing():
            if episode.publication is None:
                found.append((episode, f"episode {episode.episode_number} is not published"))
            elif stale := EpisodePublishing.out_of_date(episode):
                found.append((episode, f"episode {episode.episode_number}: {stale}"))
        return found

    async def publishing(self) -> Gate:
        outstanding = self.unpublished()
        if outstanding:
            return Gate(False, outstanding[0][1])
        return Gate(True, f"{_episodes(self.reading.playing())} published")

    async def published(self) -> Gate:
        return Gate(True, f"{_episodes(self.reading.playing())} published")


def _episodes(episodes: list[Episode]) -> str:
    numbers = [str(e.episode_number) for e in episodes]
    if len(numbers) == 1:
        return f"episode {numbers[0]} is"
    return f"episodes {', '.join(numbers)} are"
