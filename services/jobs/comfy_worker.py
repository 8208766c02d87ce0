"""The worker of one ComfyUI device: keeps the GPU busy and follows every prompt over the WebSocket.

* **One ahead.** It holds at most `1 + lookahead` prompts on the server: the running one and the next,
  already queued, so the GPU starts the next job the moment the current one ends instead of waiting for
  us to notice and submit. The job queued ahead is claimed but not started: it shows as waiting on the
  device, and its `started_at` is set when ComfyUI starts the prompt (`execution_start`, or the running
  entry of `/queue` after a reconnect).
* **Completion from the socket, never by sleeping and polling.** `executing` with `node: null` for our
  prompt id ends a prompt; then `/history/{id}` gives its outcome (it is written before that message).
* **Stable client id.** The socket's `clientId` is derived from the worker's identity, so after a studio
  restart the new socket receives the events of prompts the previous run submitted.
* **Resynchronise after a drop.** Events sent while the socket was down are lost, so on every
  (re)connection each prompt we hold is looked up in `/queue` (still waiting or running: keep following)
  then `/history` (finished: collect); a prompt the server no longer knows is requeued once.
* **A cancel is not lost.** A cancel the server does not answer (down, or hung: it accepts connections
  but answers nothing) stays pending and is sent again when the server shows signs of life (an event of
  that prompt, a reconnect, the next claim poll); a prompt of ours that no job follows any more (the studio
  stopped before the cancel got through) is stopped at the next connection. Outputs are stored only for a
  job that is still running in the studio, and the job is taken out of a cancel's reach before they are
  (`JobQueue.finishing`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
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
    QueueSnapshot,
    ServerInventory,
    SocketMessage,
    node_titles,
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
    titles: dict[str, str] = field(default_factory=dict)  # node id → its title in the graph we submitted
    submitted: bool = False
    started: bool = False  # ComfyUI began executing it; until then it waits on the device
    cancelled: bool = False  # cancelled in the studio: stop it on the server, never store its outputs
    cancel_sent: bool = False  # the server took the stop request
    stopping: bool = False  # a stop request is under way
    progress: float = 0.0
    message: str = "queued on ComfyUI"
    last_write: float = field(default_factory=time.monotonic)

    def title(self, node: str | None) -> str:
        return self.titles.get(node or "") or f"node {node}"


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
        request_timeout: float = 30.0,
    ) -> None:
        self.device = device
        self.url = url
        self.worker_id = worker_id
        self._queue = queue
        self._handlers = handlers
        self._events = events
        self._capacity = 1 + max(0, lookahead)
        self._claim_poll = claim_poll_seconds
        self._client = ComfyClient(
            url,
            client_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"anime-studio:{worker_id}")),
            timeout=request_timeout,
        )
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
                    self._resend_cancels()
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
            job = await self._queue.claim(self.worker_id, self.device, self._handlers.comfy.keys(), started=False)
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
            flight.titles = node_titles(graph)
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
            flight.message = f"waiting on {self.device} (queued on ComfyUI)"
            await self._queue.attach(job.id, prompt_id, flight.message)  # type: ignore[arg-type]
            await self._client.submit(graph, prompt_id=prompt_id, extra_data={"anime_studio_job": job.id})
            self._memory_group = group
            flight.submitted = True
            # Pages drew the job when it was claimed: tell them it now waits in ComfyUI's queue.
            await self._report(flight, None)
            self._stop(flight)  # when it was cancelled while we prepared it
            return True
        except ComfyUnavailable as exc:
            self._in_flight.pop(prompt_id, None)
            self.last_error = str(exc)
            await self._queue.release(job.id)  # type: ignore[arg-type]
            return False
        except PromptRejected as exc:
            self._in_flight.pop(prompt_id, None)
            await self._queue.fail(job.id, str(exc), forget_handle=True)  # type: ignore[arg-type]
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
        elif (flight := self._in_flight.get(getattr(message, "prompt_id", None) or "")) is not None:
            self._stop(flight)  # the server answers again: send the cancel it may have missed
            if not flight.started:
                await self._mark_started(flight)  # every event of a prompt comes after its execution_start
            if isinstance(message, Progress) and message.maximum > 0:
                flight.progress = min(0.99, message.value / message.maximum)
                flight.message = f"{flight.title(message.node)}: step {message.value} of {message.maximum}"
                await self._report(flight, None)
            elif isinstance(message, NodeStarted):
                flight.message = f"running {flight.title(message.node)}"
                await self._report(flight, None)
            elif isinstance(message, Preview):
                await self._report(flight, message)

    async def _mark_started(self, flight: InFlight, at: datetime | None = None) -> None:
        """ComfyUI began the prompt: from here the job runs (and its run time counts) instead of waiting."""
        flight.started = True
        flight.message = f"running on {self.device}"
        await self._queue.start(flight.job.id, flight.message, at)  # type: ignore[arg-type]

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
            if not flight.started:  # it ran while we were not listening
                await self._mark_started(flight, outcome.started_at)
            if not await self._queue.finishing(job.id, prompt_id, "storing the outputs"):  # type: ignore[arg-type]
                # Cancelled in the studio before the prompt ended (maybe too late for ComfyUI to stop it):
                # whatever it made stays on the server.
                log.info("job %s is no longer running; prompt %s on %s is not collected", job.id, prompt_id, self.url)
                return
            if outcome.status == "success":
                try:
                    result = await self._handlers.comfy[job.kind].collect(job, outcome, self._client, self.device)
                except (StudioError, ComfyUnavailable, ValueError) as exc:
                    await self._queue.fail(job.id, f"the outputs could not be stored: {exc}", outcome.seconds)  # type: ignore[arg-type]
                    return
                await self._queue.succeed(job.id, result, outcome.seconds)  # type: ignore[arg-type]
            elif outcome.status == "interrupted":
                # Not by the studio (a cancelled job stopped above): someone stopped it on ComfyUI itself.
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
                started = job.started_at is not None
                self._in_flight[handle] = InFlight(job=job, prompt_id=handle, submitted=True, started=started)
        self._resend_cancels()
        try:
            snapshot = await self._client.queue()
            for prompt_id, flight in list(self._in_flight.items()):
                if not flight.submitted:
                    continue
                if snapshot.holds(prompt_id):  # still waiting or running on the server: its events will come
                    flight.titles = flight.titles or node_titles(snapshot.graphs.get(prompt_id))
                    if prompt_id in snapshot.running and not flight.started:
                        await self._mark_started(flight)
                    continue
                self._in_flight.pop(prompt_id, None)
                await self._finish(flight)  # finished while we were away, or lost (then requeued once)
            await self._stop_orphans(snapshot)
        except ComfyUnavailable as exc:
            self.last_error = str(exc)
        self._wake.set()

    async def _stop_orphans(self, snapshot: QueueSnapshot) -> None:
        """Stop prompts we queued but no longer follow: their job was cancelled while the studio was down (a
        cancel ComfyUI never heard is kept only in memory) or was given up on after a submit that timed out.
        Nobody would collect what they make, so they only hold the GPU."""
        ours = self._client.client_id
        orphans = [pid for pid, client in snapshot.clients.items() if client == ours and pid not in self._in_flight]
        if not orphans:
            return
        log.info("stopping %d prompt(s) on %s that no studio job follows: %s", len(orphans), self.url, orphans)
        await self._client.delete_queued(orphans)
        for prompt_id in orphans:
            if prompt_id in snapshot.running:
                await self._client.interrupt(prompt_id)

    # --- cancellation and wake-ups ---------------------------------------------------------------

    async def _on_job_changed(self, event: JobChanged) -> None:
        if event.change in ("submitted", "retried", "requeued") and event.device in (None, self.device):
            self._wake.set()
        elif event.change == "cancelled":
            flight = next((f for f in self._in_flight.values() if f.job.id == event.job_id), None)
            if flight is not None:
                flight.cancelled = True
                self._stop(flight)  # not yet submitted: `_submit` stops it once it is

    def _resend_cancels(self) -> None:
        for flight in list(self._in_flight.values()):
            self._stop(flight)

    def _stop(self, flight: InFlight) -> None:
        """Stop a cancelled job's prompt on the server, unless that is done or under way."""
        if flight.cancelled and flight.submitted and not flight.cancel_sent and not flight.stopping:
            flight.stopping = True
            self._spawn(self._stop_prompt(flight))

    async def _stop_prompt(self, flight: InFlight) -> None:
        # Delete first (if it has not started), then interrupt (if it has): in this order the prompt
        # cannot slip from pending to running between the two calls unnoticed.
        try:
            await self._client.delete_queued([flight.prompt_id])
            await self._client.interrupt(flight.prompt_id)
        except ComfyUnavailable as exc:
            self.last_error = (
                f"job {flight.job.id} is cancelled but ComfyUI has not heard it yet (sent again when it answers): {exc}"
            )
            return
        finally:
            flight.stopping = False
        flight.cancel_sent = True
        self.last_error = None  # it answers again
        try:
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
