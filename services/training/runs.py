"""LoRA training runs: a character trained on a device with a preset, queued as one job on that device.

A run's state mirrors its job's (queued, running, succeeded, failed, cancelled). The trainer that runs the job
(kohya sd-scripts on the studio's machine, or ComfyUI's own training nodes) reports through `begin`, `progress`
and `epoch_saved`; each saved epoch's LoRA file and sample images are kept in the media store under
`training/<run id>/`, where the run's dataset, trainer outputs and log also live. Each saved epoch's samples
are then scored in the background (services.training.epoch_scores), and the best epoch is proposed.
Registering an epoch makes it the character's LoRA.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.backends import BackendMonitor
from services.bible import Characters
from services.comfyui import ComfyClient, ComfyUnavailable, DeviceCapabilities, training_readiness
from services.connections.probe import is_file
from services.errors import Conflict, Invalid, NotFound
from services.jobs import FINISHED_STATES, JobChanged, JobDraft, JobQueue
from services.media_store import MediaStore
from services.tags.captions import trigger_of
from services.training.epoch_scores import EpochProposal, EpochScore, EpochScorer, propose
from services.training.export import TrainingExport
from services.training.loras import FAMILY_NAMES, LoraRegistry, Registration
from services.training.presets import (
    MEMORY_SLACK,
    PRESETS,
    TrainingOverrides,
    TrainingParams,
    TrainingPreset,
    apply_overrides,
    preferred_preset,
    presets_for,
    training_preset,
)
from services.training.safetensors_meta import read_metadata
from studio.clock import Clock
from studio.config import DeviceSettings, Settings
from studio.db import Database
from studio.events import EventBus, StudioEvent
from studio.models import Character, Job, JobPriority, JobState, TrainingRun
from studio.secrets import SecretStore

log = logging.getLogger(__name__)

TRAIN_JOB = "lora.train"
RunState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
Trainer = Literal["kohya", "comfyui"]
RUN_STATES: tuple[RunState, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATES: tuple[RunState, ...] = ("queued", "running")
TRAINING_FOLDER = "training"
# Progress reaches the database at most this often (a trainer reports every step, several per second).
PROGRESS_WRITE_SECONDS = 1.0
# The loss curve keeps at most this many points: when it grows past, every other point is dropped.
MAX_LOSS_POINTS = 2000
_GIB = 1024**3
# The four views the studio samples each epoch with when the run names no prompts: front, three-quarter, an
# expression, another outfit (what tells an overfitted LoRA from a good one).
_DEFAULT_VIEWS = (
    "solo, full body, front view, standing, simple background",
    "solo, upper body, three-quarter view, looking at viewer",
    "solo, portrait, smiling, close-up",
    "solo, cowboy shot, casual clothes, outdoors",
)
SAMPLE_NEGATIVE = "lowres, bad anatomy, bad hands, worst quality, low quality, watermark, text"


@dataclass(frozen=True, kw_only=True)
class TrainingRunChanged(StudioEvent):
    """A run was queued, started, saved an epoch, finished, failed, was cancelled, retried or continued."""

    name: ClassVar[str] = "training_run.changed"
    run_id: int
    character_id: int
    state: str
    change: str
    detail: str | None = None

    def subject(self) -> tuple[str | None, str | None]:
        return "training_run", str(self.run_id)

    def summary(self) -> str:
        text = f"{self.actor}: training run {self.run_id} {self.change}"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True, kw_only=True)
class TrainingRunProgressed(StudioEvent):
    """Live progress of a running training (not audited)."""

    name: ClassVar[str] = "training_run.progressed"
    audited: ClassVar[bool] = False
    run_id: int
    step: int
    steps_total: int
    epoch: int
    loss: float | None
    speed: str
    eta_seconds: float | None


@dataclass(frozen=True)
class EpochRegistration:
    """A registered epoch: the LoRA row, where the file was copied (None: no `loras_dir`), and what to do."""

    lora: Registration
    copied_to: str | None
    message: str


@dataclass
class _Pending:
    """Progress not yet written (see PROGRESS_WRITE_SECONDS)."""

    values: dict[str, Any] = field(default_factory=dict)
    loss: list[list[float]] = field(default_factory=list)
    written_at: float = 0.0
    # One write at a time: a reader that flushes first (an epoch being saved) waits for the write in flight,
    # which would otherwise commit the latest loss points only after that reader looked.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)


class TrainingRuns:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        events: EventBus,
        clock: Clock,
        media: MediaStore,
        jobs: JobQueue,
        characters: Characters,
        export: TrainingExport,
        loras: LoraRegistry,
        capabilities: DeviceCapabilities,
        backends: BackendMonitor,
        secrets: SecretStore | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._events = events
        self._clock = clock
        self._media = media
        self._jobs = jobs
        self._characters = characters
        self._export = export
        self._loras = loras
        self._capabilities = capabilities
        self._backends = backends
        self._pending: dict[int, _Pending] = {}
        # Without the studio's secrets, an LLM key kept in Vault is not seen (one in the settings still is).
        self._scorer = EpochScorer(settings, secrets or SecretStore(settings), media, characters)
        # Scoring runs beside the trainer; a run's epochs are read and written under its lock, so a score landing
        # while the trainer saves the next epoch loses neither.
        self._epoch_locks: dict[int, asyncio.Lock] = {}
        self._scoring: dict[int, set[asyncio.Task[None]]] = {}
        # One epoch is scored at a time: the measures share the studio's two cores with everything else, and a
        # backlog (epochs left unscored by a stop) must not flood the LLM server.
        self._score_slot = asyncio.Semaphore(1)
        events.subscribe(JobChanged, self._job_changed)

    # --- starting and steering runs ---------------------------------------------------------------------

    async def start(
        self,
        character_id: int,
        device: str,
        preset: str,
        overrides: dict[str, Any] | TrainingOverrides | None,
        actor: str,
        priority: int = JobPriority.INTERACTIVE,
    ) -> TrainingRun:
        """Export the character's training set into a new run's folder and queue its training on `device`
        (`priority`: the autopilot's runs are background work).

        NotFound: no such character or device. Invalid: the device does not train (no `kohya_dir` or it is not
        an sd-scripts folder, and no ComfyUI with the training nodes), an unknown preset or a bad override
        (named), a training-set refusal (too few approved images, missing captions, no style), a preset of
        another family than the character's style, or a preset larger than the device's GPU memory. Conflict:
        the character already has a run queued or running.
        """
        character = await self._characters.get(character_id)
        settings = self._device(device)
        trainer = await self._check_trainer(settings)
        try:
            chosen = training_preset(preset)
        except NotFound as exc:
            raise Invalid("preset", str(exc)) from exc
        params = apply_overrides(chosen.params, overrides)
        await self._refuse_second_run(character)
        training_set = await self._export.training_set(character_id, params.repeats)
        if training_set.architecture != params.family:
            fitting = [name for name, p in PRESETS.items() if p.params.family == training_set.architecture]
            raise Invalid(
                "preset",
                f"{chosen.label} trains an {FAMILY_NAMES[params.family]} LoRA, but {character.name} is drawn "
                f"with an {FAMILY_NAMES.get(training_set.architecture, training_set.architecture)} style; pick a "
                f"preset of that family ({', '.join(fitting)})",
            )
        note = await self._check_memory(settings, chosen.name, chosen.gpu_memory_gb)
        explicit = TrainingOverrides.model_validate(overrides) if isinstance(overrides, dict) else overrides
        if explicit is None or explicit.base_checkpoint is None:
            _plan, style = await self._characters.plan(character, None)
            params.base_checkpoint = style.checkpoint_model
        if trainer == "kohya":  # ComfyUI names its checkpoints as its models/checkpoints lists them
            params.base_checkpoint = str(_on_this_machine(params.base_checkpoint, settings))
        if not params.sample_prompts:
            subject = f"{training_set.trigger}, {training_set.class_tokens}".strip(", ")
            params.sample_prompts = [f"{subject}, {view}" for view in _DEFAULT_VIEWS]
        run = TrainingRun(
            character_id=character_id,
            project_id=character.project_id,
            device=settings.name,
            trainer=trainer,
            preset=chosen.name,
            params=params.model_dump(),
            state="queued",
            epochs_total=params.epochs,
            error=note,
            created_by=actor,
        )
        try:
            async with self._db.session() as session:
                session.add(run)
        except IntegrityError as exc:  # another start for the character won the race
            raise Conflict(f"{character.name} already has a training run queued or running") from exc
        run_id: int = run.id  # type: ignore[assignment]
        folder = self.run_dir(run_id)
        try:
            await self._export.write_folder(
                character_id,
                folder / "dataset",
                params.repeats,
                resolution=params.resolution,
                batch_size=params.batch_size,
            )
            await asyncio.to_thread(_write_text, folder / "sample_prompts.txt", sample_prompts_text(params))
            title = f"Train a LoRA of {character.name} ({chosen.label})"
            job = await self._queue(run_id, title, settings.name, actor, priority)
        except BaseException:
            # All or nothing: a run that never queued must not block the character's next start.
            async with self._db.session() as session:
                row = await session.get(TrainingRun, run_id)
                if row is not None:
                    await session.delete(row)
            await asyncio.to_thread(shutil.rmtree, folder, True)
            raise
        run = await self._update(run_id, job_id=job.id)
        await self._announce(actor, run, "queued", f"{chosen.label} on {settings.name}")
        return run

    async def proposed_preset(self, character_id: int, device: str) -> TrainingPreset:
        """The preset a run of the character on `device` would start with when nobody picks one: the character's
        finer family, the largest that fits the GPU memory the device's ComfyUI reports (12 GB when it reports
        none). NotFound: no such character or device. Invalid: the character has no style to tell its family, or
        no preset of its family fits the card."""
        character = await self._characters.get(character_id)
        settings = self._device(device)
        plan, _style = await self._characters.plan(character, None)
        statuses = await self._backends.current(max_age=60.0)
        status = next((s for s in statuses if s.kind == "comfyui" and s.device == settings.name), None)
        memory = None
        if status is not None and status.ok and status.gpus:
            memory = max(gpu.total_bytes for gpu in status.gpus) / _GIB
        family = presets_for(plan.architecture, plan.profile.name)
        chosen = preferred_preset(family, memory)
        if chosen is None:
            what = FAMILY_NAMES.get(plan.architecture, plan.architecture)
            card = f"; {settings.name} has {memory:.1f} GB" if memory is not None else ""
            raise Invalid("preset", f"no training preset for an {what} LoRA fits {settings.name}{card}")
        return chosen

    async def list(
        self,
        character_id: int | None = None,
        state: str | None = None,
        device: str | None = None,
        limit: int = 200,
        project_id: int | None = None,
    ) -> list[TrainingRun]:
        """Runs, newest first; `project_id` keeps the runs of that project's characters. Invalid: an unknown
        state."""
        query = select(TrainingRun).order_by(col(TrainingRun.id).desc()).limit(max(1, min(limit, 1000)))
        if character_id is not None:
            query = query.where(TrainingRun.character_id == character_id)
        if project_id is not None:
            # Through the character: its project is where the run belongs, whatever the run row recorded.
            query = query.join(Character, col(Character.id) == TrainingRun.character_id).where(
                Character.project_id == project_id
            )
        if state is not None:
            if state not in RUN_STATES:
                raise Invalid("state", f"unknown state {state!r}; states: {', '.join(RUN_STATES)}")
            query = query.where(TrainingRun.state == state)
        if device is not None:
            query = query.where(TrainingRun.device == device)
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def queue_positions(self) -> dict[int, int]:
        """Each queued run's place among the queued runs of its device (1: trains next), in the order the
        device's worker claims their jobs."""
        query = (
            select(TrainingRun.id, TrainingRun.device)
            .join(Job, col(Job.id) == TrainingRun.job_id)
            .where(TrainingRun.state == "queued", Job.state == JobState.QUEUED)
            .order_by(col(Job.priority), col(Job.id))
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        positions: dict[int, int] = {}
        counts: dict[str, int] = {}
        for run_id, device in rows:
            counts[device] = counts.get(device, 0) + 1
            positions[run_id] = counts[device]  # type: ignore[index]
        return positions

    async def get(self, run_id: int) -> TrainingRun:
        """NotFound: no such run."""
        async with self._db.session() as session:
            run = await session.get(TrainingRun, run_id)
        if run is None:
            raise NotFound(f"there is no training run {run_id}")
        return run

    async def cancel(self, run_id: int, actor: str) -> TrainingRun:
        """Cancel a queued or running run (the trainer is stopped; epochs saved so far stay registrable).
        Conflict: it already finished."""
        run = await self.get(run_id)
        if run.state not in ACTIVE_STATES:
            raise Conflict(f"training run {run_id} already {run.state}; only queued or running runs can be cancelled")
        if run.job_id is not None and await self._jobs.unfinished(run.job_id) is not None:
            await self._jobs.cancel(run.job_id, actor)  # its JobChanged marks the run cancelled
        run = await self.get(run_id)
        if run.state in ACTIVE_STATES:  # its job was gone: nothing else will end the run
            run = await self._finish(run_id, "cancelled", f"cancelled by {actor}", actor)
        return run

    async def retry(self, run_id: int, actor: str, priority: int = JobPriority.INTERACTIVE) -> TrainingRun:
        """Queue a failed or cancelled run again, continuing from its last saved epoch when it has one.

        Conflict: it is queued, running or succeeded, or the character has another run queued or running.
        Invalid: its device no longer trains. NotFound: its device is gone.
        """
        run = await self.get(run_id)
        if run.state not in ("failed", "cancelled"):
            raise Conflict(f"training run {run_id} is {run.state}; only failed or cancelled runs can be retried")
        character = await self._characters.get(run.character_id)
        await self._refuse_second_run(character)
        trainer = await self._check_trainer(self._device(run.device))
        note = f"continues from epoch {run.epochs_done}" if run.epochs_done else None
        before = {"state": run.state, "error": run.error, "finished_at": run.finished_at, "trainer": run.trainer}
        try:
            await self._update(
                run_id, state="queued", error=note, finished_at=None, speed="", eta_seconds=None, trainer=trainer
            )
        except IntegrityError as exc:
            raise Conflict(f"{character.name} already has a training run queued or running") from exc
        try:
            job = await self._queue(
                run_id, f"Train a LoRA of {character.name} (retry of run {run_id})", run.device, actor, priority
            )
        except BaseException:
            await self._update(run_id, **before)  # not queued after all: as it was
            raise
        run = await self._update(run_id, job_id=job.id)
        await self._announce(actor, run, "retried", note)
        return run

    async def samples(self, run_id: int) -> list[dict[str, Any]]:
        """Each saved epoch with its LoRA file, loss, score (an EpochScore), whether it is the proposed one, and
        sample images (prompt and media path), oldest first."""
        run = await self.get(run_id)
        prompts = list(run.params.get("sample_prompts") or [])
        proposal = propose(run.epochs)
        return [
            {
                "epoch": entry["epoch"],
                "file": entry["file"],
                "loss": entry.get("loss"),
                "score": EpochScore.of(entry.get("score")),
                "proposed": proposal is not None and proposal.epoch == entry["epoch"],
                "samples": [
                    {"index": index, "prompt": prompts[index] if index < len(prompts) else "", "file": path}
                    for index, path in enumerate(entry.get("samples") or [])
                ],
            }
            for entry in sorted(run.epochs, key=lambda e: e["epoch"])
        ]

    async def proposal(self, run_id: int) -> EpochProposal | None:
        """The epoch the studio proposes to register, with its score and why; None until an epoch is scored.
        NotFound: no such run."""
        return propose((await self.get(run_id)).epochs)

    async def scoring_settled(self, run_id: int) -> None:
        """Wait until the run's epochs saved so far are scored (or found unscorable)."""
        while pending := self._scoring.get(run_id):
            await asyncio.wait(set(pending))

    async def register(self, run_id: int, epoch: int, actor: str) -> EpochRegistration:
        """Make a saved epoch the character's active LoRA. With the device's `loras_dir` set, the file is copied
        there (as `anime-studio/<slug>-<run>-e<epoch>.safetensors`) and the device's ComfyUI is asked whether it
        lists it; otherwise the message says which file to copy to which folder of the GPU box.

        NotFound: no such run or epoch. Invalid: the epoch's file is missing or not a readable LoRA (named), or
        the run's family no longer fits the character's style.
        """
        run = await self.get(run_id)
        entry = next((e for e in run.epochs if e.get("epoch") == epoch), None)
        if entry is None:
            saved = ", ".join(str(e["epoch"]) for e in run.epochs) or "none yet"
            raise NotFound(f"training run {run_id} saved no epoch {epoch} (saved: {saved})")
        source = self._media.path_of(entry["file"])
        metadata = await asyncio.to_thread(read_metadata, source)
        character = await self._characters.get(run.character_id)
        file_name = f"anime-studio/{character.slug}-{run_id}-e{epoch}.safetensors"
        settings = next((d for d in self._settings.devices if d.name == run.device), None)
        copied_to: str | None = None
        if settings is not None and settings.loras_dir is not None:
            target = settings.loras_dir / file_name
            try:
                await asyncio.to_thread(copy_atomically, source, target)
            except OSError as exc:
                raise Invalid(
                    "loras_dir", f"could not copy {source.name} to {target} ({exc.strerror or exc}); check the folder"
                ) from exc
            copied_to = str(target)
        params = run.params
        registration = await self._loras.register(
            run.character_id,
            file_name,
            family=params.get("family", "sdxl"),
            family_label=params.get("family_label", ""),
            trigger_word=trigger_of(character),
            epoch=epoch,
            metadata=metadata,
            run_id=run_id,
            actor=actor,
        )
        message = _where_to_find(run.device, settings, source, file_name, copied_to, registration.missing_on)
        await self._announce(actor, run, "registered", f"epoch {epoch} as {file_name}")
        return EpochRegistration(lora=registration, copied_to=copied_to, message=message)

    def run_dir(self, run_id: int) -> Path:
        """The run's folder in the data folder: `dataset/`, the trainer's outputs and its log."""
        return self._settings.data_dir / TRAINING_FOLDER / str(run_id)

    # --- what a trainer calls -----------------------------------------------------------------------------

    async def begin(self, run_id: int, steps_total: int, epochs_total: int, log_path: str | Path) -> None:
        """The trainer started (or continued) the run."""
        self._pending.pop(run_id, None)
        run = await self._update(
            run_id,
            state="running",
            steps_total=steps_total,
            epochs_total=epochs_total,
            log_path=str(log_path)[:500],
            speed="",
            eta_seconds=None,
        )
        await self._announce("studio", run, "started", None)

    async def progress(
        self,
        run_id: int,
        *,
        step: int,
        steps_total: int,
        epoch: int,
        loss: float | None,
        speed: str,
        eta_seconds: float | None,
    ) -> None:
        """A step's progress: kept at once for the live view, written to the database at most once a second."""
        pending = self._pending.setdefault(run_id, _Pending())
        pending.values = {"step": step, "steps_total": steps_total, "speed": speed[:32], "eta_seconds": eta_seconds}
        if loss is not None:
            pending.loss.append([step, loss])
        await self._events.emit(
            TrainingRunProgressed(
                run_id=run_id,
                step=step,
                steps_total=steps_total,
                epoch=epoch,
                loss=loss,
                speed=speed,
                eta_seconds=eta_seconds,
            )
        )
        if time.monotonic() - pending.written_at >= PROGRESS_WRITE_SECONDS:
            await self._flush(run_id)

    async def epoch_saved(self, run_id: int, epoch: int, lora_file: Path, samples: Sequence[Path]) -> None:
        """An epoch's LoRA file and sample images: copied into the media store under `training/<run id>/epochs/`.
        Invalid: the LoRA file is missing or not a readable safetensors file."""
        await self._flush(run_id)
        await asyncio.to_thread(read_metadata, lora_file)  # a half-written or corrupt file fails here, named
        base = f"{TRAINING_FOLDER}/{run_id}/epochs/e{epoch:06d}"
        stored = f"{base}/{lora_file.name}"
        await asyncio.to_thread(copy_atomically, lora_file, self._media.path_of(stored))
        sample_paths: list[str] = []
        for sample in sorted(samples, key=lambda p: p.name):
            relative = f"{base}/samples/{sample.name}"
            await asyncio.to_thread(copy_atomically, sample, self._media.path_of(relative))
            sample_paths.append(relative)
        async with self._epoch_lock(run_id):
            run = await self.get(run_id)
            loss = run.loss[-1][1] if run.loss else None
            entry = {"epoch": epoch, "file": stored, "samples": sample_paths, "loss": loss}
            epochs = [e for e in run.epochs if e.get("epoch") != epoch] + [entry]
            epochs.sort(key=lambda e: e["epoch"])
            run = await self._update(run_id, epochs=epochs, epochs_done=max(e["epoch"] for e in epochs))
        await self._announce("studio", run, "epoch_saved", f"epoch {epoch}")
        self._score_later(run_id, run.character_id, epoch, sample_paths)

    async def resume_point(self, run_id: int) -> tuple[int, Path | None]:
        """(epochs saved so far, the last saved epoch's LoRA file) to continue a run from."""
        run = await self.get(run_id)
        if not run.epochs:
            return 0, None
        last = max(run.epochs, key=lambda e: e["epoch"])
        return int(last["epoch"]), self._media.path_of(last["file"])

    # --- scoring saved epochs ---------------------------------------------------------------------------

    def _score_later(self, run_id: int, character_id: int, epoch: int, samples: list[str]) -> None:
        """Score the epoch in a task of its own: the trainer goes on reporting while the samples are judged."""
        task = asyncio.create_task(self._score(run_id, character_id, epoch, samples), name=f"score-epoch:{run_id}")
        pending = self._scoring.setdefault(run_id, set())
        pending.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            pending.discard(finished)
            if not pending and self._scoring.get(run_id) is pending:
                del self._scoring[run_id]

        task.add_done_callback(done)

    async def _score(self, run_id: int, character_id: int, epoch: int, samples: list[str]) -> None:
        """Score one epoch and keep the score in its entry. Never raises: a failure is logged and kept as the
        epoch's "not scored" reason, and the run goes on."""
        try:
            async with self._score_slot:
                score = await self._scorer.score(character_id, samples)
        except Exception as exc:
            log.exception("scoring epoch %s of training run %s failed", epoch, run_id)
            score = EpochScore.not_scored(f"scoring failed: {exc}")
        try:
            async with self._epoch_lock(run_id):
                run = await self.get(run_id)
                epochs = [dict(e) for e in run.epochs]
                entry = next((e for e in epochs if e.get("epoch") == epoch and e.get("samples") == samples), None)
                if entry is None:
                    return  # saved again since (a retried run): that save scores its own samples
                entry["score"] = score.to_json()
                run = await self._update(run_id, epochs=epochs)
            proposal = propose(run.epochs)
            scored = f"{score.score:.2f} by {score.scored_by}" if score.score is not None else score.scored_by
            detail = f"epoch {epoch} scored {scored}" + (f"; proposes epoch {proposal.epoch}" if proposal else "")
            await self._announce("studio", run, "epoch_scored", detail)
        except Exception:
            log.exception("could not keep the score of epoch %s of training run %s", epoch, run_id)

    async def _score_unscored(self) -> None:
        """Score again the epochs whose scoring the studio's stop interrupted (their entries have no score)."""
        query = select(TrainingRun.id, TrainingRun.character_id, TrainingRun.epochs)  # not the loss curves
        async with self._db.session() as session:
            rows = list((await session.exec(query)).all())
        for run_id, character_id, epochs in rows:
            for entry in epochs:
                if "score" not in entry:
                    self._score_later(run_id, character_id, int(entry["epoch"]), list(entry.get("samples") or []))  # type: ignore[arg-type]

    async def stop(self) -> None:
        """Cancel the scoring under way (the studio stops): what it leaves unscored is scored at the next start."""
        tasks = [task for pending in self._scoring.values() for task in pending]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _epoch_lock(self, run_id: int) -> asyncio.Lock:
        return self._epoch_locks.setdefault(run_id, asyncio.Lock())

    # --- keeping runs and jobs in step --------------------------------------------------------------------

    async def reconcile(self) -> int:
        """On start, before the workers: a run whose job ended (or vanished) while the studio was down takes the
        job's end; a run whose job was running on a device that no longer trains fails (its worker is gone, so
        nothing would continue it). A running job on a device that still trains is queued again by its worker,
        and the run continues from its last saved epoch (see `_job_changed`). Returns how many runs changed."""
        query = select(TrainingRun, Job).outerjoin(Job, col(Job.id) == TrainingRun.job_id)
        query = query.where(col(TrainingRun.state).in_(ACTIVE_STATES))
        async with self._db.session() as session:
            rows = list((await session.exec(query)).all())
        changed = 0
        for run, job in rows:
            if job is None:
                await self._finish(run.id, "failed", "its job no longer exists; retry to train again", "studio")  # type: ignore[arg-type]
            elif job.state in FINISHED_STATES:
                await self._finish(run.id, job.state.value, job.error, "studio")  # type: ignore[arg-type]
            elif job.state == JobState.QUEUED and run.state == "running":
                await self._update(run.id, state="queued")  # type: ignore[arg-type]  # requeued as the studio stopped
            elif job.state == JobState.RUNNING and not self._trains(run.device):
                await self._jobs.fail(
                    job.id,  # type: ignore[arg-type]
                    f"the studio stopped while it trained, and device {run.device} no longer trains "
                    "(no kohya_dir, no ComfyUI); "
                    f"set it again and retry to continue from epoch {run.epochs_done}",
                )
            else:
                continue
            changed += 1
        await self._score_unscored()
        return changed

    async def _job_changed(self, event: JobChanged) -> None:
        if event.kind != TRAIN_JOB:
            return
        async with self._db.session() as session:
            run = (await session.exec(select(TrainingRun).where(TrainingRun.job_id == event.job_id))).first()
        if run is None:
            return
        if event.state in ("succeeded", "failed", "cancelled"):
            # A success keeps the run's note (continued after a restart, memory unknown); an end otherwise says why.
            error = run.error if event.state == "succeeded" else (event.error or event.state)
            await self._finish(run.id, event.state, error, event.actor)  # type: ignore[arg-type]
        elif event.change == "requeued":
            # The studio (or the device) stopped mid-run: the same job runs again and the trainer continues.
            note = (
                f"the studio stopped during training; continues from epoch {run.epochs_done}"
                if run.epochs_done
                else "the studio stopped during training; starts again (no epoch was saved)"
            )
            run = await self._update(run.id, state="queued", error=note, speed="", eta_seconds=None)  # type: ignore[arg-type]
            await self._announce(event.actor, run, "continued", note)
        elif event.change == "retried":
            # Retried from the Jobs page: the run goes with its job, continuing from its last saved epoch.
            note = f"continues from epoch {run.epochs_done}" if run.epochs_done else None
            try:
                run = await self._update(run.id, state="queued", error=note, finished_at=None)  # type: ignore[arg-type]
            except IntegrityError:
                log.warning(
                    "job %s retried while run %s's character trains another run: cancelled", event.job_id, run.id
                )
                await self._jobs.cancel(event.job_id, "studio")
                return
            await self._announce(event.actor, run, "retried", note)
        elif event.state == "running" and run.state == "queued":
            run = await self._update(run.id, state="running")  # type: ignore[arg-type]

    async def _finish(self, run_id: int, state: str, error: str | None, actor: str) -> TrainingRun:
        await self._flush(run_id)
        self._pending.pop(run_id, None)
        run = await self._update(run_id, state=state, error=error, finished_at=self._clock.now(), eta_seconds=None)
        await self._announce(actor, run, state, error)
        return run

    # --- helpers ------------------------------------------------------------------------------------------

    async def _flush(self, run_id: int) -> None:
        pending = self._pending.get(run_id)
        if pending is None:
            return
        async with pending.writing:
            if not pending.values and not pending.loss:
                return
            values, points = pending.values, pending.loss
            pending.values, pending.loss, pending.written_at = {}, [], time.monotonic()
            async with self._db.session() as session:
                run = await session.get(TrainingRun, run_id)
                if run is None:
                    return
                for key, value in values.items():
                    setattr(run, key, value)
                if points:
                    loss = [*run.loss, *points]
                    while len(loss) > MAX_LOSS_POINTS:
                        loss = loss[::2]
                    run.loss = loss
                session.add(run)

    async def _update(self, run_id: int, **values: Any) -> TrainingRun:
        async with self._db.session() as session:
            run = await session.get(TrainingRun, run_id)
            if run is None:
                raise NotFound(f"there is no training run {run_id}")
            for key, value in values.items():
                setattr(run, key, value)
            run.updated_at = self._clock.now()
            session.add(run)
        return run

    def _device(self, name: str) -> DeviceSettings:
        for device in self._settings.devices:
            if device.name == name:
                return device
        known = ", ".join(d.name for d in self._settings.devices) or "none yet (add one in Settings → Connections)"
        raise NotFound(f"there is no device {name!r}; devices: {known}")

    def _trains(self, name: str) -> bool:
        return any(d.name == name and trainer_of(d) is not None for d in self._settings.devices)

    async def _check_trainer(self, device: DeviceSettings) -> Trainer:
        """Which trainer `device` trains with: sd-scripts when it has `kohya_dir`, else its ComfyUI's own training
        nodes when the server has them. Invalid: neither (the message names both fixes), or a broken setting."""
        if device.kohya_dir is not None:
            await asyncio.to_thread(_check_kohya, device)  # stats a folder that may be on a share
            return "kohya"
        if device.comfyui_url is None:
            raise Invalid("device", no_trainer_message(device))
        client = ComfyClient(device.comfyui_url, timeout=self._settings.comfyui_timeout_seconds)
        try:
            readiness = training_readiness((await client.object_info()).keys())
        except ComfyUnavailable as exc:
            raise Invalid("device", f"{no_trainer_message(device)}; its ComfyUI cannot be asked: {exc}") from exc
        finally:
            await client.aclose()
        if not readiness.ready:
            raise Invalid("device", f"{no_trainer_message(device)} ({readiness.describe()})")
        return "comfyui"

    async def _queue(
        self, run_id: int, title: str, device: str, actor: str, priority: int = JobPriority.INTERACTIVE
    ) -> Job:
        """The run's training job on its device (the run's project is the job's, for the Jobs page's filter)."""
        run = await self.get(run_id)
        draft = JobDraft(
            kind=TRAIN_JOB,
            payload={"run_id": run_id},
            title=title,
            device=device,
            project_id=run.project_id,
            priority=priority,
        )
        (job,) = await self._jobs.submit([draft], actor)
        return job

    async def _refuse_second_run(self, character: Character) -> None:
        query = select(TrainingRun.id).where(
            TrainingRun.character_id == character.id, col(TrainingRun.state).in_(ACTIVE_STATES)
        )
        async with self._db.session() as session:
            other = (await session.exec(query)).first()
        if other is not None:
            raise Conflict(
                f"{character.name} already has training run {other} queued or running; wait for it or cancel it"
            )

    async def _check_memory(self, device: DeviceSettings, preset: str, needs_gb: int) -> str | None:
        """Invalid when the device's ComfyUI reports less GPU memory than the preset needs; a note when it
        cannot tell."""
        statuses = await self._backends.current(max_age=60.0)
        status = next((s for s in statuses if s.kind == "comfyui" and s.device == device.name), None)
        if status is None or not status.ok or not status.gpus:
            return (
                f"could not tell {device.name}'s GPU memory (its ComfyUI did not report it): make sure the card "
                f"has the {needs_gb} GB {preset} needs"
            )
        total = max(gpu.total_bytes for gpu in status.gpus)
        if total < needs_gb * _GIB * MEMORY_SLACK:
            fitting = [p.gpu_memory_gb for p in PRESETS.values() if p.gpu_memory_gb * _GIB * MEMORY_SLACK <= total]
            advice = f"pick a preset of {max(fitting)} GB or less" if fitting else "no preset fits this card"
            raise Invalid(
                "preset",
                f"{preset} needs {needs_gb} GB of GPU memory; {device.name} has {total / _GIB:.1f} GB: {advice}",
            )
        return None

    async def _announce(self, actor: str, run: TrainingRun, change: str, detail: str | None) -> None:
        await self._events.emit(
            TrainingRunChanged(
                actor=actor,
                run_id=run.id,  # type: ignore[arg-type]
                character_id=run.character_id,
                state=run.state,
                change=change,
                detail=detail,
            )
        )


def trainer_of(device: DeviceSettings) -> Trainer | None:
    """The trainer a device's jobs run with, by its settings alone (whether its ComfyUI has the training nodes
    is asked when a run starts): sd-scripts when it has `kohya_dir`, else its ComfyUI."""
    if device.kohya_dir is not None:
        return "kohya"
    return "comfyui" if device.comfyui_url is not None else None


def no_trainer_message(device: DeviceSettings) -> str:
    return (
        f"device {device.name} does not train LoRAs: set its kohya sd-scripts folder (kohya_dir) in Settings → "
        "Connections, or give it a ComfyUI with the training nodes (0.3.41 or newer; update its ComfyUI)"
    )


def _check_kohya(device: DeviceSettings) -> None:
    assert device.kohya_dir is not None
    if not is_file(device.kohya_dir / "train_network.py"):
        raise Invalid(
            "device",
            f"{device.kohya_dir} (kohya_dir of {device.name}) is not an sd-scripts folder: it has no "
            "train_network.py; fix it in Settings → Connections",
        )
    python = device.trainer_python
    if python is None or not is_file(python):
        raise Invalid(
            "device",
            f"{device.name}'s trainer Python {python} does not exist: set kohya_python to the Python of "
            "sd-scripts' environment in Settings → Connections",
        )


def sample_prompts_text(params: TrainingParams) -> str:
    """kohya's sample prompt file: one prompt a line with its options, each with a fixed seed so every epoch
    draws the same picture and epochs compare."""
    scale = 7 if params.family == "sd15" else 6
    lines = [
        f"{prompt} --n {SAMPLE_NEGATIVE} --w {params.resolution} --h {params.resolution} "
        f"--d {params.sample_seed + index} --l {scale} --s 28"
        for index, prompt in enumerate(params.sample_prompts)
    ]
    return "\n".join(lines) + "\n"


def _where_to_find(
    device: str,
    settings: DeviceSettings | None,
    source: Path,
    file_name: str,
    copied_to: str | None,
    missing_on: Sequence[str],
) -> str:
    """What a person still does (if anything) for ComfyUI to load a registered epoch, for each case: the file
    copied or not, the run's device with a ComfyUI that lists the file, one that does not, or none at all."""
    has_comfy = settings is not None and settings.comfyui_url is not None
    listed = has_comfy and device not in missing_on
    # Without a ComfyUI of its own, the run's device cannot load the LoRA: the boxes that generate need the file.
    elsewhere = f" ({', '.join(missing_on)})" if missing_on else ""
    if copied_to is not None:
        done = f"copied to {copied_to}; "
        if listed:
            return done + f"{device}'s ComfyUI lists it"
        if has_comfy:
            return done + (
                f"{device}'s ComfyUI does not list {file_name} yet: check that {settings.loras_dir} "  # type: ignore[union-attr]
                "is its models/loras folder"
            )
        return done + (
            f"{device} has no ComfyUI to check it, so make sure that folder is the models/loras folder of the "
            f"ComfyUI that generates{elsewhere}"
        )
    if listed:
        return f"{device}'s ComfyUI already lists {file_name}"
    if has_comfy:
        return (
            f"copy {source} to ComfyUI/models/loras/{file_name} on {device} "
            "(or set the device's LoRA folder in Settings → Connections to copy it for you)"
        )
    return (
        f"{device} has no ComfyUI: copy {source} from the trainer's machine to ComfyUI/models/loras/{file_name} "
        f"on the GPU box that generates{elsewhere}"
    )


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def copy_atomically(source: Path, target: Path) -> None:
    """Copy beside the target and rename, so a reader (ComfyUI listing its loras) never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _on_this_machine(checkpoint: str, device: DeviceSettings) -> Path | str:
    """A checkpoint named by file name (a style's) as the file sd-scripts reads: in the device's `checkpoints_dir`
    when one is set. Invalid: it is not there. Without the folder the name stays, and the job says what to set."""
    if Path(checkpoint).is_absolute() or device.checkpoints_dir is None:
        return checkpoint
    path = device.checkpoints_dir / checkpoint
    if not is_file(path):
        raise Invalid(
            "base_checkpoint",
            f"{checkpoint} is not in {device.name}'s checkpoints folder {device.checkpoints_dir}: copy it there, or "
            "give the run the checkpoint's full path",
        )
    return path
