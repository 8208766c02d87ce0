"""The worker of one ComfyUI device: keeps the GPU busy and follows every prompt over the WebSocket.

* **One ahead.** It holds at most `1 + lookahead` prompts on the server: the running one and the next,
  already queued, so the GPU starts the next job the moment the current one ends instead of waiting for
  us to notice and submit.
* **Completion from the socket, never by sleeping and polling.** `executing` with `node: null` for our
  prompt id ends a prompt; then `/history/{id}` gives its outcome (it is written before that message).
* **Stable client id.** The socket's `clientId` is derived from the worker's identity, so after a studio
  restart the new socket receives the events of prompts the previous run submitted.
* **Resynchronise after a drop.** Events sent while the socket was down are lost, so on every
  (re)connection each prompt we hold is looked up in `/queue` (still waiting or running: keep following)
  then `/history` (finished: collect); a prompt the server no longer knows is requeued once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from services.comfyui import (
    ComfyClient,
    ComfySocket,
    ComfyUnavailable,
    Connected,
    Disconnected,
    NodeStarted,
    Preview,
    Progress,
    PromptFinished,
    PromptRejected,
    ServerInventory,
    SocketMessage,
)
from services.errors import StudioError, report_unexpected
from services.jobs.events import JobChanged, JobProgressed
from services.jobs.handlers import JobHandlers
from services.jobs.queue import JobQueue
from studio.events import EventBus
from studio.models import Job

log = logging.getLogger(__name__)

# Progress is written to the database at most this often per job; live pages get every event.
PROGRESS_WRITE_INTERVAL = 1.0
# After `executing null` the history entry is already written; retry briefly anyway for slow proxies.
_HISTORY_ATTEMPTS = 5


@dataclass
class InFlight:
    job: Job
    prompt_id: str
    submitted: bool = False
    progress: float = 0.0
    message: str = "queued on ComfyUI"
    last_write: float = field(default_factory=time.monotonic)


class ComfyDeviceWorker:
    def __init__(
        self,
        *,
        device: str,
        url: str,
        worker_id: str,
        queue: JobQueue,
        handlers: JobHandlers,
        events: EventBus,
        lookahead: int = 1,
        claim_poll_seconds: float = 2.0,
    ) -> None:
        self.device = device
        self.url = url
        self.worker_id = worker_id
        self._queue = queue
        self._handlers = handlers
        self._events = events
        self._capacity = 1 + max(0, lookahead)
        self._claim_poll = claim_poll_seconds
        self._client = ComfyClient(url, client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"anime-studio:{worker_id}")))
        self._in_flight: dict[str, InFlight] = {}
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._memory_group: str | None = None
        self._inventory: ServerInventory | None = None  # what the server has, fetched once per connection
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None

    # --- what the studio reads ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def client_id(self) -> str:
        return self._client.client_id

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # --- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Work until cancelled."""
        unsubscribe = self._events.subscribe(JobChanged, self._on_job_changed)
        listener = asyncio.create_task(self._listen(), name=f"comfy-socket:{self.device}")
        try:
            while True:
                if self._connected.is_set():
                    await self._fill()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                # arrives as the event is set, and the worker would never stop.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._claim_poll):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            listener.cancel()
            unsubscribe()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(listener, *self._tasks, return_exceptions=True)
            await self._client.aclose()

    # --- claiming and submitting -----------------------------------------------------------------

    async def _fill(self) -> None:
        while len(self._in_flight) < self._capacity and self._connected.is_set():
            job = await self._queue.claim(self.worker_id, self.device, self._handlers.comfy.keys())
            if job is None:
                return
            if not await self._submit(job):
                return

    async def _submit(self, job: Job) -> bool:
        """Queue one job on the server; False when the server is unreachable (the job goes back)."""
        handler = self._handlers.comfy[job.kind]
        prompt_id = str(uuid.uuid4())
        flight = InFlight(job=job, prompt_id=prompt_id)
        self._in_flight[prompt_id] = flight  # before submitting: a fast prompt may finish before we return
        try:
            graph = await handler.prepare(job, self._client)
            problems = await self._graph_problems(graph)
            if problems:
                self._in_flight.pop(prompt_id, None)
                await self._queue.fail(job.id, f"ComfyUI at {self.url} cannot run this job: " + "; ".join(problems))  # type: ignore[arg-type]
                return True
            group = handler.memory_group(job)
            if self._memory_group is not None and group != self._memory_group:
                # The models of the previous kind of work would crowd out this one's on the GPU.
                await self._client.free(unload_models=True, free_memory=False)
            # Record the handle first: if we die between the two, a restart finds an unknown prompt and
            # requeues the job, instead of a running job with no handle.
            await self._queue.attach(job.id, prompt_id)  # type: ignore[arg-type]
            await self._client.submit(graph, prompt_id=prompt_id, extra_data={"anime_studio_job": job.id})
            self._memory_group = group
            flight.submitted = True
            return True
        except ComfyUnavailable as exc:
            self._in_flight.pop(prompt_id, None)
            self.last_error = str(exc)
            await self._queue.release(job.id)  # type: ignore[arg-type]
            return False
        except PromptRejected as exc:
            self._in_flight.pop(prompt_id, None)
            await self._queue.fail(job.id, str(exc))  # type: ignore[arg-type]
            return True
        except (StudioError, ValueError) as exc:
            self._in_flight.pop(prompt_id, None)
            await self._queue.fail(job.id, f"could not prepare the job: {exc}")  # type: ignore[arg-type]
            return True
        except Exception as exc:
            self._in_flight.pop(prompt_id, None)
            message = report_unexpected(log, exc, f"preparing job {job.id} for {self.device}")
            await self._queue.fail(job.id, message)  # type: ignore[arg-type]
            return True

    async def _graph_problems(self, graph: dict[str, Any]) -> list[str]:
        """Check the graph against what the server has; on a miss, look again (a model just installed)."""
        for fresh in (False, True):
            if self._inventory is None or fresh:
                self._inventory = ServerInventory(self._client, await self._client.object_info())
            problems = await self._inventory.graph_problems(graph)
            if not problems:
                return []
        return problems

    # --- following the socket --------------------------------------------------------------------

    async def _listen(self) -> None:
        socket = ComfySocket(self.url, self._client.client_id)
        async for message in socket.messages():
            try:
                await self._handle(message)
            except Exception:
                log.exception("handling %s from ComfyUI %s failed", type(message).__name__, self.device)

    async def _handle(self, message: SocketMessage) -> None:
        if isinstance(message, Connected):
            self.last_error = None
            self._inventory = None  # the server may have restarted with other nodes or models
            self._connected.set()
            self._spawn(self._resynchronise())
        elif isinstance(message, Disconnected):
            self._connected.clear()
            self.last_error = f"lost the event socket of ComfyUI at {self.url}: {message.reason}"
        elif isinstance(message, PromptFinished):
            flight = self._in_flight.pop(message.prompt_id, None)
            if flight is not None:
                self._wake.set()  # a slot is free: queue the next job while this one is collected
                self._spawn(self._finish(flight))
        elif isinstance(message, Progress) and message.prompt_id in self._in_flight and message.maximum > 0:
            flight = self._in_flight[message.prompt_id]
            flight.progress = min(0.99, message.value / message.maximum)
            flight.message = f"step {message.value} of {message.maximum}"
            await self._report(flight, None)
        elif isinstance(message, NodeStarted) and message.prompt_id in self._in_flight:
            flight = self._in_flight[message.prompt_id]
            flight.message = f"running node {message.node}"
            await self._report(flight, None)
        elif isinstance(message, Preview) and message.prompt_id in self._in_flight:
            await self._report(self._in_flight[message.prompt_id], message)

    async def _report(self, flight: InFlight, preview: Preview | None) -> None:
        job = flight.job
        await self._events.emit(
            JobProgressed(
                job_id=job.id,  # type: ignore[arg-type]
                batch=job.batch,
                progress=flight.progress,
                message=flight.message,
                preview=preview.image if preview else None,
                preview_type=preview.media_type if preview else "image/jpeg",
            )
        )
        now = time.monotonic()
        if now - flight.last_write >= PROGRESS_WRITE_INTERVAL:
            flight.last_write = now
            await self._queue.report_progress(job.id, flight.progress, flight.message)  # type: ignore[arg-type]

    # --- finishing -------------------------------------------------------------------------------

    async def _finish(self, flight: InFlight) -> None:
        job, prompt_id = flight.job, flight.prompt_id
        try:
            outcome = None
            for attempt in range(_HISTORY_ATTEMPTS):
                outcome = await self._client.history(prompt_id)
                if outcome is not None:
                    break
                await asyncio.sleep(0.05 * 2**attempt)
            if outcome is None:
                await self._queue.requeue_lost(job.id, f"ComfyUI at {self.url}")  # type: ignore[arg-type]
                return
            if outcome.status == "success":
                try:
                    result = await self._handlers.comfy[job.kind].collect(job, outcome, self._client, self.device)
                except (StudioError, ComfyUnavailable, ValueError) as exc:
                    await self._queue.fail(job.id, f"the outputs could not be stored: {exc}", outcome.seconds)  # type: ignore[arg-type]
                    return
                await self._queue.succeed(job.id, result, outcome.seconds)  # type: ignore[arg-type]
            elif outcome.status == "interrupted":
                # A job cancelled in the studio is already "cancelled" and this changes nothing.
                await self._queue.fail(job.id, f"interrupted on ComfyUI at {self.url}", outcome.seconds)  # type: ignore[arg-type]
            else:
                failure = outcome.failure.describe() if outcome.failure else "execution failed"
                await self._queue.fail(job.id, f"ComfyUI at {self.url} failed: {failure}", outcome.seconds)  # type: ignore[arg-type]
        except ComfyUnavailable as exc:
            # The server went away between the end of the prompt and our question: ask again on reconnect.
            self._in_flight[prompt_id] = flight
            self.last_error = str(exc)
        except Exception as exc:
            message = report_unexpected(log, exc, f"finishing job {job.id} on {self.device}")
            await self._queue.fail(job.id, message)  # type: ignore[arg-type]
        finally:
            self._wake.set()

    async def _resynchronise(self) -> None:
        """Re-attach jobs an earlier run left running, and check every prompt we hold after a (re)connect."""
        held = {flight.job.id for flight in self._in_flight.values()}
        for job in await self._queue.claimed_by(self.worker_id):
            handle = job.external_handle
            if job.id in held:
                continue  # ours from this run (maybe still being submitted)
            if handle is None:
                await self._queue.requeue_lost(job.id, f"ComfyUI at {self.url}")  # type: ignore[arg-type]
            elif handle not in self._in_flight:
                self._in_flight[handle] = InFlight(job=job, prompt_id=handle, submitted=True)
        try:
            snapshot = await self._client.queue()
            for prompt_id, flight in list(self._in_flight.items()):
                if not flight.submitted or snapshot.holds(prompt_id):
                    continue  # still waiting or running on the server: its events will come
                self._in_flight.pop(prompt_id, None)
                await self._finish(flight)  # finished while we were away, or lost (then requeued once)
        except ComfyUnavailable as exc:
            self.last_error = str(exc)
        self._wake.set()

    # --- cancellation and wake-ups ---------------------------------------------------------------

    async def _on_job_changed(self, event: JobChanged) -> None:
        if event.change in ("submitted", "retried", "requeued") and event.device in (None, self.device):
            self._wake.set()
        elif event.change == "cancelled":
            flight = next((f for f in self._in_flight.values() if f.job.id == event.job_id), None)
            if flight is not None and flight.submitted:
                self._spawn(self._stop_prompt(flight))

    async def _stop_prompt(self, flight: InFlight) -> None:
        # Delete first (if it has not started), then interrupt (if it has): in this order the prompt
        # cannot slip from pending to running between the two calls unnoticed.
        try:
            await self._client.delete_queued([flight.prompt_id])
            await self._client.interrupt(flight.prompt_id)
            snapshot = await self._client.queue()
        except ComfyUnavailable as exc:
            self.last_error = str(exc)
            return
        if not snapshot.holds(flight.prompt_id):
            self._in_flight.pop(flight.prompt_id, None)
            self._wake.set()

    def _spawn(self, coroutine: object) -> None:
        task = asyncio.create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
