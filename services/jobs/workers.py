"""One worker per device and backend: a ComfyUI worker for every configured device with a ComfyUI URL, a
remote-app worker for every app a device hosts (FramePack's own Gradio app, ACE-Step), plus `cpu`."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

from services.jobs.comfy_worker import ComfyDeviceWorker
from services.jobs.cpu_worker import CpuWorker
from services.jobs.handlers import JobHandlers
from services.jobs.queue import JobQueue
from services.jobs.remote_worker import RemoteAppWorker
from studio.config import Settings
from studio.events import EventBus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerState:
    device: str
    url: str | None
    connected: bool
    in_flight: int
    last_error: str | None


def worker_identity(data_dir: Path, device: str) -> str:
    """Stable across restarts (so a restart re-attaches its own running jobs), distinct per studio install.

    Two studio processes sharing one PostgreSQL queue run on different hosts or from different data
    folders, so they never take each other's running jobs for their own.
    """
    install = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()[:60]}-{install}/{device}"


class DeviceWorkers:
    def __init__(self, settings: Settings, queue: JobQueue, handlers: JobHandlers, events: EventBus) -> None:
        self._settings = settings
        poll = settings.job_claim_poll_seconds
        self.workers: list[ComfyDeviceWorker | CpuWorker | RemoteAppWorker] = [
            ComfyDeviceWorker(
                device=name,
                url=url,
                worker_id=worker_identity(settings.data_dir, name),
                queue=queue,
                handlers=handlers,
                events=events,
                claim_poll_seconds=poll,
                request_timeout=settings.comfyui_timeout_seconds,
            )
            for name, url in settings.comfyui_devices.items()
        ]
        self.workers.extend(
            RemoteAppWorker(
                device=device,
                url=url,
                kind=handler.kind,
                # Its own identity: the ComfyUI worker of the same device must not take its jobs for lost.
                worker_id=worker_identity(settings.data_dir, f"{device.name}:{handler.app}"),
                queue=queue,
                handlers=handlers,
                events=events,
                claim_poll_seconds=poll,
            )
            for handler in handlers.remote.values()
            for device in settings.devices
            if (url := handler.app_url(device)) is not None
        )
        self.workers.append(
            CpuWorker(
                worker_id=worker_identity(settings.data_dir, "cpu"),
                queue=queue,
                handlers=handlers,
                events=events,
                concurrency=settings.cpu_job_concurrency,
                claim_poll_seconds=poll,
            )
        )
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [asyncio.create_task(self._supervise(w), name=f"worker:{w.device}") for w in self.workers]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def states(self) -> list[WorkerState]:
        return [
            WorkerState(
                device=w.device,
                url=w.url,
                connected=w.connected,
                in_flight=w.in_flight,
                last_error=w.last_error,
            )
            for w in self.workers
        ]

    @staticmethod
    async def _supervise(worker: ComfyDeviceWorker | CpuWorker | RemoteAppWorker) -> None:
        # A bug in one worker must not silently stop that device for the rest of the session.
        while True:
            try:
                await worker.run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the worker of device %s crashed; restarting it in 2 s", worker.device)
                await asyncio.sleep(2)
