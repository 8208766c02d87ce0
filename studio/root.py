"""The composition root: one Studio object, built once from settings, that creates every service.

Pages and API routers receive their services from it; nothing else builds services, and there are
no module-level singletons.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from services.accounts import Accounts
from services.analytics import Analytics
from services.assembly import ASSEMBLY_JOB, SceneAssembly
from services.assistant import Assistant, ProductionIndex
from services.autonomy import (
    AutoCorrection,
    Autonomy,
    AutopilotConfig,
    AutopilotRunner,
    DecisionLog,
    DriftWatch,
    Learning,
    Orchestrator,
    Replenishment,
)
from services.backends import BackendMonitor
from services.bible import BibleArchives, Characters, GenerationStyles, Projects, PromptLibrary
from services.comfyui import DeviceCapabilities, DevicePreflight, StyleCheckpoint
from services.connections import Connections
from services.connections.probe import DeviceTester
from services.datasets import (
    INGEST_KINDS,
    Curation,
    DatasetBrowser,
    DatasetStore,
    Feedback,
    Ingestion,
    IngestJobHandler,
    LocalTriage,
    ReviewDecisions,
    VisionReviewJobHandler,
)
from services.demo import SampleProduction
from services.episodes import (
    EPISODE_ASSEMBLY_JOB,
    EPISODE_PUBLISH_JOB,
    EpisodeAssembly,
    EpisodePublishing,
    Episodes,
)
from services.generation import ImageGeneration, ImageJobHandler
from services.jobs import CpuJob, DeviceWorkers, JobHandlers, JobQueue
from services.media_store import MediaStore
from services.music import MusicJobHandler, MusicLibrary
from services.partial_files import sweep_partial_files
from services.preferences import Preferences
from services.prompts import ModelProfile
from services.publishing import libraries
from services.scenes import (
    FramePackGradioHandler,
    SceneGeneration,
    SceneJobHandler,
    Scenes,
    StoryPlanner,
    VideoJobHandler,
    available_engines,
    select_engine,
)
from services.settings_editor import SettingsEditor
from services.tags import CaptionWriter, TagStore
from services.tags.taggers import ComfyTaggingHandler
from services.tags.tagging import TAG_JOB, Tagging
from services.toolchain import LocalTool, probe_media_tools
from services.training import LoraRegistry, TrainingExport, TrainingRuns
from services.training.comfy_native import ComfyNativeTrainer
from services.training.kohya import KohyaTrainer
from services.training.trainers import LoraTrainers
from services.voice import DialogueVoices, VoiceJobHandler
from services.voice_samples import VOICE_INGEST_JOB, VoiceFinder, VoiceSamples, VoiceSources
from studio import __version__, migrate
from studio.audit import AuditTrail
from studio.auth import AccessPolicy, TokenService
from studio.clock import Clock, SystemClock
from studio.config import DeviceSettings, Settings
from studio.db import Database
from studio.events import EventBus, StudioStarted
from studio.models import Shot
from studio.secrets import SecretStore

log = logging.getLogger(__name__)
# How stale a device preflight may be when a shot's engine is proposed or checked (each asks /object_info).
ENGINE_CHECK_MAX_AGE = 60.0


def prepare_data_dir(settings: Settings) -> None:
    """Create the data dir, private to this user: it holds keys, the database and sessions."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o700)


@dataclass
class Studio:
    settings: Settings
    secrets: SecretStore
    clock: Clock
    db: Database
    events: EventBus
    audit: AuditTrail
    access: AccessPolicy
    tokens: TokenService
    accounts: Accounts
    preferences: Preferences
    settings_editor: SettingsEditor
    backends: BackendMonitor
    media: MediaStore
    library: PromptLibrary
    styles: GenerationStyles
    projects: Projects
    characters: Characters
    archives: BibleArchives
    jobs: JobQueue
    workers: DeviceWorkers
    connections: Connections
    device_tester: DeviceTester
    images: ImageGeneration
    capabilities: DeviceCapabilities
    datasets: DatasetBrowser
    dataset_store: DatasetStore
    curation: Curation
    decisions: ReviewDecisions
    ingestion: Ingestion
    feedback: Feedback
    scenes: Scenes
    scene_generation: SceneGeneration
    story_planner: StoryPlanner
    music: MusicLibrary
    voices: DialogueVoices
    voice_sources: VoiceSources
    voice_samples: VoiceSamples
    scene_assembly: SceneAssembly
    episodes: Episodes
    episode_assembly: EpisodeAssembly
    episode_publishing: EpisodePublishing
    demo: SampleProduction
    assistant: Assistant
    tags: TagStore
    captions: CaptionWriter
    tagging: Tagging
    training_export: TrainingExport
    loras: LoraRegistry
    training: TrainingRuns
    # Replenishment, learning, drift, auto-correction, the orchestrator and the autopilot loop running them.
    autonomy: Autonomy
    # Reports over the studio's history: quality, rankings, rejections, lineage, co-occurrence, health, drift.
    analytics: Analytics
    # Every job kind's handler; the device workers look a kind's handler up here when they run its job.
    job_handlers: JobHandlers
    # (engine, reason) the studio proposes for a shot as saved, its characters' active LoRAs included.
    engine_proposal: Callable[[Shot], Awaitable[tuple[str, str]]]
    version: str = __version__
    schema_revision: str | None = None
    media_tools: list[LocalTool] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Studio:
        """Wire every service. Reads Vault once (blocking), so call it before the event loop serves."""
        prepare_data_dir(settings)
        clock = clock or SystemClock()
        secrets = SecretStore.load(settings)
        db = Database(settings.effective_database_url, secrets.get("database_password"))
        audit = AuditTrail(db)
        events = EventBus(audit)
        media = MediaStore(settings.data_dir)
        jobs = JobQueue(db, events, clock)
        # Each domain below registers the job kinds it runs; the device workers run them.
        handlers = JobHandlers()
        backends = BackendMonitor(settings, secrets, events)
        capabilities = DeviceCapabilities(
            lambda: settings.comfyui_devices,
            # /object_info is large and slow to build on a busy server: allow more than a probe.
            timeout=max(10.0, settings.backend_timeout_seconds),
        )

        # --- the bible: projects, styles and prompts, characters and their LoRAs ---------------------------
        library = PromptLibrary(db, events, capabilities.sampler_names)
        styles = GenerationStyles(db, events, library, capabilities.sampler_names)
        projects = Projects(db, events, clock)
        loras = LoraRegistry(db, events, clock, projects, styles, library, capabilities)
        # What the character's approved and rejected images taught: the parameter cascade's first source.
        learning = Learning(settings=settings, db=db, clock=clock)
        characters = Characters(db, events, clock, media, projects, styles, library, loras.planned, learning=learning)

        # --- datasets: ingestion, curation and review, tags and captions ------------------------------------
        decisions = ReviewDecisions(db, events, clock)
        store = DatasetStore(db=db, events=events, media=media, settings=settings)
        curation = Curation(
            settings=settings,
            db=db,
            media=media,
            decisions=decisions,
            jobs=jobs,
            triage=LocalTriage(),
            profiles=library.model_profiles,
        )
        ingestion = Ingestion(settings=settings, db=db, media=media, jobs=jobs, store=store, curation=curation)
        for kind in INGEST_KINDS:
            handlers.add_cpu(IngestJobHandler(kind, ingestion))
        handlers.add_cpu(
            VisionReviewJobHandler(
                settings=settings,
                secrets=secrets,
                db=db,
                media=media,
                characters=characters,
                library=library,
                decisions=decisions,
            )
        )
        feedback = Feedback(db)
        tags = TagStore(db, events, clock)
        captions = CaptionWriter(db, tags, library.model_profiles)
        tagging = Tagging(
            settings=settings,
            secrets=secrets,
            db=db,
            media=media,
            jobs=jobs,
            characters=characters,
            tags=tags,
            profiles=library.model_profiles,
        )
        handlers.add_cpu(CpuJob(TAG_JOB, tagging.run))
        handlers.add_comfy(ComfyTaggingHandler(settings=settings, db=db, media=media, tags=tags))

        # --- image generation and LoRA training ----------------------------------------------------------
        images = ImageGeneration(
            settings=settings, db=db, clock=clock, media=media, characters=characters, jobs=jobs, feedback=feedback
        )
        handlers.add_comfy(ImageJobHandler(db=db, clock=clock, media=media, store=store, curation=curation))
        training_export = TrainingExport(settings, db, media, characters, captions)
        training = TrainingRuns(
            settings=settings,
            db=db,
            events=events,
            clock=clock,
            media=media,
            jobs=jobs,
            characters=characters,
            export=training_export,
            loras=loras,
            capabilities=capabilities,
            backends=backends,
            secrets=secrets,
        )
        kohya = KohyaTrainer(runs=training, characters=characters)
        comfy_training = ComfyNativeTrainer(runs=training, characters=characters, settings=settings)
        handlers.add_remote(LoraTrainers(kohya=kohya, comfy=comfy_training))

        # --- scenes: engines, shots and their videos, voices, music and assembly ---------------------------
        async def comfy_engines_ready() -> set[str]:
            preflights = await _preflights(capabilities, styles, library, ENGINE_CHECK_MAX_AGE)
            return available_engines(key for preflight in preflights for key in preflight.ready_engines)

        async def engines_ready() -> set[str]:
            return await comfy_engines_ready() | gradio_engines(settings.devices)

        async def engine_proposal(shot: Shot) -> tuple[str, str]:
            present = await loras.active_for(shot.characters_present)
            return select_engine(
                shot_type=shot.shot_type,
                has_characters=bool(shot.characters_present),
                has_source=shot.source_image_path is not None,
                character_loras=[present[cid].file_name for cid in shot.characters_present if cid in present],
                available=await engines_ready(),
                seconds=shot.duration_seconds,
            )

        async def propose_engine(shot: Shot) -> str:
            return (await engine_proposal(shot))[0]

        scenes = Scenes(db, events, clock, propose_engine)
        scene_generation = SceneGeneration(
            settings=settings,
            secrets=secrets,
            db=db,
            events=events,
            media=media,
            jobs=jobs,
            engines_ready=engines_ready,
            comfy_engines_ready=comfy_engines_ready,
        )
        handlers.add_cpu(SceneJobHandler(scene_generation))
        handlers.add_comfy(VideoJobHandler(media=media))
        handlers.add_remote(FramePackGradioHandler(media=media))
        voices = DialogueVoices(settings=settings, db=db, events=events, media=media, jobs=jobs)
        handlers.add_cpu(VoiceJobHandler(voices))
        # Voices found in videos and recordings, approved per character: the cloned voices' references.
        voice_samples = VoiceSamples(settings=settings, db=db, events=events, clock=clock, media=media, voices=voices)
        voice_sources = VoiceSources(
            settings=settings,
            db=db,
            events=events,
            clock=clock,
            media=media,
            jobs=jobs,
            finder=VoiceFinder(settings.data_dir / "models"),
            samples=voice_samples,
            ingestion=ingestion,
        )
        handlers.add_cpu(CpuJob(VOICE_INGEST_JOB, voice_sources.run))
        music = MusicLibrary(settings=settings, db=db, events=events, media=media, jobs=jobs, clock=clock)
        handlers.add_remote(MusicJobHandler(settings=settings, library=music))
        scene_assembly = SceneAssembly(
            settings=settings,
            db=db,
            events=events,
            clock=clock,
            media=media,
            jobs=jobs,
            scenes=scenes,
            voices=voices,
            music=music,
        )
        handlers.add_cpu(CpuJob(ASSEMBLY_JOB, scene_assembly.run))

        # --- episodes and publishing ----------------------------------------------------------------------
        episodes = Episodes(db, events, clock, jobs)
        episode_assembly = EpisodeAssembly(settings=settings, db=db, clock=clock, media=media, episodes=episodes)
        handlers.add_cpu(CpuJob(EPISODE_ASSEMBLY_JOB, episode_assembly.run))
        # Rebuilt in place when Jellyfin's connection changes in the app: publishing holds this very dict.
        publishing_libraries = libraries(settings, secrets)
        episode_publishing = EpisodePublishing(
            db=db, clock=clock, media=media, episodes=episodes, libraries=publishing_libraries
        )
        handlers.add_cpu(CpuJob(EPISODE_PUBLISH_JOB, episode_publishing.run))

        # --- autonomy: replenishment, learning, drift, auto-correction and the orchestrator ------------------
        autopilots = AutopilotConfig(db, events, clock)
        decision_log = DecisionLog(db, events, clock)
        replenishment = Replenishment(
            settings=settings, db=db, clock=clock, log=decision_log, config=autopilots, images=images
        )
        correction = AutoCorrection(
            settings=settings, db=db, clock=clock, log=decision_log, config=autopilots, images=images
        )
        drift = DriftWatch(settings=settings, db=db, events=events, clock=clock, log=decision_log, learning=learning)
        story_planner = StoryPlanner(
            settings=settings, secrets=secrets, events=events, projects=projects, characters=characters, scenes=scenes
        )
        orchestrator = Orchestrator(
            settings=settings,
            db=db,
            clock=clock,
            log=decision_log,
            config=autopilots,
            replenishment=replenishment,
            jobs=jobs,
            characters=characters,
            training=training,
            loras=loras,
            story_planner=story_planner,
            scenes=scenes,
            scene_generation=scene_generation,
            scene_assembly=scene_assembly,
            episodes=episodes,
            episode_assembly=episode_assembly,
            episode_publishing=episode_publishing,
            engine_proposal=engine_proposal,
            events=events,
        )
        autonomy = Autonomy(
            config=autopilots,
            log=decision_log,
            learning=learning,
            drift=drift,
            replenishment=replenishment,
            correction=correction,
            orchestrator=orchestrator,
            runner=AutopilotRunner(
                settings=settings,
                events=events,
                config=autopilots,
                log=decision_log,
                jobs=jobs,
                replenishment=replenishment,
                correction=correction,
                drift=drift,
                orchestrator=orchestrator,
            ),
        )

        # --- the assistant --------------------------------------------------------------------------------
        assistant = Assistant(
            settings=settings,
            secrets=secrets,
            db=db,
            events=events,
            backends=backends,
            index=ProductionIndex(settings.data_dir / "assistant" / "index"),
            projects=projects,
            scenes=scenes,
            characters=characters,
        )

        workers = DeviceWorkers(settings, jobs, handlers, events)

        def connections_applied() -> None:
            publishing_libraries.clear()
            publishing_libraries.update(libraries(settings, secrets))

        return cls(
            settings=settings,
            connections=Connections(
                settings=settings,
                secrets=secrets,
                db=db,
                events=events,
                workers=workers,
                on_applied=connections_applied,
            ),
            device_tester=DeviceTester(
                backends=backends,
                capabilities=capabilities,
                checkpoints=lambda: _style_checkpoints(styles, library),
                gradio_engines=gradio_engines,
            ),
            music=music,
            voices=voices,
            voice_sources=voice_sources,
            voice_samples=voice_samples,
            scene_assembly=scene_assembly,
            episodes=episodes,
            episode_assembly=episode_assembly,
            episode_publishing=episode_publishing,
            demo=SampleProduction(
                events=events,
                jobs=jobs,
                projects=projects,
                characters=characters,
                dataset_store=store,
                decisions=decisions,
                voices=voices,
                scenes=scenes,
                scene_generation=scene_generation,
                scene_assembly=scene_assembly,
                episodes=episodes,
                episode_assembly=episode_assembly,
                episode_publishing=episode_publishing,
                styles=styles,
                music=music,
                images=images,
                preflights=lambda max_age: _preflights(capabilities, styles, library, max_age),
            ),
            secrets=secrets,
            clock=clock,
            db=db,
            events=events,
            audit=audit,
            access=AccessPolicy.of(settings.trusted_networks, settings.trusted_proxies),
            tokens=TokenService(secrets.jwt_key(), timedelta(minutes=settings.token_ttl_minutes)),
            accounts=Accounts(db, events, clock),
            preferences=Preferences(db, events),
            settings_editor=SettingsEditor(settings, events),
            backends=backends,
            assistant=assistant,
            media=media,
            library=library,
            styles=styles,
            projects=projects,
            characters=characters,
            archives=BibleArchives(db, events, media, styles, library),
            jobs=jobs,
            workers=workers,
            images=images,
            capabilities=capabilities,
            datasets=DatasetBrowser(db),
            tags=tags,
            tagging=tagging,
            captions=captions,
            training_export=training_export,
            loras=loras,
            training=training,
            job_handlers=handlers,
            engine_proposal=engine_proposal,
            dataset_store=store,
            curation=curation,
            decisions=decisions,
            ingestion=ingestion,
            feedback=feedback,
            scenes=scenes,
            scene_generation=scene_generation,
            story_planner=story_planner,
            autonomy=autonomy,
            analytics=Analytics(settings=settings, db=db, clock=clock, learning=learning),
        )

    def migrate(self) -> None:
        """Bring the schema to the newest revision. Synchronous: run it before serving requests."""
        self.schema_revision = migrate.upgrade(self.db)

    async def start(self) -> None:
        """Seed built-in data, find the media tools, announce the start, start the device workers.

        The schema must already be migrated.
        """
        await self.connections.load()  # devices and services added in the app, before any worker starts
        await self.library.ensure_builtins()
        partial = await asyncio.to_thread(sweep_partial_files, self.settings.data_dir)
        if partial:
            log.info("removed %d file(s) an earlier run had not finished writing", partial)
        swept = await self.ingestion.sweep_staging()
        if swept:
            log.info("removed %d staged upload(s) that no job needs any more", swept)
        self.media_tools = await probe_media_tools()
        for tool in self.media_tools:
            if not tool.available:
                log.warning("%s not found: scene and episode rendering will fail until it is installed", tool.name)
        await self.events.emit(
            StudioStarted(version=self.version, database=self.db.kind, revision=self.schema_revision)
        )
        await self.music.reconcile()  # tracks whose job ended while the studio was down
        await self.scene_generation.reconcile()  # scenes likewise
        await self.training.reconcile()  # training runs likewise (a run left running continues or fails)
        await self.voice_sources.reconcile()  # voice sources likewise
        # Last: workers re-attach jobs an earlier run left running, then start taking new ones.
        self.workers.start()
        self.autonomy.runner.start()

    async def device_preflights(self, max_age: float = 30.0) -> list[DevicePreflight]:
        """What each ComfyUI device can run, with the checkpoints of every generation style checked."""
        return await _preflights(self.capabilities, self.styles, self.library, max_age)

    async def stop(self) -> None:
        await self.autonomy.runner.stop()  # no new actions while the studio stops
        await self.demo.stop()  # a sample production still running: stop it before the workers it waits on
        await self.workers.stop()
        await self.training.stop()  # scoring of saved epochs: the next start scores what it left
        await self.assistant.aclose()
        await self.db.dispose()


def gradio_engines(devices: Iterable[DeviceSettings]) -> set[str]:
    """The engines FramePack's own Gradio apps on these devices render (asked when a job runs, not probed)."""
    return {
        engine
        for device in devices
        for engine, url in (("framepack", device.framepack_url), ("framepack_f1", device.framepack_f1_url))
        if url
    }


async def _preflights(
    capabilities: DeviceCapabilities, styles: GenerationStyles, library: PromptLibrary, max_age: float
) -> list[DevicePreflight]:
    """Every ComfyUI device's preflight, judging the checkpoints the generation styles name by the model
    profiles (an SDXL engine is ready only with an SDXL checkpoint)."""
    return await capabilities.check_all(*await _style_checkpoints(styles, library), max_age)


async def _style_checkpoints(
    styles: GenerationStyles, library: PromptLibrary
) -> tuple[list[StyleCheckpoint], list[ModelProfile]]:
    """The checkpoints the generation styles name, and the model profiles that tell their families."""
    return [StyleCheckpoint.of(style) for style in await styles.list()], await library.model_profiles()
