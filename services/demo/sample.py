"""The sample production: a newcomer's first episode, made end to end on the embedded defaults.

Two characters, one scene of four shots with dialogue at a harbor at dusk, keyframes drawn locally (no image
model), rendered with the animatic engine, voiced with Piper and espeak-ng, scored with the mood's temp
music, assembled into episode 1 and published to the folder library. Everything goes through the same
services a person uses from the pages: the keyframes are uploaded to the characters' datasets and approved,
the shots pick them as source images, and each long step is a job on the cpu device. `python -m studio demo`
and the Projects page's "Create sample project" both run it; the page polls `SampleProduction.state`.

With a ComfyUI device ready for text-to-image (its preflight finds the nodes and the sample style's checkpoint),
the keyframes and the pending pictures are generated there with the studio's own image generation instead of
drawn; without one, or when generation fails, they are drawn and the progress and result say which.

So that the rest of the studio has something to show, the project also gets a default generation style (the
prompt preview), a few pending pictures of each character (the review station) and the scene's temp music
kept in its music library.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from services.assembly import SceneAssembly
from services.bible import Characters, GenerationStyles, Projects
from services.bible.schemas import (
    AppearanceData,
    CharacterDraft,
    ProjectChanges,
    ProjectDraft,
    StorylineDraft,
    StyleDraft,
    WorldDraft,
)
from services.comfyui import DevicePreflight
from services.datasets import DatasetStore, NewImage, ReviewDecisions, Verdict
from services.demo.drawing import Keyframe, candidate, keyframe, portrait
from services.episodes import EpisodeAssembly, EpisodeDraft, EpisodePublishing, Episodes, EpisodeSceneEntry
from services.errors import Conflict, StudioError, report_unexpected
from services.generation import ImageBatchDraft, ImageGeneration
from services.jobs import FINISHED_STATES, JobChanged, JobProgressed, JobQueue
from services.music import MusicLibrary
from services.scenes import SceneDraft, SceneGeneration, Scenes, ShotDraft
from services.toolchain import INSTALL_HINT, probe_media_tools
from services.voice import DialogueVoices, VoiceProfile
from studio.events import EventBus
from studio.models import ApprovalState, Character, Job, JobState

log = logging.getLogger(__name__)

# (fraction done, what is happening now) -> awaited; the CLI prints it, the page's state keeps it.
Progress = Callable[[float, str], Awaitable[None]]

SERIES = "Harbor Lights"
EPISODE_TITLE = "The Last Ferry"
LIBRARY = "folder"
# Small and short, so the whole production takes a minute or two on a 2-core machine without a GPU.
FRAME = (640, 360)
FPS = 24.0
SHOT_SECONDS = 3.0
KEYFRAME_SIZE = (1280, 720)  # drawn at twice the frame: the animatic's camera moves zoom into it
# Every shot's seed, so the sample renders the same everywhere; above 2^31, so a sample production on PostgreSQL
# stores a seed beyond a 32-bit column (the sample once failed there in most runs).
SAMPLE_SEED = 3_000_000_000
# Shared by every sample project (styles belong to the studio): a later sample uses the one there.
SAMPLE_STYLE = StyleDraft(
    name="Harbor Lights anime",
    checkpoint_model="animagine-xl-3.1.safetensors",
    cfg_scale=6.0,
    steps=28,
    sampler="Euler a",
    width=1344,
    height=768,
    positive_prompt_template="anime screencap, flat colour, clean dark outlines, dusk light",
    negative_prompt_template="3d render, photorealistic, watermark",
)
PENDING_PER_CHARACTER = 2  # pictures left for the review station
MOOD = "peaceful"
# Where each step starts on the progress bar (the rest of the bar is the next step's). Measured on 2 cores:
# rendering the four shots and assembling the scene take most of the time.
STEPS = {
    "project": 0.0,
    "cast": 0.02,
    "keyframes": 0.06,
    "scene": 0.14,
    "render": 0.15,
    "assemble_scene": 0.55,
    "assemble_episode": 0.82,
    "publish": 0.95,
    "done": 1.0,
}


@dataclass(frozen=True)
class CastMember:
    name: str
    design_prompt: str
    appearance: AppearanceData
    voice: VoiceProfile


@dataclass(frozen=True)
class SampleShot:
    keyframe: Keyframe
    dataset_of: str  # whose dataset the keyframe goes in (the character it shows most)
    shot_type: str
    camera_angle: str
    description: str
    motion_prompt: str
    present: tuple[str, ...]
    speaker: str
    line: str
    seconds: float = SHOT_SECONDS


CAST = (
    CastMember(
        name="Mira",
        design_prompt="1girl, copper orange hair, long hair, green eyes, star hair clip, yellow raincoat",
        appearance=AppearanceData(
            species="human",
            gender="female",
            key_colors={"hair": "copper orange", "eyes": "green", "raincoat": "yellow", "hair clip": "sky blue"},
            key_features=["long hair with side locks", "star-shaped hair clip", "yellow raincoat with a collar"],
            voice="bright, quick",
        ),
        voice=VoiceProfile(engine="espeak", espeak_voice="en-us", variant="f3", pitch=62, speed=165),
    ),
    CastMember(
        name="Jun",
        design_prompt="1boy, navy blue spiky hair, amber eyes, red scarf, grey-blue coat",
        appearance=AppearanceData(
            species="human",
            gender="male",
            key_colors={"hair": "navy blue", "eyes": "amber", "scarf": "red", "coat": "grey-blue"},
            key_features=["spiky hair", "red scarf", "calm smile"],
            voice="calm, low",
        ),
        voice=VoiceProfile(engine="piper"),
    ),
)

SHOTS = (
    SampleShot(
        keyframe="harbor_wide",
        dataset_of="Mira",
        shot_type="establishing",
        camera_angle="high",
        description="The harbor at dusk: Mira and Jun at the end of the pier, the lighthouse lit",
        motion_prompt="slow pan right across the harbor",
        present=("Mira", "Jun"),
        speaker="Mira",
        line="Look, the last ferry is coming in.",
        seconds=SHOT_SECONDS + 0.5,  # the longest line, and time to take the place in
    ),
    SampleShot(
        keyframe="jun_close",
        dataset_of="Jun",
        shot_type="close-up",
        camera_angle="eye_level",
        description="Jun smiles, the boats and the setting sun behind him",
        motion_prompt="gentle push in",
        present=("Jun",),
        speaker="Jun",
        line="Then we made it, just in time.",
    ),
    SampleShot(
        keyframe="mira_close",
        dataset_of="Mira",
        shot_type="close-up",
        camera_angle="eye_level",
        description="Mira looks out to sea, the lighthouse behind her",
        motion_prompt="slow push in",
        present=("Mira",),
        speaker="Mira",
        line="Do you think she is on board?",
    ),
    SampleShot(
        keyframe="two_shot",
        dataset_of="Jun",
        shot_type="medium",
        camera_angle="eye_level",
        description="Night falls; the ferry's lights on the water between them",
        motion_prompt="slow pull back",
        present=("Mira", "Jun"),
        speaker="Jun",
        line="There is only one way to find out.",
    ),
)


@dataclass(frozen=True)
class SampleResult:
    """What the sample production made, and where episode 1 was published."""

    project_id: int
    project_name: str
    scene_id: uuid.UUID
    episode_id: uuid.UUID
    library_root: Path
    episode_file: Path  # absolute
    seconds: float
    keyframes: str = "drawn"  # how the keyframes were made: "generated on gpu1 with ComfyUI", or drawn and why


@dataclass(frozen=True)
class SampleRun:
    """The running (or last) sample production, as a page shows it."""

    running: bool
    fraction: float = 0.0
    message: str = ""
    error: str | None = None
    result: SampleResult | None = None
    project_id: int | None = None  # known once the project exists
    started_at: float = field(default_factory=time.monotonic)


class SampleProduction:
    def __init__(
        self,
        *,
        events: EventBus,
        jobs: JobQueue,
        projects: Projects,
        characters: Characters,
        dataset_store: DatasetStore,
        decisions: ReviewDecisions,
        voices: DialogueVoices,
        scenes: Scenes,
        scene_generation: SceneGeneration,
        scene_assembly: SceneAssembly,
        episodes: Episodes,
        episode_assembly: EpisodeAssembly,
        episode_publishing: EpisodePublishing,
        styles: GenerationStyles,
        music: MusicLibrary,
        images: ImageGeneration,
        preflights: Callable[[float], Awaitable[list[DevicePreflight]]],
    ) -> None:
        self._events = events
        self._jobs = jobs
        self._projects = projects
        self._characters = characters
        self._store = dataset_store
        self._decisions = decisions
        self._voices = voices
        self._scenes = scenes
        self._generation = scene_generation
        self._scene_assembly = scene_assembly
        self._episodes = episodes
        self._episode_assembly = episode_assembly
        self._publishing = episode_publishing
        self._styles = styles
        self._music = music
        self._images = images
        self._preflights = preflights  # (max age in seconds) -> every ComfyUI device's preflight
        self._state: SampleRun | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> SampleRun | None:
        """The sample production this studio started last (None: none since it started)."""
        return self._state

    def start(self, actor: str) -> SampleRun:
        """Run the sample production in the background; `state` follows it. Conflict: one is running."""
        if self._state is not None and self._state.running:
            raise Conflict("the sample project is already being made; wait for it to finish")
        self._state = SampleRun(running=True, message="Starting")
        self._task = asyncio.create_task(self._run_in_background(actor), name="sample-production")
        return self._state

    async def _run_in_background(self, actor: str) -> None:
        try:
            result = await self.produce(actor, self._record, on_project=self._project_made)
        except asyncio.CancelledError:
            self._finish(error="the sample production was stopped (the studio is shutting down)")
            raise
        except StudioError as exc:
            self._finish(error=str(exc))
        except Exception as exc:  # a bug: say it on the page as well as in the log
            self._finish(error=report_unexpected(log, exc, "the sample production failed"))
        else:
            self._finish(result=result)

    def _project_made(self, project_id: int) -> None:
        if self._state is not None:
            self._state = replace(self._state, project_id=project_id)

    async def _record(self, fraction: float, message: str) -> None:
        if self._state is not None:
            self._state = replace(self._state, fraction=fraction, message=message)

    def _finish(self, *, error: str | None = None, result: SampleResult | None = None) -> None:
        assert self._state is not None
        message = "Episode 1 is published" if result else self._state.message
        fraction = 1.0 if result else self._state.fraction
        self._state = replace(
            self._state, running=False, error=error, result=result, message=message, fraction=fraction
        )

    async def stop(self) -> None:
        """Stop a running sample production (the studio is shutting down)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- the production ---------------------------------------------------------------------------

    async def produce(
        self, actor: str, progress: Progress, on_project: Callable[[int], None] | None = None
    ) -> SampleResult:
        """Make the sample project and publish its episode 1; returns where it went. `on_project` hears the
        new project's id as soon as it exists (a page can list it while the rest is made).

        StudioError (with the step that failed) when a step fails: a job's error, a shot that did not render,
        a missing tool (ffmpeg, espeak-ng, Piper)."""
        began = time.monotonic()
        await progress(STEPS["project"], "Checking ffmpeg")
        # Before anything is made: without ffmpeg no shot renders, and a half-made sample helps nobody.
        missing = [tool.name for tool in await probe_media_tools() if not tool.available]
        if missing:
            raise StudioError(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
        await progress(STEPS["project"], "Creating the sample project")
        project_id, name = await self._project(actor)
        if on_project is not None:
            on_project(project_id)
        await progress(STEPS["cast"], "Drawing Mira and Jun and giving them voices")
        cast = await self._cast(project_id, actor)
        sources, keyframes = await self._keyframes(cast, actor, progress)
        await progress(STEPS["scene"], "Writing scene 1: four shots with dialogue")
        scene_id = await self._scene(project_id, cast, sources, actor)

        job = await self._generation.start(scene_id, actor, seed=SAMPLE_SEED)
        finished = await self._follow(job, "Rendering the shots (animatic)", "render", "assemble_scene", progress)
        result = finished.result or {}
        if result.get("failed") or result.get("status") != "completed":
            shots = await self._scenes.shots(scene_id)
            problems = "; ".join(f"shot {s.shot_number}: {s.error_message}" for s in shots if s.error_message)
            raise StudioError(f"the shots did not all render ({problems or result.get('status')})")

        job = await self._scene_assembly.start(scene_id, actor)
        label = "Assembling the scene (voices, temp music, transitions)"
        await self._follow(job, label, "assemble_scene", "assemble_episode", progress)
        await self._music.keep_temp_bed(project_id, MOOD, actor)  # the bed the scene just used, kept

        episode = await self._episodes.create(
            project_id, EpisodeDraft(title=EPISODE_TITLE, description=_EPISODE_DESCRIPTION), actor
        )
        await self._episodes.set_scenes(episode.id, [EpisodeSceneEntry(scene_id=scene_id)], actor)
        job = await self._episode_assembly.start(episode.id, actor)
        await self._follow(job, "Assembling episode 1", "assemble_episode", "publish", progress)

        job = await self._publishing.start(episode.id, LIBRARY, actor)
        await self._follow(job, "Publishing to the folder library", "publish", "done", progress)
        published = await self._episodes.get(episode.id)
        publication: dict[str, Any] = published.publication or {}
        if not publication.get("root") or not publication.get("episode_file"):
            raise StudioError("publishing finished but the episode records no published file")
        root = Path(publication["root"])
        outcome = SampleResult(
            project_id=project_id,
            project_name=name,
            scene_id=scene_id,
            episode_id=episode.id,
            library_root=root,
            episode_file=root / publication["episode_file"],
            seconds=time.monotonic() - began,
            keyframes=keyframes,
        )
        await progress(STEPS["done"], f"Episode 1 is published: {outcome.episode_file}")
        return outcome

    async def _project(self, actor: str) -> tuple[int, str]:
        """A new project named after the series; a second sample gets "Harbor Lights 2", and so on."""
        taken = {s.project.name.lower() for s in await self._projects.list(include_archived=True)}
        number = 1
        while True:
            name = SERIES if number == 1 else f"{SERIES} {number}"
            number += 1
            if name.lower() in taken:
                continue
            draft = ProjectDraft(
                name=name,
                genre="slice of life",
                premise="Two friends wait at the harbor for the last ferry of the day.",
                description="The sample production: drawn, voiced and assembled by the studio on this machine.",
                content_rating="G",
                frame_width=FRAME[0],
                frame_height=FRAME[1],
                frame_rate=FPS,
            )
            try:
                project = await self._projects.create(draft, actor)
            except Conflict:  # made meanwhile (another tab, another process)
                continue
            assert project.id is not None
            break
        await self._projects.save_storyline(
            project.id,
            StorylineDraft(
                title=project.name,  # the series the library files it under: its own per sample
                summary="Mira and Jun meet every evening at the harbor. Tonight someone is coming home.",
                tone="warm, quiet",
                themes=["friendship", "homecoming"],
            ),
            actor,
        )
        await self._projects.save_world(
            project.id,
            WorldDraft(
                art_style="flat colour anime, clean dark outlines",
                aesthetic="dusk light, soft glows",
                color_palette={"sky": "indigo to orange", "sea": "violet", "lights": "warm yellow"},
                world_location={"harbor": "a small fishing harbor with a lighthouse"},
            ),
            actor,
        )
        style = await self._style(actor)
        await self._projects.update(project.id, ProjectChanges(default_style=style), actor)
        return project.id, project.name

    async def _style(self, actor: str) -> str:
        """The sample's generation style: made by the first sample, used by the later ones."""
        try:
            await self._styles.create(SAMPLE_STYLE, actor)
        except Conflict:  # an earlier sample made it (or someone named a style so): theirs stays as it is
            pass
        return SAMPLE_STYLE.name

    async def _cast(self, project_id: int, actor: str) -> dict[str, Character]:
        cast = {}
        for member in CAST:
            draft = CharacterDraft(
                name=member.name, design_prompt=member.design_prompt, appearance_data=member.appearance
            )
            character = await self._characters.create(project_id, draft, actor)
            assert character.id is not None
            picture = await asyncio.to_thread(portrait, member.name)
            await self._characters.add_reference(character.id, picture, f"{member.name.lower()}-portrait.png", actor)
            cast[member.name] = await self._voices.set_profile(character.id, member.voice, actor)
        return cast

    async def _keyframes(
        self, cast: dict[str, Character], actor: str, progress: Progress
    ) -> tuple[dict[Keyframe, int], str]:
        """Each shot's keyframe approved in a character's dataset, and the pending pictures: generated on a
        ready ComfyUI device, else drawn. Returns the image id by keyframe and how they were made."""
        device, why = await self._ready_device()
        if device is not None:
            try:
                return await self._generated(cast, device, actor, progress), f"generated on {device} with ComfyUI"
            except StudioError as exc:
                log.warning("the sample's keyframes could not be generated on %s, so they are drawn: %s", device, exc)
                why = f"generating them on {device} failed ({exc})"
        await progress(STEPS["keyframes"], f"Drawing the four keyframes and approving them ({why})")
        approved = await self._drawn(cast, actor)
        await self._pending(cast, actor)
        return approved, f"drawn: {why}"

    async def _ready_device(self) -> tuple[str | None, str]:
        """A ComfyUI device whose preflight can run text-to-image with the sample style's checkpoint, or None
        and why there is none."""
        preflights = await self._preflights(0.0)
        if not preflights:
            return None, "no ComfyUI device is connected"
        for preflight in preflights:
            style = next((c for c in preflight.checkpoints if c.style == SAMPLE_STYLE.name), None)
            text_to_image = {"sd15_image", "sdxl_image"} & set(preflight.ready_engines)
            if preflight.error is None and text_to_image and style is not None and style.ready:
                return preflight.device, ""
        return None, (
            f"no ComfyUI device is ready for text-to-image with {SAMPLE_STYLE.checkpoint_model} "
            "(see Status for what each lacks)"
        )

    async def _generated(
        self, cast: dict[str, Character], device: str, actor: str, progress: Progress
    ) -> dict[Keyframe, int]:
        """The keyframes and pending pictures generated on `device`; the keyframes approved. StudioError when a
        job fails."""
        label = f"Generating the four keyframes and {PENDING_PER_CHARACTER} pictures of each character on {device}"
        keyframe_jobs: dict[Keyframe, Job] = {}
        for shot in SHOTS:
            draft = ImageBatchDraft(
                count=1, seed_policy="fixed", seed=SAMPLE_SEED, pose=shot.description, device=device
            )
            [keyframe_jobs[shot.keyframe]] = await self._images.generate(cast[shot.dataset_of].id, draft, actor)  # type: ignore[arg-type]
        others = [
            job
            for character in cast.values()
            for job in await self._images.generate(
                character.id,  # type: ignore[arg-type]
                ImageBatchDraft(count=PENDING_PER_CHARACTER, device=device),
                actor,
            )
        ]
        finished = await self._follow_all([*keyframe_jobs.values(), *others], label, "keyframes", "scene", progress)
        approved: dict[Keyframe, int] = {}
        for shot in SHOTS:
            image_ids = (finished[keyframe_jobs[shot.keyframe].id].result or {}).get("image_ids") or []  # type: ignore[index]
            if not image_ids:
                raise StudioError(f"the keyframe {shot.keyframe} was generated but not kept in the dataset")
            verdict = Verdict(ApprovalState.APPROVED, reasons=("keyframe of the sample production",))
            await self._decisions.decide(image_ids[0], verdict, actor)
            approved[shot.keyframe] = image_ids[0]
        return approved

    async def _drawn(self, cast: dict[str, Character], actor: str) -> dict[Keyframe, int]:
        """Each shot's keyframe, added to a character's dataset and approved (the shots may only use approved
        images); returns the dataset image id by keyframe."""
        approved: dict[Keyframe, int] = {}
        for shot in SHOTS:
            picture = await asyncio.to_thread(keyframe, shot.keyframe, *KEYFRAME_SIZE)
            new = NewImage(
                picture,
                "upload",
                f"sample production: {shot.keyframe}.png",
                provenance={"drawn_by": "services.demo.drawing", "keyframe": shot.keyframe},
            )
            admission = await self._store.add(cast[shot.dataset_of], new, actor)
            image_id = admission.image.id
            assert image_id is not None
            if admission.image.approval_state != ApprovalState.APPROVED:
                verdict = Verdict(ApprovalState.APPROVED, reasons=("keyframe of the sample production",))
                await self._decisions.decide(image_id, verdict, actor)
            approved[shot.keyframe] = image_id
        return approved

    async def _pending(self, cast: dict[str, Character], actor: str) -> None:
        """A few pictures of each character left pending, to try the review station on."""
        for name, character in cast.items():
            for variant in range(PENDING_PER_CHARACTER):
                picture = await asyncio.to_thread(candidate, name, variant)
                new = NewImage(
                    picture,
                    "upload",
                    f"sample production: {name.lower()}-candidate-{variant + 1}.png",
                    provenance={"drawn_by": "services.demo.drawing", "candidate": variant + 1},
                )
                await self._store.add(character, new, actor)

    async def _scene(
        self, project_id: int, cast: dict[str, Character], sources: dict[Keyframe, int], actor: str
    ) -> uuid.UUID:
        scene = await self._scenes.create(
            project_id,
            SceneDraft(
                title=EPISODE_TITLE,
                description="Mira and Jun watch the last ferry come in at dusk.",
                location="the harbor",
                time_of_day="dusk",
                weather="clear",
                mood=MOOD,
                target_duration_seconds=sum(shot.seconds for shot in SHOTS),
            ),
            actor,
        )
        for shot in SHOTS:
            draft = ShotDraft(
                shot_type=shot.shot_type,  # type: ignore[arg-type]
                camera_angle=shot.camera_angle,  # type: ignore[arg-type]
                duration_seconds=shot.seconds,
                description=shot.description,
                motion_prompt=shot.motion_prompt,
                characters_present=[cast[name].id for name in shot.present],  # type: ignore[misc]
                source_image_id=sources[shot.keyframe],
                dialogue_text=shot.line,
                dialogue_character_id=cast[shot.speaker].id,
                transition_type="dissolve",
                transition_duration=0.4,
                video_engine="animatic",
            )
            await self._scenes.add_shot(scene.id, draft, actor)
        return scene.id

    async def _follow_all(
        self, jobs: list[Job], label: str, start: str, end: str, progress: Progress
    ) -> dict[int, Job]:
        """Wait for every job, the bar moving as they finish. StudioError: one did not succeed."""
        low, high = STEPS[start], STEPS[end]
        waiting = {job.id for job in jobs}
        woken = asyncio.Event()

        def changed(event: JobChanged) -> None:
            if event.job_id in waiting:
                woken.set()

        unsubscribe = self._events.subscribe(JobChanged, changed)
        finished: dict[int, Job] = {}
        try:
            while True:
                for job_id in list(waiting):
                    current = await self._jobs.get(job_id)  # type: ignore[arg-type]
                    if current.state in FINISHED_STATES:
                        finished[job_id] = current  # type: ignore[index]
                        waiting.discard(job_id)
                        if current.state != JobState.SUCCEEDED:
                            raise StudioError(current.error or f"a job was {current.state.value}")
                await progress(
                    low + (high - low) * len(finished) / len(jobs), f"{label}: {len(finished)} of {len(jobs)}"
                )
                if not waiting:
                    return finished
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await woken.wait()
                woken.clear()
        finally:
            unsubscribe()

    async def _follow(self, job: Job, label: str, start: str, end: str, progress: Progress) -> Job:
        """Wait for a job, passing its progress on within its part of the bar. StudioError: it did not succeed."""
        low, high = STEPS[start], STEPS[end]
        job_id = job.id
        assert job_id is not None
        latest: list[tuple[float, str]] = []
        woken = asyncio.Event()

        def progressed(event: JobProgressed) -> None:
            if event.job_id == job_id:
                latest.append((event.progress, event.message))
                woken.set()

        def changed(event: JobChanged) -> None:
            if event.job_id == job_id:
                woken.set()

        unsubscribe = [self._events.subscribe(JobProgressed, progressed), self._events.subscribe(JobChanged, changed)]
        await progress(low, label)
        share = 0.0
        try:
            while True:
                current = await self._jobs.get(job_id)
                if current.state in FINISHED_STATES:
                    break
                if latest:
                    fraction, message = latest[-1]
                    latest.clear()
                    # A job's own steps may restart their count; the bar only ever moves forward.
                    share = max(share, min(fraction, 1.0))
                    await progress(low + (high - low) * share, f"{label}: {message}" if message else label)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await woken.wait()
                woken.clear()
        finally:
            for stop in unsubscribe:
                stop()
        if current.state != JobState.SUCCEEDED:
            reason = current.error or f"the job was {current.state.value}"
            raise StudioError(f"{label} failed: {reason}")
        return current


_EPISODE_DESCRIPTION = (
    "The sample episode: drawn, animated, voiced, scored and published by Anime Studio on this machine."
)
