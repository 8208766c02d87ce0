"""One worker per device and backend: a ComfyUI worker for every configured device with a ComfyUI URL, a
remote-app worker for every app a device hosts (FramePack's own Gradio app, ACE-Step), plus `cpu`.

Devices added, changed or removed in the app take effect at once through `DeviceWorkers.apply`."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import socket
from collections.abc import Callable
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


Worker = ComfyDeviceWorker | CpuWorker | RemoteAppWorker


class DeviceWorkers:
    """The running workers, kept in step with the settings' devices (`apply` after a device changes)."""

    def __init__(self, settings: Settings, queue: JobQueue, handlers: JobHandlers, events: EventBus) -> None:
        self._settings = settings
        self._queue = queue
        self._handlers = handlers
        self._events = events
        self._by_key: dict[tuple[str, str], Worker] = {key: make() for key, make in self._planned().items()}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def workers(self) -> list[Worker]:
        return list(self._by_key.values())

    def start(self) -> None:
        if self._tasks:
            return
        for worker in self.workers:
            self._start(worker)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = {}

    def busy(self, device: str) -> int:
        """How many jobs the workers of `device` are running now."""
        return sum(w.in_flight for w in self.workers if w.device == device)

    async def apply(self) -> None:
        """Start the workers of devices added or changed in the settings, stop those of devices removed or changed.

        The caller refuses to remove or change a device while its workers run a job (see `busy`): stopping
        a worker mid-job would leave ComfyUI rendering a prompt nobody listens to. A job claimed in the instant
        before the stop is queued again, so it is never left "running" on a worker that is gone.
        """
        planned = self._planned()
        gone = [key for key in self._by_key if key not in planned]
        for key in gone:
            worker = self._by_key.pop(key)
            task = self._tasks.pop(worker.worker_id, None)
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            for job in await self._queue.claimed_by(worker.worker_id):
                await self._queue.requeue_lost(job.id, f"device {worker.device} (removed while it started the job)")  # type: ignore[arg-type]
            log.info("stopped the worker of device %s", worker.device)
        running = bool(self._tasks)
        for key, make in planned.items():
            if key not in self._by_key:
                worker = self._by_key[key] = make()
                if running:
                    self._start(worker)
                log.info("added a worker for device %s", worker.device)
        self._by_key = {key: self._by_key[key] for key in planned}  # settings order, as at start

    def _start(self, worker: Worker) -> None:
        self._tasks[worker.worker_id] = asyncio.create_task(self._supervise(worker), name=f"worker:{worker.device}")

    def _planned(self) -> dict[tuple[str, str], Callable[[], Worker]]:
        """Every worker the settings ask for, keyed by its identity and what it was built from."""
        settings = self._settings
        poll = settings.job_claim_poll_seconds
        plan: dict[tuple[str, str], Callable[[], Worker]] = {}
        for name, url in settings.comfyui_devices.items():
            worker_id = worker_identity(settings.data_dir, name)
            plan[(worker_id, url)] = functools.partial(
                ComfyDeviceWorker,
                device=name,
                url=url,
                worker_id=worker_id,
                queue=self._queue,
                handlers=self._handlers,
                events=self._events,
                claim_poll_seconds=poll,
                request_timeout=settings.comfyui_timeout_seconds,
            )
        for handler in self._handlers.remote.values():
            for device in settings.devices:
                if (url := handler.app_url(device)) is None:
                    continue
                # Its own identity: the ComfyUI worker of the same device must not take its jobs for lost.
                worker_id = worker_identity(settings.data_dir, f"{device.name}:{handler.app}")
                plan[(worker_id, device.model_dump_json())] = functools.partial(
                    RemoteAppWorker,
                    device=device,
                    url=url,
                    kind=handler.kind,
                    worker_id=worker_id,
                    queue=self._queue,
                    handlers=self._handlers,
                    events=self._events,
                    claim_poll_seconds=poll,
                )
        cpu_id = worker_identity(settings.data_dir, "cpu")
        plan[(cpu_id, "cpu")] = functools.partial(
            CpuWorker,
            worker_id=cpu_id,
            queue=self._queue,
            handlers=self._handlers,
            events=self._events,
            concurrency=settings.cpu_job_concurrency,
            claim_poll_seconds=poll,
        )
        return plan

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
