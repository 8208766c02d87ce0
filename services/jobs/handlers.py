"""What a job kind needs to run: ComfyUI kinds build a graph and collect outputs; CPU kinds run in-process;
remote-app kinds run in-process against an app a device hosts (FramePack's own Gradio app).

Services register one handler per kind with `JobHandlers`; a device worker runs the kinds its device
can serve (a ComfyUI device: the ComfyUI kinds; the built-in `cpu` device: the CPU kinds; a device with a
remote app: the remote-app kinds).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from services.comfyui import ComfyClient, PromptOutcome
from studio.config import DeviceSettings
from studio.models import Job


class ProgressSink(Protocol):
    async def __call__(self, fraction: float, message: str, preview: bytes | None = None) -> None: ...


class ComfyJobHandler(Protocol):
    kind: str

    def memory_group(self, job: Job) -> str:
        """Jobs of one group share loaded models; switching groups asks the server to unload (`/free`)."""
        ...

    async def prepare(self, job: Job, client: ComfyClient) -> dict[str, Any]:
        """Upload the job's inputs and return the API-format graph to queue."""
        ...

    async def collect(self, job: Job, outcome: PromptOutcome, client: ComfyClient, device: str) -> dict[str, Any]:
        """Fetch and store the outputs of a successful prompt; returns the job's result."""
        ...


class CpuJobHandler(Protocol):
    kind: str

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Do the work (off the event loop for anything heavy); returns the job's result."""
        ...


@dataclass(frozen=True)
class CpuJob:
    """A CPU job kind whose work is one service method (the handler for most in-process work)."""

    kind: str
    run: Callable[[Job, ProgressSink], Awaitable[dict[str, Any]]]


class RemoteJobHandler(Protocol):
    kind: str
    # The app's short name: each device hosting it gets a worker named `<device>:<app>`.
    app: str

    def app_url(self, device: DeviceSettings) -> str | None:
        """The URL of the app on `device`, or None when the device does not host it."""
        ...

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        """Run the job on the app `device` hosts, following its progress; returns the job's result.

        Cancelling the task must stop the work on the app before the cancellation is re-raised.
        """
        ...


class JobHandlers:
    def __init__(self) -> None:
        self.comfy: dict[str, ComfyJobHandler] = {}
        self.cpu: dict[str, CpuJobHandler] = {}
        self.remote: dict[str, RemoteJobHandler] = {}

    def add_comfy(self, handler: ComfyJobHandler) -> None:
        self._check_new(handler.kind)
        self.comfy[handler.kind] = handler

    def add_cpu(self, handler: CpuJobHandler) -> None:
        self._check_new(handler.kind)
        self.cpu[handler.kind] = handler

    def add_remote(self, handler: RemoteJobHandler) -> None:
        self._check_new(handler.kind)
        self.remote[handler.kind] = handler

    def _check_new(self, kind: str) -> None:
        if kind in self.comfy or kind in self.cpu or kind in self.remote:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
