"""One attempt at one shot's video on a ComfyUI device: upload the source image, build the engine's graph,
store the video the graph wrote.

The payload is the complete recipe (engine, prompts, seed, steps, length, size, source image), so a job can
run on any ComfyUI device, survive a restart and be repeated exactly. A failed or interrupted prompt never
reaches `collect`: the device worker checks the execution status first.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.comfyui import ComfyClient, OutputFile, PromptOutcome
from services.errors import Invalid
from services.media_store import MediaStore, OutsideDataFolder
from services.scenes.video_engines import FRAMEPACK_FPS, VideoEngineName, check_shot, frame_count, limits_of
from studio.models import Job
from workflows import (
    STUDIO_OUTPUT_FOLDER,
    FramePackRequest,
    LtxRequest,
    WanRequest,
    build_framepack_workflow,
    build_ltx_workflow,
    build_wan_workflow,
)
from workflows.arguments import MAX_SEED
from workflows.ltx import DEFAULT_NEGATIVE as LTX_NEGATIVE
from workflows.wan import DEFAULT_NEGATIVE as WAN_NEGATIVE

VIDEO_JOB = "video.generate"
# Input images the studio uploads share one subfolder of ComfyUI's input folder.
INPUT_SUBFOLDER = "anime-studio"


class ShotSource(BaseModel):
    """The image a shot starts from: a file under the data folder and, when known, the sha256 of its bytes."""

    model_config = ConfigDict(frozen=True)
    path: str = Field(min_length=1, max_length=500)
    content_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="Given: a changed file is refused.")


class VideoJobPayload(BaseModel):
    """The payload of a `video.generate` job; keys it does not name are context for the scene service."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    engine: VideoEngineName
    project_id: int
    scene_id: uuid.UUID
    shot_id: uuid.UUID
    attempt: int = Field(ge=1)
    prompt: str = ""
    negative: str = ""
    seed: int = Field(ge=0, le=MAX_SEED)
    steps: int | None = Field(None, ge=1, le=200, description="Unset: the engine's default.")
    seconds: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    source: ShotSource | None = None


def read_payload(job: Job) -> VideoJobPayload:
    """The job's recipe. Invalid("payload"): the payload is not a video job's."""
    try:
        return VideoJobPayload.model_validate(job.payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise Invalid("payload", f"not a {VIDEO_JOB} payload ({problems})") from exc


def shot_video_path(payload: VideoJobPayload, job_id: int, suffix: str = ".mp4") -> str:
    """Where an attempt's video is stored under the data folder (one file per job, so retries never clash)."""
    return (
        f"projects/{payload.project_id}/scenes/{payload.scene_id}/shots/{payload.shot_id}"
        f"/attempt-{payload.attempt}-{job_id}{suffix}"
    )


def source_input_name(path: str, content_hash: str) -> str:
    """The file name a source image gets in ComfyUI's input subfolder: named by its content."""
    suffix = PurePosixPath(path).suffix.lower() or ".png"
    return f"shot_{content_hash[:32]}{suffix}"


class VideoJobHandler:
    """Runs `video.generate` jobs (FramePack, FramePack F1, LTX-Video, Wan 2.1) on a ComfyUI device."""

    kind = VIDEO_JOB

    def __init__(self, *, media: MediaStore) -> None:
        self._media = media

    def memory_group(self, job: Job) -> str:
        """One group per engine: switching between them unloads the other's models (a 12 GB card holds one)."""
        return f"video:{job.payload.get('engine', 'unknown')}"

    async def prepare(self, job: Job, client: ComfyClient) -> dict[str, Any]:
        """Upload the source image and build the engine's graph. Invalid: the shot no longer fits the engine."""
        payload = read_payload(job)
        limits = limits_of(payload.engine)
        if limits.device != "comfyui":
            raise Invalid("engine", f"{limits.label} renders on the CPU, not on ComfyUI; it is not a {VIDEO_JOB} job")
        # Again here: the limits may have changed since the shot was planned and the job queued.
        check_shot(payload.engine, payload.seconds, payload.source is not None)
        if limits.sizes and (payload.width, payload.height) not in limits.sizes:
            sizes = ", ".join(f"{w}x{h}" for w, h in limits.sizes)
            raise Invalid(
                "size",
                f"{limits.label} renders {sizes}; {payload.width}x{payload.height} is not one of them"
                " (plan the shot again)",
            )
        if not payload.prompt.strip() and not limits.needs_source:
            raise Invalid(
                "prompt", f"{limits.label} renders from the prompt: give the shot a description or a motion prompt"
            )
        image = await self._upload_source(payload.source, client) if payload.source is not None else None
        # One prefix per run of the job: a retry's graph then differs from the cached one in its save node only.
        prefix = f"{STUDIO_OUTPUT_FOLDER}/shots/{payload.shot_id}/attempt-{payload.attempt}-{job.id}-{job.attempts}"
        return _build_graph(payload, image, prefix)

    async def collect(self, job: Job, outcome: PromptOutcome, client: ComfyClient, device: str) -> dict[str, Any]:
        """Store the first video the prompt wrote. Invalid("outputs"): it wrote no video."""
        payload = read_payload(job)
        video = _first_video(outcome)
        if video is None:
            written = ", ".join(f"{f.key}: {f.filename}" for f in outcome.outputs) or "nothing"
            raise Invalid(
                "outputs",
                f"ComfyUI finished prompt {outcome.prompt_id} without saving a video (it wrote {written});"
                " check that the graph's VHS_VideoCombine node saves its output",
            )
        data = await client.download(video)
        if not data:
            raise Invalid("outputs", f"ComfyUI served an empty file for {video.filename}")
        # Our graphs write MP4; a file of another kind keeps its own extension rather than a false one.
        suffix = PurePosixPath(video.filename).suffix.lower() or ".mp4"
        # Named by job: collecting the same prompt again (a restart before the job was marked done) rewrites
        # the same file instead of adding another.
        path = await self._media.write(
            shot_video_path(payload, job.id, suffix),  # type: ignore[arg-type]
            data,
        )
        return {
            "video": path,
            "engine": payload.engine,
            "device": device,
            "gpu_seconds": outcome.seconds,
            "prompt_id": outcome.prompt_id,
        }

    async def _upload_source(self, source: ShotSource, client: ComfyClient) -> str:
        data, found = await read_source(self._media, source)
        # Named by content and overwritten: the earlier system skipped the copy when a file of the same name
        # existed and silently animated a stale image (§6.2 item 18).
        return await client.upload_image(
            data, source_input_name(source.path, found), subfolder=INPUT_SUBFOLDER, overwrite=True
        )


async def read_source(media: MediaStore, source: ShotSource) -> tuple[bytes, str]:
    """The source image's bytes and sha256. Invalid("source"): it is gone, or changed after the job was queued."""
    try:
        data = await media.read(source.path)
    except (OSError, OutsideDataFolder) as exc:
        raise Invalid(
            "source", f"the shot's source image {source.path} is not in the data folder; choose its source again"
        ) from exc
    found = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
    if source.content_hash is not None and found != source.content_hash:
        raise Invalid(
            "source",
            f"the shot's source image {source.path} changed after the job was queued; queue the shot again",
        )
    return data, found


def _first_video(outcome: PromptOutcome) -> OutputFile | None:
    # VHS lists its video under "gifs", core SaveVideo under "images": never assume a key.
    return next((f for f in outcome.outputs if f.is_video and f.type == "output"), None)


def _build_graph(payload: VideoJobPayload, image: str | None, prefix: str) -> dict[str, Any]:
    steps: dict[str, Any] = {"steps": payload.steps} if payload.steps is not None else {}
    common: dict[str, Any] = {
        "seed": payload.seed,
        "width": payload.width,
        "height": payload.height,
        "filename_prefix": prefix,
    }
    if payload.engine in ("framepack", "framepack_f1"):
        if image is None:  # check_shot refused this already; kept for the type checker
            raise Invalid("source", "FramePack animates an image: give the shot a source image")
        request = FramePackRequest(
            image=image,
            prompt=payload.prompt,
            negative=payload.negative,
            seconds=payload.seconds,
            f1=payload.engine == "framepack_f1",
            fps=FRAMEPACK_FPS,
            **common,
            **steps,
        )
        return build_framepack_workflow(request)
    frames = frame_count(payload.engine, payload.seconds)
    fps = limits_of(payload.engine).fps
    if payload.engine == "ltx":
        ltx = LtxRequest(
            prompt=payload.prompt,
            negative=payload.negative or LTX_NEGATIVE,
            image=image,
            frames=frames,
            fps=fps or 24.0,
            **common,
            **steps,
        )
        return build_ltx_workflow(ltx)
    wan = WanRequest(
        prompt=payload.prompt,
        negative=payload.negative or WAN_NEGATIVE,
        frames=frames,
        fps=fps or 16.0,
        **common,
        **steps,
    )
    return build_wan_workflow(wan)
