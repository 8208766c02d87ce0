"""REST routes for training: a character's training set as a kohya-format download, the presets, and LoRA
training runs (start, follow, cancel, retry, samples per epoch, register an epoch)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from services.errors import NotFound
from services.training import PRESETS, TrainingOverrides, TrainingParams
from services.training.epoch_scores import EpochProposal, EpochScore, propose
from services.training.export import MAX_REPEATS
from services.training.presets import MAX_SAMPLE_PROMPTS
from services.training.runs import RunState
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.files import stored_file
from studio.api.loras import RegistrationOut
from studio.auth import Principal
from studio.ids import RowId
from studio.models import TrainingRun
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
Epoch = Annotated[int, PathParam(ge=1, le=100_000, description="The epoch number (1 = the first).")]


class PresetOut(BaseModel):
    name: str = Field(description="What `POST /api/characters/{id}/training-runs` takes as `preset`.")
    label: str
    gpu_memory_gb: int = Field(description="The GPU memory it is made for.")
    description: str = Field(description="What it trades, in one line.")
    params: TrainingParams


class RunStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str = Field(min_length=1, max_length=32, description="The device whose trainer runs it (kohya_dir set).")
    preset: str = Field(min_length=1, max_length=64, description="A preset name from GET /api/training/presets.")
    overrides: TrainingOverrides = Field(default_factory=TrainingOverrides, description="Values to change.")


class EpochScoreOut(BaseModel):
    score: float | None = Field(ge=0, le=1, description="How like the character its samples are; null: not scored.")
    scored_by: str = Field(
        description='"vision LLM <model>", "local measures", "not scored yet" or "not scored: <reason>".'
    )
    measures: dict[str, float | None] = Field(
        description="likeness, diversity (0 near copies .. 1 all different), near_copies (share of sample pairs), "
        "and shapes and colours (local) or clarity (vision)."
    )
    reasons: list[str] = Field(description="What the measures say, in words.")

    @classmethod
    def of(cls, score: EpochScore) -> EpochScoreOut:
        return cls(score=score.score, scored_by=score.scored_by, measures=score.measures, reasons=score.reasons)


class ProposalOut(BaseModel):
    epoch: int = Field(description="The epoch the studio proposes to register.")
    score: float = Field(ge=0, le=1)
    reason: str = Field(description="Why this epoch, in words (and which better-scoring epochs are overtrained).")

    @classmethod
    def of(cls, proposal: EpochProposal | None) -> ProposalOut | None:
        if proposal is None:
            return None
        return cls(epoch=proposal.epoch, score=proposal.score, reason=proposal.reason)


class EpochOut(BaseModel):
    epoch: int
    file: str = Field(description="The epoch's LoRA file in the data folder.")
    loss: float | None = Field(description="The average loss when it was saved.")
    samples: list[str] = Field(description="URLs of its sample images, one per sample prompt.")
    score: EpochScoreOut = Field(description="How its samples scored (scored in the background once it is saved).")


class RunOut(BaseModel):
    id: int
    character_id: int
    project_id: int
    device: str
    trainer: str = Field(description="What trains: kohya (sd-scripts) or comfyui.")
    preset: str
    params: dict[str, Any] = Field(description="The parameters it trains with (the preset and its overrides).")
    state: RunState
    queue_position: int | None = Field(
        description="Place among the device's queued runs (1: next); null unless queued."
    )
    job_id: int | None
    epochs_total: int
    epochs_done: int
    step: int
    steps_total: int
    speed: str = Field(description="The trainer's speed, e.g. 1.9 it/s.")
    eta_seconds: float | None
    loss: list[list[float]] = Field(description="[step, average loss] points.")
    epochs: list[EpochOut]
    proposal: ProposalOut | None = Field(description="The best epoch so far and why; null until an epoch is scored.")
    error: str | None = Field(description="Why it failed, or a note (continued after a restart, memory unknown).")
    log_path: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: TrainingRun, positions: dict[int, int]) -> RunOut:
        return cls(
            id=run.id,  # type: ignore[arg-type]
            character_id=run.character_id,
            project_id=run.project_id,
            device=run.device,
            trainer=run.trainer,
            preset=run.preset,
            params=run.params,
            state=run.state,  # type: ignore[arg-type]
            queue_position=positions.get(run.id),  # type: ignore[arg-type]
            job_id=run.job_id,
            epochs_total=run.epochs_total,
            epochs_done=run.epochs_done,
            step=run.step,
            steps_total=run.steps_total,
            speed=run.speed,
            eta_seconds=run.eta_seconds,
            loss=run.loss,
            epochs=[
                EpochOut(
                    epoch=e["epoch"],
                    file=e["file"],
                    loss=e.get("loss"),
                    samples=[_sample_url(run.id, e["epoch"], i) for i in range(len(e.get("samples") or []))],  # type: ignore[arg-type]
                    score=EpochScoreOut.of(EpochScore.of(e.get("score"))),
                )
                for e in run.epochs
            ],
            proposal=ProposalOut.of(propose(run.epochs)),
            error=run.error,
            log_path=run.log_path,
            created_by=run.created_by,
            created_at=run.created_at,
            updated_at=run.updated_at,
            finished_at=run.finished_at,
        )


class SampleOut(BaseModel):
    index: int
    prompt: str
    url: str


class EpochSamplesOut(BaseModel):
    epoch: int
    file: str
    loss: float | None
    score: EpochScoreOut
    proposed: bool = Field(description="True for the epoch the studio proposes (see the run's `proposal`).")
    samples: list[SampleOut]


class RegisterEpoch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epoch: int = Field(ge=1, le=100_000, description="The saved epoch to register.")


class EpochRegistrationOut(BaseModel):
    registration: RegistrationOut
    copied_to: str | None = Field(description="Where the file was copied (the device's LoRA folder), else null.")
    message: str = Field(description="What happened, or exactly which file to copy to which folder.")


def training_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["training"])
    export = studio.training_export

    @router.get(
        "/characters/{character_id}/training-set.zip",
        response_class=FileResponse,
        responses={200: {"content": {"application/zip": {}}}, **errors(404, 422)},
    )
    async def training_set_zip(
        character_id: RowId,
        _: Caller,
        repeats: Annotated[
            int | None,
            Query(
                ge=1, le=MAX_REPEATS, description="kohya's num_repeats; unset: the training_default_repeats setting."
            ),
        ] = None,
    ) -> FileResponse:
        """The character's approved images with their captions in kohya's layout (`<repeats>_<trigger> <class>/`
        with a same-stem `.txt` per image, and `dataset.toml`), as read by kohya sd-scripts, OneTrainer and
        ComfyUI's folder loader. 422: fewer approved images than `training_min_images` (the detail says how many
        it has and needs), an image without a caption, or a project without a default style."""
        training_set, path = await export.write_zip(character_id, repeats)
        return FileResponse(
            path,
            media_type="application/zip",
            filename=training_set.download_name,
            background=BackgroundTask(_remove, path),
        )

    runs = studio.training

    @router.get("/training/presets", response_model=list[PresetOut])
    async def training_presets(_: Caller) -> list[PresetOut]:
        """The training presets: per model family (SD 1.5, SDXL, Illustrious, Pony, NoobAI) and GPU memory
        (8/12/16/24 GB), each with what it trades."""
        return [
            PresetOut(
                name=p.name,
                label=p.label,
                gpu_memory_gb=p.gpu_memory_gb,
                description=p.description,
                params=p.params,
            )
            for p in PRESETS.values()
        ]

    @router.post(
        "/characters/{character_id}/training-runs",
        response_model=RunOut,
        status_code=201,
        responses=errors(404, 409, 422),
    )
    async def start_training_run(character_id: RowId, body: RunStart, caller: Caller) -> RunOut:
        """Export the character's training set and queue a LoRA training on the device. 404: no such character
        or device. 409: the character already has a run queued or running. 422 (naming the field): the device
        does not train (no kohya_dir), an unknown preset or bad override, too few approved images or missing
        captions, a preset of another family than the character's style, or more GPU memory than the device
        has."""
        run = await runs.start(character_id, body.device, body.preset, body.overrides, caller.name)
        return RunOut.of(run, await runs.queue_positions())

    @router.get("/training-runs", response_model=list[RunOut], responses=errors(422))
    async def list_training_runs(
        _: Caller,
        character_id: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="Only this character's.")] = None,
        state: Annotated[RunState | None, Query(description="Only runs in this state.")] = None,
    ) -> list[RunOut]:
        """Training runs, newest first; queued ones with their place in their device's queue."""
        listed = await runs.list(character_id=character_id, state=state)
        positions = await runs.queue_positions()
        return [RunOut.of(run, positions) for run in listed]

    @router.get("/training-runs/{run_id}", response_model=RunOut, responses=errors(404))
    async def get_training_run(run_id: RowId, _: Caller) -> RunOut:
        """One run: state, progress, loss curve, saved epochs with their scores, and the proposed epoch."""
        return RunOut.of(await runs.get(run_id), await runs.queue_positions())

    @router.delete("/training-runs/{run_id}", response_model=RunOut, responses=errors(404, 409))
    async def cancel_training_run(run_id: RowId, caller: Caller) -> RunOut:
        """Cancel a queued or running run (its saved epochs stay registrable). 409: it already finished."""
        return RunOut.of(await runs.cancel(run_id, caller.name), {})

    @router.post("/training-runs/{run_id}/retry", response_model=RunOut, responses=errors(404, 409, 422))
    async def retry_training_run(run_id: RowId, caller: Caller) -> RunOut:
        """Queue a failed or cancelled run again, continuing from its last saved epoch. 409: it is not failed
        or cancelled, or the character has another run going; 422: its device no longer trains."""
        return RunOut.of(await runs.retry(run_id, caller.name), await runs.queue_positions())

    @router.get("/training-runs/{run_id}/samples", response_model=list[EpochSamplesOut], responses=errors(404))
    async def training_run_samples(run_id: RowId, _: Caller) -> list[EpochSamplesOut]:
        """Each saved epoch with its score and sample images (one per sample prompt, same seeds every epoch);
        the proposed epoch is marked."""
        return [
            EpochSamplesOut(
                epoch=entry["epoch"],
                file=entry["file"],
                loss=entry["loss"],
                score=EpochScoreOut.of(entry["score"]),
                proposed=entry["proposed"],
                samples=[
                    SampleOut(index=s["index"], prompt=s["prompt"], url=_sample_url(run_id, entry["epoch"], s["index"]))
                    for s in entry["samples"]
                ],
            )
            for entry in await runs.samples(run_id)
        ]

    @router.get(
        "/training-runs/{run_id}/epochs/{epoch}/samples/{index}",
        response_class=FileResponse,
        responses={200: {"content": {"image/png": {}}}, **errors(404)},
    )
    async def training_run_sample(
        run_id: RowId,
        epoch: Epoch,
        index: Annotated[int, PathParam(ge=0, le=MAX_SAMPLE_PROMPTS - 1)],
        _: Caller,
    ) -> FileResponse:
        """One sample image of one epoch, as the trainer drew it with the epoch's LoRA."""
        entry = next((e for e in await runs.samples(run_id) if e["epoch"] == epoch), None)
        if entry is None or index >= len(entry["samples"]):
            raise NotFound(f"training run {run_id} has no sample {index} of epoch {epoch}")
        return await stored_file(
            studio.media, entry["samples"][index]["file"], "image/png", None, missing="no such sample"
        )

    @router.post(
        "/training-runs/{run_id}/register", response_model=EpochRegistrationOut, responses=errors(404, 409, 422)
    )
    async def register_training_epoch(run_id: RowId, body: RegisterEpoch, caller: Caller) -> EpochRegistrationOut:
        """Make a saved epoch the character's active LoRA: copied into the device's LoRA folder when it has one
        (and checked against its ComfyUI's list), else the message says which file to copy where. 422: the
        epoch's file is corrupt (named) or its family does not fit the character's style."""
        result = await runs.register(run_id, body.epoch, caller.name)
        return EpochRegistrationOut(
            registration=RegistrationOut.of(result.lora), copied_to=result.copied_to, message=result.message
        )

    return router


def _sample_url(run_id: int, epoch: int, index: int) -> str:
    return f"/api/training-runs/{run_id}/epochs/{epoch}/samples/{index}"


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
