"""One attempt at one shot's video on FramePack's own Gradio app (lllyasviel/FramePack `demo_gradio.py`,
or `demo_gradio_f1.py` for F1): an alternative to FramePack on ComfyUI for a device that runs the app.

The job's payload is a `video.generate` payload (same recipe, same storage path, same result shape), so a
scene attempt can go to either backend. gradio_client is synchronous: its calls run in a thread, and the
streamed outputs (which its own thread collects) are read from the event loop without blocking it.
FramePack's `process` generator streams (video, preview, description, progress-bar HTML, buttons...);
the video slot holds the newest finished file, and the last one is the whole shot.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from services.errors import Invalid, StudioError
from services.jobs import ProgressSink
from services.media_store import MediaStore
from services.scenes.video_engines import FRAMEPACK_FPS, check_shot, limits_of
from services.scenes.video_job import VideoJobPayload, read_payload, read_source, shot_video_path
from studio.config import DeviceSettings
from studio.models import Job

log = logging.getLogger(__name__)

FRAMEPACK_GRADIO_JOB = "video.framepack_gradio"
FRAMEPACK_ENGINES = frozenset({"framepack", "framepack_f1"})
PROCESS_ENDPOINT = "/process"
END_ENDPOINT = "/end_process"
# demo_gradio.py's inputs, in order: input_image, prompt, n_prompt, seed, total_second_length,
# latent_window_size, steps, cfg, gs, rs, gpu_memory_preservation, use_teacache, mp4_crf.
PROCESS_INPUTS = 13
LATENT_WINDOW_SIZE = 9  # the app hides it: "Should not change"
CFG, DISTILLED_CFG, CFG_RESCALE = 1.0, 10.0, 0.0  # the app's defaults (cfg and rs are hidden)
DEFAULT_STEPS = 25
# The earlier system needed 6 GB preserved on a 12 GB card (the app's minimum, and its default).
GPU_MEMORY_PRESERVATION = 6.0
MP4_CRF = 16  # the app's advice against black outputs
POLL_SECONDS = 0.2
_PERCENT = re.compile(r'<progress value="(\d+)"')
_HINT = re.compile(r"<span>([^<]*)</span>")
_FRAMES = re.compile(r"Total generated frames: (\d+)")


class FramePackAppError(StudioError):
    """FramePack's Gradio app could not be reached, is not FramePack's, or failed the run."""


def app_url(device: DeviceSettings, engine: str) -> str:
    """The URL of the app that renders `engine` on `device`. Invalid("engine"): the device has none."""
    url = device.framepack_f1_url if engine == "framepack_f1" else device.framepack_url
    if url is None:
        setting = "framepack_f1_url" if engine == "framepack_f1" else "framepack_url"
        app = "demo_gradio_f1.py" if engine == "framepack_f1" else "demo_gradio.py"
        raise Invalid(
            "engine",
            f"device {device.name} runs no {limits_of(engine).label} Gradio app: start {app} there and set its "
            f"{setting}, or render the shot on ComfyUI",
        )
    return url


def app_for(devices: dict[str, DeviceSettings], engine: str) -> str | None:
    """The first device whose Gradio app renders `engine`, or None."""
    for name, device in devices.items():
        if (device.framepack_f1_url if engine == "framepack_f1" else device.framepack_url) is not None:
            return name
    return None


class FramePackGradioHandler:
    """Runs `video.framepack_gradio` jobs (FramePack, FramePack F1) on a device's FramePack Gradio app."""

    kind = FRAMEPACK_GRADIO_JOB
    app = "framepack"

    def __init__(self, *, media: MediaStore) -> None:
        self._media = media

    def app_url(self, device: DeviceSettings) -> str | None:
        # One worker for both apps of a device: they share its GPU, so they never render at once.
        return device.framepack_url or device.framepack_f1_url

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        """Render the attempt and store its video. Invalid: the shot does not fit; FramePackAppError: the app."""
        payload = read_payload(job)
        if payload.engine not in FRAMEPACK_ENGINES:
            raise Invalid("engine", f"{limits_of(payload.engine).label} does not run on FramePack's Gradio app")
        check_shot(payload.engine, payload.seconds, payload.source is not None)
        if payload.source is None:  # check_shot refused this already; kept for the type checker
            raise Invalid("source", "FramePack animates an image: give the shot a source image")
        url = app_url(device, payload.engine)
        image, _ = await read_source(self._media, payload.source)
        work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="framepack-"))
        try:
            source = work / f"source{PurePosixPath(payload.source.path).suffix.lower() or '.png'}"
            await asyncio.to_thread(source.write_bytes, image)
            await progress(0.0, f"starting on FramePack at {url}")
            video = await _render(url, source, work / "downloads", payload, progress)
            data = await asyncio.to_thread(video.read_bytes)
        finally:
            await asyncio.to_thread(shutil.rmtree, work, True)
        if not data:
            raise FramePackAppError(f"FramePack at {url} served an empty video file")
        path = await self._media.write(shot_video_path(payload, job.id, video.suffix.lower() or ".mp4"), data)  # type: ignore[arg-type]
        return {"video": path, "engine": payload.engine, "device": device.name, "app_url": url}


async def _render(url: str, image: Path, downloads: Path, payload: VideoJobPayload, progress: ProgressSink) -> Path:
    """Submit the shot to the app and follow it to the end; cancelling stops the app's run."""
    client = await asyncio.to_thread(_connect, url, downloads)
    try:
        from gradio_client import handle_file

        arguments = (
            handle_file(str(image)),
            payload.prompt,
            payload.negative,
            payload.seed,
            payload.seconds,
            LATENT_WINDOW_SIZE,
            payload.steps or DEFAULT_STEPS,
            CFG,
            DISTILLED_CFG,
            CFG_RESCALE,
            GPU_MEMORY_PRESERVATION,
            True,  # use_teacache
            MP4_CRF,
        )
        job = await asyncio.to_thread(lambda: client.submit(*arguments, api_name=PROCESS_ENDPOINT))
        try:
            return await _follow(job, url, payload.seconds, progress)
        except asyncio.CancelledError:
            await asyncio.to_thread(_stop, client, job)
            raise
    finally:
        await asyncio.to_thread(client.close)


def _connect(url: str, downloads: Path) -> Any:
    """A gradio_client Client for the app, refusing an app that is not FramePack's (blocking)."""
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=str(downloads))
    except Exception as exc:
        raise FramePackAppError(
            f"FramePack's Gradio app at {url} is not reachable ({exc.__class__.__name__}: {exc}); start "
            "demo_gradio.py there (python demo_gradio.py --port ...) or correct the device's framepack_url"
        ) from exc
    api = client.view_api(return_format="dict", print_info=False) or {}
    endpoints = {**api.get("named_endpoints", {}), **api.get("unnamed_endpoints", {})}
    process = endpoints.get(PROCESS_ENDPOINT)
    if process is None or len(process.get("parameters", [])) != PROCESS_INPUTS or END_ENDPOINT not in endpoints:
        client.close()
        found = ", ".join(str(name) for name in endpoints) or "none"
        raise FramePackAppError(
            f"the Gradio app at {url} is not FramePack's demo_gradio.py: it needs {PROCESS_ENDPOINT} with "
            f"{PROCESS_INPUTS} inputs and {END_ENDPOINT}; it has the endpoints {found}"
        )
    return client


def _stop(client: Any, job: Any) -> None:
    """Stop a run (blocking): ask the app to end its worker (which runs on otherwise), then drop our stream.

    In this order: gradio answers the cancel only once the generator yields again, which it does once the
    app's worker has ended. The job is cancelled in the studio either way, so failures are only logged.
    """
    for step in (lambda: client.predict(api_name=END_ENDPOINT), job.cancel):
        try:
            step()
        except Exception as exc:
            log.warning("stopping FramePack's run at %s: %s: %s", client.src, exc.__class__.__name__, exc)


async def _follow(job: Any, url: str, seconds: float, progress: ProgressSink) -> Path:
    sections = max(1, round(seconds * FRAMEPACK_FPS / (LATENT_WINDOW_SIZE * 4)))
    seen = 0
    video: Path | None = None
    while True:
        done = job.done()  # before reading: outputs complete once it says done
        outputs = list(job.outputs())
        for output in outputs[seen:]:
            values = output if isinstance(output, tuple | list) else (output,)
            video = _video_path(values[0]) or video
            update = _progress(values, sections)
            if update is not None:
                await progress(*update)
        seen = len(outputs)
        if done:
            break
        await asyncio.sleep(POLL_SECONDS)
    try:
        job.result(timeout=0)
    except Exception as exc:
        raise FramePackAppError(f"FramePack at {url} failed: {exc}") from exc
    if video is None or not video.is_file():
        raise FramePackAppError(
            f"FramePack at {url} finished without a video (it stops early on an error: see its console)"
        )
    return video


def _video_path(value: Any) -> Path | None:
    """The file in FramePack's video slot: a path, or {"video": path | {"path": ...}} on older clients."""
    if isinstance(value, dict) and "video" in value:
        value = value["video"]
    if isinstance(value, dict):
        value = value.get("path")
    return Path(value) if isinstance(value, str) and value else None


def _progress(values: tuple[Any, ...] | list[Any], sections: int) -> tuple[float, str] | None:
    """(fraction, message) from FramePack's description and progress bar, or None for other updates."""
    if len(values) < 4 or not isinstance(values[3], str):
        return None
    percent, hint = _PERCENT.search(values[3]), _HINT.search(values[3])
    if percent is None:
        return None
    frames = _FRAMES.search(values[2]) if isinstance(values[2], str) else None
    latents = (int(frames.group(1)) + 3) // 4 if frames and int(frames.group(1)) > 0 else 0
    done = min(sections - 1, latents // LATENT_WINDOW_SIZE)
    fraction = min(0.99, (done + int(percent.group(1)) / 100) / sections)
    step = hint.group(1).strip() if hint else f"{percent.group(1)}%"
    return fraction, f"{step} · section {done + 1} of {sections}"
