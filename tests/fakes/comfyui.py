"""Fake ComfyUI: a real server on loopback speaking the 0.3.64 HTTP + WebSocket protocol
(comfyui-protocol.md), so the studio's ComfyUI client runs unchanged against it.

Routes (each also under `/api/...`): `POST/GET /prompt`, `GET/POST /queue`, `POST /interrupt`,
`GET /history`, `GET /history/{prompt_id}`, `POST /history`, `GET /view`, `POST /upload/image`,
`GET /object_info`, `GET /object_info/{class}`, `GET /models`, `GET /models/{folder}`, `GET /embeddings`,
`GET /extensions`, `GET /system_stats`, `GET /features`, `POST /free`, websocket `/ws?clientId=`.

Validation is an independent port of 0.3.64's (see `comfyui_nodes.py`); node specs come from the
project's `workflows/comfyui_nodes.json` (+ `workflows/extra_nodes.json`). Execution runs in the fake's
own event loop, one prompt at a time in priority order (`number`, then arrival), with the observed event
order: `status`, `execution_start`, `execution_cached {nodes: [...]}`, per node `progress_state` +
`executing`, per sampler step `progress` (+ a binary JPEG preview when `previews` is on: type 1 after the
progress message, or type 4 with metadata before it for a client that sent the `feature_flags` first
frame), `executed` for output nodes, then `execution_success` — BEFORE the history entry is written
(`history_write_delay` later) — then `status`, then `executing {node: null}`. Output nodes write real files
(seeded PNGs, ffmpeg videos; see `comfyui_media.py`) that `/view` serves; pythongosssss's tagger node
`WD14Tagger|pysssss` reports `{"tags": ["a, b"]}` as the real one does, from its image's mean colour (`wd14_scores`).

Like the real server (execution.py, main.py's progress hook), an interrupt is seen only when a node starts
and after each sampler step (the step in progress ends first); a node that reports no progress runs to
its end first, so an interrupt that arrives during the last node (the save) does not stop the prompt.

Node output cache (0.3.64's classic cache, comfy_execution/caching.py): a node whose class, literal inputs
and upstream nodes (and, for LoadImage, the file's content) equal those of a node of the previous prompt
is not run again. It is listed in `execution_cached`; a cached output node sends `executed` with its old
UI output (no `executing`) and writes no new file, and the history lists the old files. Only nodes that
appear in the newest prompt stay cached; `/free` with `free_memory` and a restart drop the cache.

Knobs (public attributes; `reset()` restores the constructor's values):

* `job_seconds` (0.05): wall time of one prompt whose nodes all run, spread evenly over its sampler steps
  plus one final slot (spent in the nodes after the last sampler, before they write their files). The
  `history_write_delay` is part of it. A prompt whose nodes are all cached takes no time.
* `tail_seconds` (0.0): extra time without progress after the last sampler step (VAE decode, saving),
  shared by the nodes after the last sampler; an interrupt sent meanwhile is seen only when the next of
  those nodes starts, and not at all during the last one.
* `steps` (4): progress messages per sampler node when the graph gives no step count, and the cap on
  them when it does. `max` is always the graph's step count (KSampler/FramePack `steps`, the `sigmas`
  node's `steps` for SamplerCustom*); values are spread evenly and end at `max` (25 steps → 6, 12, 19, 25).
* `history_write_delay` (0.01 s): pause between `execution_success` and the history write (the §11.4 race).
* `models` (`DEFAULT_MODELS`): folder → file names; drives `/models`, the object_info choice lists and
  model-file validation. `missing_nodes` (empty set): classes hidden from object_info and rejected by
  `/prompt` like an uninstalled pack. `node_specs`: the spec dict itself (per instance copy).
* `require_uuid_prompt_id` (False): newer servers' 400 `invalid_prompt_id` for non-UUID client ids.
* `previews` (False, as 0.3.64's default `--preview-method none`): True sends binary preview frames
  (`--preview-method auto`); `progress_state` (True).
* `cache` (True): the node output cache above; False is `--cache-none` (every prompt runs every node).
* `hung` (False): the server's loop hangs — it accepts connections but answers no HTTP request and sends
  nothing on its websockets (no pongs either); the running prompt carries on (ComfyUI's worker thread
  does not hang with the loop). Set back to False, it answers the requests that still wait and delivers
  the held events; a request whose client gave up meanwhile is never processed (a cancel sent to a hung
  server is lost). Stopping or restarting the fake ends the hang.
* `max_images` (64): cap on the PNGs one SaveImage writes; `max_video_frames` (24) and
  `video_max_edge` (64 px): videos are tiny (the graph's aspect ratio, fewer frames than asked).
* `comfyui_version`, `devices`, `features`: what `/system_stats` and `/features` report.
* `training` (constructor only; None): ComfyUI's native LoRA training nodes — "0.3.64" (V1 names:
  `LoadImageTextSetFromFolderNode`, `SaveLoRANode`, ...) or "v3" (after PR #10708: `LoadImageTextDataSetFromFolder`,
  `MakeTrainingDataset`, `SaveLoRA`, ...; such a server reports version 0.3.70 and checks V3 combo values at
  submit time, as newer servers do). None is a server without them. `training_step_seconds` (0.01): the wall
  time of one TrainLoraNode step. Behaviour and traps: `comfyui_training.py`.
* `model_folders` (empty): folder → a real directory whose files `/models/{folder}` and the nodes' file choices
  (LoraLoader's `lora_name`, TrainLoraNode's `existing_lora`) list besides `models`, as extra_model_paths.yaml does.

Methods: `fail_next(message, count=, node_type=, exception_type=)` (the next `count` prompts — containing
a `node_type` node, when given — fail at run time with `execution_error` at that node, else at the first
sampler, else at the last node), `hold()` / `release()` (no new prompt starts while held), `drop_sockets()`
(abort every websocket's TCP connection; jobs keep running), `restart(lose_queue=True)` (stop listening,
lose the running prompt, the cache and — unless `lose_queue=False` — the pending queue and history; files
on disk stay; listen again on the same port), `reset()`, `close()` (stop and delete the temp dirs).

Records: `executions` (`Execution`: prompt_id, client_id, started_at, finished_at — `time.monotonic()` —
and status `running|success|error|interrupted|lost`), `history` (the entries), `free_calls` (`/free`
bodies), `uploads` (LoadImage-style name, e.g. `"sub/x.png"` or `"x.png [temp]"` → bytes),
`internal_errors` (exceptions inside the fake's executor; should stay empty), `dataset_loads` (what each training
folder loader read: files and captions).

`down = True` (base knob) stops the server: the running prompt goes back to the head of the queue and is
re-run after `down = False`; queue and history survive. `output_dir`, `input_dir`, `temp_dir`: the files.

Run-time failures (`fail_next`, v3 combo values and model files, literals given for link inputs, VHS
formats the fake cannot render, IPAdapterUnifiedLoader without a matching model) end the prompt at once
with `execution_error`; they do not wait out `job_seconds`.

Not reproduced: `/upload/mask`, `/view_metadata`, the `/internal` routes, the Origin check, newer servers'
`/api/jobs`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import hashlib
import heapq
import io
import itertools
import json
import logging
import mimetypes
import os
import shutil
import socket
import struct
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from PIL import Image, ImageStat
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.fakes.base import FakeServer, server_folder
from tests.fakes.comfyui_media import (
    GraphReader,
    RenderError,
    Shape,
    animated_bytes,
    draw_image,
    encode_video,
    png_bytes,
    preview_jpegs,
    save_path,
    temp_prefix,
    vhs_counter,
    video_frames,
    video_size,
)
from tests.fakes.comfyui_nodes import (
    DEFAULT_MODELS,
    SAMPLER_CLASSES,
    Catalog,
    PromptCrash,
    default_node_specs,
    runtime_failure,
    split_annotation,
    validate_prompt,
)
from tests.fakes.comfyui_training import (
    GENERATIONS,
    DatasetLoad,
    TrainingFailure,
    TrainingNodes,
    input_subfolders,
    training_node_specs,
)

__all__ = ["DEFAULT_MODELS", "RTX_3060", "Execution", "FakeComfyUI"]

log = logging.getLogger(__name__)

RTX_3060: dict[str, Any] = {
    "name": "cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync",
    "type": "cuda",
    "index": 0,
    "vram_total": 12884901888,
    "vram_free": 11811160064,
    "torch_vram_total": 134217728,
    "torch_vram_free": 100663296,
}

_SENSITIVE_EXTRA_DATA = ("auth_token_comfy_org", "api_key_comfy_org")
_MAX_HISTORY = 10000
_TRANSPORT_KEY = "fake_comfyui.transport"
_PREVIEW_IMAGE = 1
_PREVIEW_IMAGE_WITH_METADATA = 4
_JPEG = 1
_UNSAFE_CONTENT_TYPES = {"text/html", "text/html-sandboxed", "application/xhtml+xml", "text/javascript", "text/css"}
_VHS_FORMATS = {
    "video/h264-mp4": ("mp4", "h264"),
    "video/nvenc_h264-mp4": ("mp4", "h264"),
    "video/h265-mp4": ("mp4", "h265"),
    "video/nvenc_hevc-mp4": ("mp4", "h265"),
    "video/webm": ("webm", "vp9"),
    "video/av1-webm": ("webm", "vp9"),
    "image/gif": ("gif", "GIF"),
    "image/webp": ("webp", "WEBP"),
}
_T = TypeVar("_T")


@dataclass
class Execution:
    prompt_id: str
    client_id: str | None
    started_at: float
    finished_at: float | None = None
    status: str = "running"  # running | success | error | interrupted | lost
    queued_at: float | None = None  # when the prompt reached the server's queue


@dataclass
class _Job:
    number: float
    seq: int
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    discarded: bool = False
    queued_at: float = field(default_factory=time.monotonic)

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return None if value is None else str(value)

    def item(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


@dataclass
class _Failure:
    message: str
    count: int
    node_type: str | None
    exception_type: str


@dataclass(eq=False)
class _Client:
    sid: str
    websocket: WebSocket
    transport: Any
    queue: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)
    preview_metadata: bool = False

    def put(self, message: str | bytes) -> None:
        self.queue.put_nowait(message)


class _Interrupted(Exception):
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id


class _NodeFailed(Exception):
    def __init__(self, node_id: str, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.node_id = node_id
        self.exception_type = exception_type
        self.message = message


class _Gate:
    """Outermost user middleware: holds every request while the fake hangs (`hung`), and remembers a
    websocket's TCP transport so `drop_sockets` can abort it and a hang can stop reading from it."""

    def __init__(self, app: ASGIApp, fake: FakeComfyUI) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            transport = getattr(getattr(send, "__self__", None), "transport", None)
            if transport is not None:
                scope[_TRANSPORT_KEY] = transport
            await self.fake._answering_again()
        elif scope["type"] == "http" and self.fake.hung:
            held = await self._hold(receive)
            if held is None:
                return  # its client gave up while the server hung: the request is never processed
            receive = held
        await self.app(scope, receive, send)

    async def _hold(self, receive: Receive) -> Receive | None:
        """Wait out the hang, reading the request meanwhile; None when its client went away."""
        read: list[Message] = []

        async def read_until_gone() -> None:
            while (message := await receive())["type"] != "http.disconnect":
                read.append(message)

        reader = asyncio.create_task(read_until_gone())
        try:
            await self.fake._answering_again()
        finally:
            gone = reader.done() and not reader.cancelled() and reader.exception() is None
            reader.cancel()
        if gone:
            return None

        async def replay() -> Message:
            return read.pop(0) if read else await receive()

        return replay


def _server_trouble() -> Response:
    """aiohttp's answer when a handler raises (e.g. malformed JSON)."""
    return PlainTextResponse("500 Internal Server Error\n\nServer got itself in trouble", status_code=500)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


class FakeComfyUI(FakeServer):
    def __init__(
        self,
        *,
        comfyui_version: str | None = None,
        training: str | None = None,
        training_step_seconds: float = 0.01,
        devices: list[dict[str, Any]] | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
        job_seconds: float = 0.05,
        steps: int = 4,
        history_write_delay: float = 0.01,
        models: dict[str, list[str]] | None = None,
        missing_nodes: set[str] | None = None,
        require_uuid_prompt_id: bool = False,
    ) -> None:
        if training is not None and training not in GENERATIONS:
            raise ValueError(f"training={training!r}: choose one of {GENERATIONS} or None")
        self.training = training
        # The V3 training nodes came after 0.3.64 (PR #10708, 2025-11): such a server is newer.
        self.comfyui_version = comfyui_version or ("0.3.70" if training == "v3" else "0.3.64")
        self.devices: list[dict[str, Any]] = [dict(RTX_3060)] if devices is None else devices
        self.features: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}
        self._defaults: dict[str, Any] = {
            "job_seconds": job_seconds,
            "steps": steps,
            "history_write_delay": history_write_delay,
            "models": copy.deepcopy(DEFAULT_MODELS if models is None else models),
            "missing_nodes": set(missing_nodes or ()),
            "require_uuid_prompt_id": require_uuid_prompt_id,
            "training_step_seconds": training_step_seconds,
        }

        base = server_folder("fake-comfyui-")
        self._base_dir = base
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(base), True)
        self.output_dir, self.input_dir, self.temp_dir = base / "output", base / "input", base / "temp"
        self._make_dirs()

        # In-memory server state (lost on restart).
        self.history: dict[str, dict[str, Any]] = {}
        self.executions: list[Execution] = []
        self.free_calls: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.dataset_loads: list[DatasetLoad] = []  # what the training folder loaders read, in order
        self.internal_errors: list[BaseException] = []
        self._pending: list[tuple[float, int, _Job]] = []
        self._running: _Job | None = None
        self._seq = itertools.count()
        self._number = 0
        self._held = False
        self._failures: list[_Failure] = []
        self._sockets: dict[str, _Client] = {}
        self._open_clients: set[_Client] = set()
        self._last_node: str | None = None
        self._previews = preview_jpegs()

        # Bound to the serving event loop (re-created on every start).
        self._serving_loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._wake: asyncio.Event | None = None
        self._interrupt = False
        self._lost_on_stop: _Job | None = None
        self._current_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Future[Any]] = set()
        self._answering: asyncio.Event | None = None  # cleared while the server hangs
        self._hung = False
        # The node output cache: a node's signature → its UI output (None for nodes without one).
        self._cache: dict[str, dict[str, Any] | None] = {}
        self._training_values: dict[str, tuple[Any, ...]] = {}  # training nodes' outputs, cached like `_cache`
        self._drop_cache = False  # `/free` with free_memory: dropped before the next prompt
        self._restore_knobs()
        super().__init__(latency=latency, fail_with=fail_with)

    # --- knobs and test controls -----------------------------------------------------------------

    def _restore_knobs(self) -> None:
        d = self._defaults
        self.job_seconds: float = d["job_seconds"]
        self.steps: int = d["steps"]
        self.history_write_delay: float = d["history_write_delay"]
        self.models: dict[str, list[str]] = copy.deepcopy(d["models"])
        # folder -> a real directory whose files `/models/{folder}` also lists (a loras folder the studio copies to).
        self.model_folders: dict[str, Path] = {}
        self.missing_nodes: set[str] = set(d["missing_nodes"])
        self.require_uuid_prompt_id: bool = d["require_uuid_prompt_id"]
        self.node_specs: dict[str, dict[str, Any]] = default_node_specs()
        if self.training is not None:
            self.node_specs.update(training_node_specs(self.training))
        self.training_step_seconds: float = d["training_step_seconds"]
        self.tail_seconds = 0.0
        self.previews = False
        self.cache = True
        self.hung = False
        self.progress_state = True
        self.max_images = 64
        self.max_video_frames = 24
        self.video_max_edge = 64

    def fail_next(
        self,
        message: str = "Fake failure injected by the test",
        *,
        count: int = 1,
        node_type: str | None = None,
        exception_type: str = "RuntimeError",
    ) -> None:
        """The next `count` prompts (that contain a `node_type` node, if given) fail with `execution_error`."""
        self._failures.append(_Failure(message, count, node_type, exception_type))

    def hold(self) -> None:
        """Prompts stay pending (the running one finishes) until `release()`."""
        self._held = True

    def release(self) -> None:
        self._held = False
        self._call_in_loop(self._notify)

    @property
    def hung(self) -> bool:
        return self._hung

    @hung.setter
    def hung(self, value: bool) -> None:
        self._hung = value
        self._call_in_loop(self._apply_hang)

    def drop_sockets(self) -> None:
        """Abort every open websocket's TCP connection (no close frame); running jobs continue."""
        self._call_in_loop(self._drop_sockets)

    def restart(self, *, lose_queue: bool = True) -> None:
        """Simulate a ComfyUI restart on the same port: the running prompt is lost, and with `lose_queue`
        the pending queue and history too (files on disk survive, as they would)."""
        self.stop()
        lost, self._lost_on_stop = self._lost_on_stop, None
        if lost is not None:
            self._pending = [entry for entry in self._pending if entry[2] is not lost]
            heapq.heapify(self._pending)
        if lose_queue:
            self._pending.clear()
            self.history.clear()
        self._cache.clear()
        self._training_values.clear()
        self._number = 0
        self.start()

    def reset(self) -> None:
        """Healthy and listening, empty queue/history/uploads/records, no sockets, the constructor's knobs."""
        super().reset()
        self._call_in_loop(self._reset_state)
        self._restore_knobs()
        for directory in (self.output_dir, self.input_dir, self.temp_dir):
            shutil.rmtree(directory, ignore_errors=True)
        self._make_dirs()

    def start(self) -> str:
        self._make_dirs()
        return super().start()

    def stop(self) -> None:
        """Stop listening. A hung server's process goes with it: it comes back answering."""
        self.hung = False
        super().stop()

    def close(self) -> None:
        """Stop and delete the fake's temp dirs (also done by `with FakeComfyUI() as fake:`)."""
        self.stop()
        self._cleanup()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def queue_running(self) -> list[list[Any]]:
        return [self._running.item()] if self._running is not None else []

    @property
    def queue_pending(self) -> list[list[Any]]:
        """In heap order, like the real server (sort by item[0] for positions)."""
        return [entry[2].item() for entry in self._pending]

    def _make_dirs(self) -> None:
        for directory in (self.output_dir, self.input_dir, self.temp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    @property
    def _dirs(self) -> dict[str, Path]:
        return {"output": self.output_dir, "input": self.input_dir, "temp": self.temp_dir}

    # --- loop plumbing ---------------------------------------------------------------------------

    async def _serve(self, server: Any, sock: socket.socket) -> None:
        # Accepted sockets inherit TCP_NODELAY from the listener on Linux; without it a response written
        # as headers + body waits ~40 ms for the client's delayed ACK (Nagle), which would swamp job timings.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._serving_loop = asyncio.get_running_loop()
        self._loop_thread = threading.current_thread()
        self._wake = asyncio.Event()
        self._answering = asyncio.Event()
        self._apply_hang()
        executor = asyncio.create_task(self._executor())
        try:
            await super()._serve(server, sock)
        finally:
            executor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await executor
            self._sockets.clear()
            self._open_clients.clear()
            self._answering = None
            self._serving_loop = None
            self._loop_thread = None

    def _call_in_loop(self, fn: Callable[[], _T]) -> _T | None:
        """Run `fn` in the serving loop's thread (or directly when not serving) and wait for it."""
        loop, thread = self._serving_loop, self._loop_thread
        if loop is None or thread is None or not thread.is_alive() or loop.is_closed():
            return fn()
        if threading.current_thread() is thread:
            return fn()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _apply_hang(self) -> None:
        if self._answering is None:
            return
        if self._hung:
            self._answering.clear()
        else:
            self._answering.set()
        for client in self._open_clients:  # no frames read, so no pongs: the socket stays silent both ways
            if client.transport is not None and not client.transport.is_closing():
                if self._hung:
                    client.transport.pause_reading()
                else:
                    client.transport.resume_reading()

    async def _answering_again(self) -> None:
        """Return at once, or when the hang ends."""
        if self._answering is not None:
            await self._answering.wait()

    def _drop_sockets(self) -> None:
        for client in list(self._open_clients):
            if self._sockets.get(client.sid) is client:
                del self._sockets[client.sid]
            if client.transport is not None:
                client.transport.abort()
            else:  # not served by uvicorn's protocol objects: close with an error code instead
                closing = asyncio.ensure_future(client.websocket.close(code=1011))
                self._background.add(closing)
                closing.add_done_callback(self._background.discard)
        self._open_clients.clear()

    def _reset_state(self) -> None:
        running, task = self._running, self._current_task
        if running is not None:
            running.discarded = True
        if task is not None:
            task.cancel()  # the executor sees a cancelled task and moves on; nothing is recorded
        self._pending.clear()
        self._running = None
        self._last_node = None
        self._interrupt = False
        self.history.clear()
        self.executions.clear()
        self.free_calls.clear()
        self.uploads.clear()
        self.dataset_loads.clear()
        self.internal_errors.clear()
        self._failures.clear()
        self._cache.clear()
        self._training_values.clear()
        self._drop_cache = False
        self._held = False
        self._number = 0
        self._drop_sockets()

    # --- routes ----------------------------------------------------------------------------------

    def register_routes(self, app: FastAPI) -> None:
        app.add_middleware(_Gate, fake=self)
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", "/system_stats", self.system_stats),
            ("GET", "/features", self.get_features),
            ("GET", "/queue", self.queue),
            ("POST", "/queue", self.post_queue),
            ("GET", "/prompt", self.get_prompt),
            ("POST", "/prompt", self.post_prompt),
            ("POST", "/interrupt", self.post_interrupt),
            ("GET", "/history", self.get_history),
            ("GET", "/history/{prompt_id}", self.get_history_item),
            ("POST", "/history", self.post_history),
            ("GET", "/view", self.view),
            ("POST", "/upload/image", self.upload_image),
            ("GET", "/object_info", self.object_info),
            ("GET", "/object_info/{node_class}", self.object_info_one),
            ("GET", "/models", self.get_models),
            ("GET", "/models/{folder}", self.get_model_folder),
            ("GET", "/embeddings", self.get_embeddings),
            ("GET", "/extensions", self.get_extensions),
            ("POST", "/free", self.post_free),
        ]
        for prefix in ("", "/api"):
            for method, path, endpoint in routes:
                app.add_api_route(prefix + path, endpoint, methods=[method])
            app.add_api_websocket_route(prefix + "/ws", self.websocket)

    async def system_stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": "posix",
                "ram_total": 33396264960,
                "ram_free": 27917287424,
                "comfyui_version": self.comfyui_version,
                "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": "3.11.7 (main, Dec  8 2023, 18:56:58) [GCC 11.4.0]",
                "pytorch_version": "2.8.0+cu128",
                "embedded_python": False,
                # What the server was started with: the studio reads `--preview-method` from it.
                "argv": ["main.py", "--listen", "127.0.0.1", "--port", "8188"]
                + (["--preview-method", "auto"] if self.previews else []),
            },
            "devices": self.devices,
        }

    async def get_features(self) -> dict[str, Any]:
        return self.features

    async def queue(self) -> dict[str, Any]:
        return {"queue_running": self.queue_running, "queue_pending": self.queue_pending}

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self._pending) + (1 if self._running else 0)}}

    async def get_prompt(self) -> dict[str, Any]:
        return self._queue_info()

    def _catalog(self) -> Catalog:
        return Catalog(
            self.node_specs,
            self._listed_models(),
            self.missing_nodes,
            self._list_inputs,
            self._input_exists,
            input_folders=lambda: input_subfolders(self.input_dir),
            checks_v3_combos=self.training == "v3",
        )

    def _list_inputs(self) -> list[str]:
        return sorted(p.name for p in self.input_dir.iterdir() if p.is_file())

    def _annotated_path(self, value: str) -> Path:
        name, kind = split_annotation(value)
        return self._dirs[kind or "input"] / name

    def _input_exists(self, value: str) -> bool:
        return self._annotated_path(value).exists()

    def _input_image_size(self, value: Any) -> tuple[int, int] | None:
        if not isinstance(value, str):
            return None
        try:
            with Image.open(self._annotated_path(value)) as image:
                return image.size
        except (OSError, ValueError):
            return None

    async def post_prompt(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            return self._queue_prompt(body)
        except Exception:
            return _server_trouble()

    def _queue_prompt(self, body: Any) -> Response:
        explicit_number = "number" in body
        if explicit_number:
            number: float = float(body["number"])
        else:
            number = self._number
            if body.get("front"):
                number = -number
            self._number += 1
        if "prompt" not in body:
            error = {
                "type": "no_prompt",
                "message": "No prompt provided",
                "details": "No prompt provided",
                "extra_info": {},
            }
            return JSONResponse({"error": error, "node_errors": {}}, status_code=400)
        prompt = body["prompt"]
        prompt_id = str(body["prompt_id"]) if "prompt_id" in body else str(uuid.uuid4())
        if self.require_uuid_prompt_id and "prompt_id" in body and not _canonical_uuid(prompt_id):
            error = {
                "type": "invalid_prompt_id",
                "message": "Invalid prompt_id format",
                "details": f"prompt_id must be a valid UUID, got: {prompt_id}",
                "extra_info": {},
            }
            return JSONResponse({"error": error, "node_errors": {}}, status_code=400)
        try:
            result = validate_prompt(self._catalog(), prompt, body.get("partial_execution_targets"))
        except PromptCrash:
            return _server_trouble()
        extra_data = body.get("extra_data", {})
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not result.ok:
            return JSONResponse({"error": result.error, "node_errors": result.node_errors}, status_code=400)
        job = _Job(number, next(self._seq), prompt_id, prompt, extra_data, result.good_outputs)
        heapq.heappush(self._pending, (number, job.seq, job))
        self._emit(None, "status", {"status": self._queue_info()})
        self._notify()
        return JSONResponse({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    async def post_queue(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if body.get("clear"):
                self._pending.clear()
                self._emit(None, "status", {"status": self._queue_info()})
            if "delete" in body:
                for prompt_id in body["delete"]:
                    kept = [entry for entry in self._pending if entry[2].prompt_id != prompt_id]
                    if len(kept) != len(self._pending):
                        self._pending = kept
                        heapq.heapify(self._pending)
                        self._emit(None, "status", {"status": self._queue_info()})
        except Exception:
            return _server_trouble()
        return Response(status_code=200)

    async def post_interrupt(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = {}
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if not prompt_id or (self._running is not None and self._running.prompt_id == prompt_id):
            self._interrupt = True
        return Response(status_code=200)

    async def get_history(self, request: Request) -> Response:
        try:
            max_items = request.query_params.get("max_items")
            limit = int(max_items) if max_items is not None else None
            offset_value = request.query_params.get("offset")
            offset = int(offset_value) if offset_value is not None else -1
        except ValueError:
            return _server_trouble()
        if offset < 0 and limit is not None:
            offset = len(self.history) - limit
        out: dict[str, Any] = {}
        for i, (prompt_id, entry) in enumerate(list(self.history.items())):
            if i >= offset:
                out[prompt_id] = entry
                if limit is not None and len(out) >= limit:
                    break
        return JSONResponse(out)

    async def get_history_item(self, prompt_id: str) -> dict[str, Any]:
        entry = self.history.get(prompt_id)
        return {} if entry is None else {prompt_id: entry}

    async def post_history(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if body.get("clear"):
                self.history.clear()
            if "delete" in body:
                for prompt_id in body["delete"]:
                    self.history.pop(prompt_id, None)
        except Exception:
            return _server_trouble()
        return Response(status_code=200)

    async def post_free(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            self.free_calls.append(dict(body))
            if body.get("free_memory"):
                self._drop_cache = True
        except Exception:
            return _server_trouble()
        return Response(status_code=200)

    async def object_info(self) -> dict[str, Any]:
        catalog = self._catalog()
        return {name: catalog.node_info(name) for name in catalog.classes()}

    async def object_info_one(self, node_class: str) -> dict[str, Any]:
        catalog = self._catalog()
        return {node_class: catalog.node_info(node_class)} if catalog.has(node_class) else {}

    async def get_models(self) -> list[str]:
        return list(self.models)

    async def get_model_folder(self, folder: str) -> Response:
        if folder not in self.models:
            return Response(status_code=404)
        return JSONResponse(self._listed_models()[folder])

    def _listed_models(self) -> dict[str, list[str]]:
        """`models` plus the files in `model_folders`: what /models/{folder} and the node choices list alike."""
        listed = {}
        for folder, names in self.models.items():
            # A folder on disk lists its files as ComfyUI's folder_paths does: recursive, "/"-separated names.
            root = self.model_folders.get(folder)
            on_disk = (
                [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
                if root is not None and root.is_dir()
                else []
            )
            listed[folder] = sorted({*names, *on_disk})
        return listed

    async def get_embeddings(self) -> list[str]:
        return [os.path.splitext(name)[0] for name in self.models.get("embeddings", [])]

    async def get_extensions(self) -> list[str]:
        return []

    async def view(self, request: Request) -> Response:
        return self._view(dict(request.query_params))

    def _view(self, query: dict[str, str]) -> Response:
        if "filename" not in query:
            return Response(status_code=404)
        filename, annotated = split_annotation(query["filename"])
        if not filename:
            return Response(status_code=400)
        if filename[0] == "/" or ".." in filename:
            return Response(status_code=400)
        base = self._dirs.get(annotated or query.get("type", "output"))
        if base is None:
            return Response(status_code=400)
        folder = str(base)
        if "subfolder" in query:
            full = os.path.join(folder, query["subfolder"])
            if os.path.commonpath((os.path.abspath(full), folder)) != folder:
                return Response(status_code=403)
            folder = full
        filename = os.path.basename(filename)
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            return Response(status_code=404)
        headers = {"Content-Disposition": f'filename="{filename}"'}
        channel = query.get("channel", "rgba")
        if "preview" in query:
            preview = query["preview"].split(";")
            wants_alpha = "a" in query.get("channel", "")
            image_format = preview[0] if preview[0] in ("webp", "jpeg") and not wants_alpha else "webp"
            quality = int(preview[-1]) if preview[-1].isdigit() else 90
            with Image.open(path) as image:
                converted = image.convert("RGB") if image_format == "jpeg" or channel == "rgb" else image.copy()
            buffer = io.BytesIO()
            converted.save(buffer, format=image_format.upper(), quality=quality)
            return Response(buffer.getvalue(), media_type=f"image/{image_format}", headers=headers)
        if channel in ("rgb", "a"):
            with Image.open(path) as image:
                if channel == "rgb":
                    converted = image.convert("RGB")
                else:
                    converted = Image.new("RGBA", image.size)
                    converted.putalpha(image.convert("RGBA").getchannel("A"))
            return Response(png_bytes(converted), media_type="image/png", headers=headers)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type in _UNSAFE_CONTENT_TYPES:
            content_type = "application/octet-stream"
        return Response(Path(path).read_bytes(), media_type=content_type, headers=headers)

    async def upload_image(self, request: Request) -> Response:
        try:
            form = await request.form()
        except Exception:
            return _server_trouble()
        upload_type = form.get("type")
        if upload_type is None:
            upload_type = "input"
        if upload_type not in self._dirs:
            return _server_trouble()  # get_dir_by_type leaves its directory unbound → the handler crashes
        image = form.get("image")
        if not isinstance(image, UploadFile):
            return Response(status_code=400)
        if not image.filename:
            return Response(status_code=400)
        data = await image.read()
        subfolder = str(form.get("subfolder", ""))
        return self._store_upload(str(upload_type), subfolder, image.filename, data, form.get("overwrite"))

    def _store_upload(self, upload_type: str, subfolder: str, filename: str, data: bytes, overwrite: Any) -> Response:
        upload_dir = str(self._dirs[upload_type])
        folder = os.path.join(upload_dir, os.path.normpath(subfolder))
        filepath = os.path.abspath(os.path.join(folder, filename))
        if os.path.commonpath((upload_dir, filepath)) != upload_dir:
            return Response(status_code=400)
        os.makedirs(folder, exist_ok=True)
        duplicate = False
        if overwrite not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            i = 1
            while os.path.exists(filepath):
                if Path(filepath).read_bytes() == data:
                    duplicate = True
                    break
                filename = f"{stem} ({i}){ext}"
                filepath = os.path.join(folder, filename)
                i += 1
        if not duplicate:
            Path(filepath).write_bytes(data)
        key = f"{subfolder.strip('/')}/{filename}" if subfolder.strip("/") else filename
        self.uploads[key if upload_type == "input" else f"{key} [{upload_type}]"] = data
        return JSONResponse({"name": filename, "subfolder": subfolder, "type": upload_type})

    # --- websocket -------------------------------------------------------------------------------

    async def websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        sid = websocket.query_params.get("clientId") or uuid.uuid4().hex
        client = _Client(sid, websocket, websocket.scope.get(_TRANSPORT_KEY))
        self._sockets[sid] = client  # a reconnect replaces the old socket (which is left open, unused)
        self._open_clients.add(client)
        writer = asyncio.create_task(self._write(client))
        client.put(json.dumps({"type": "status", "data": {"status": self._queue_info(), "sid": sid}}))
        if self._running is not None and self._running.client_id == sid and self._last_node is not None:
            client.put(json.dumps({"type": "executing", "data": {"node": self._last_node}}))
        first = True
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    continue
                try:
                    data = json.loads(text)
                    if first and isinstance(data, dict) and data.get("type") == "feature_flags":
                        flags = data.get("data") or {}
                        client.preview_metadata = bool(flags.get("supports_preview_metadata"))
                        client.put(json.dumps({"type": "feature_flags", "data": self.features}))
                except ValueError:
                    pass
                first = False
        except Exception:  # the connection broke mid-receive
            pass
        finally:
            if self._sockets.get(sid) is client:
                del self._sockets[sid]
            self._open_clients.discard(client)
            writer.cancel()

    async def _write(self, client: _Client) -> None:
        try:
            while True:
                message = await client.queue.get()
                await self._answering_again()
                if isinstance(message, bytes):
                    await client.websocket.send_bytes(message)
                else:
                    await client.websocket.send_text(message)
        except Exception:  # client went away: stop writing, the reader side cleans up
            if self._sockets.get(client.sid) is client:
                del self._sockets[client.sid]

    def _targets(self, client_id: str | None) -> list[_Client]:
        if client_id is None:
            return list(self._sockets.values())
        client = self._sockets.get(client_id)
        return [client] if client is not None else []

    def _emit(self, client_id: str | None, event: str, data: dict[str, Any]) -> None:
        """Queue a JSON event for one client, or every client when `client_id` is None (send_sync)."""
        targets = self._targets(client_id)
        if targets:
            text = json.dumps({"type": event, "data": data})
            for client in targets:
                client.put(text)

    def _emit_progress(
        self, client_id: str | None, prompt_id: str, node_id: str, value: int, maximum: int, jpeg: bytes | None
    ) -> None:
        targets = self._targets(client_id)
        if jpeg is not None:
            metadata = json.dumps(
                {
                    "node_id": node_id,
                    "prompt_id": prompt_id,
                    "display_node_id": node_id,
                    "parent_node_id": None,
                    "real_node_id": node_id,
                    "image_type": "image/jpeg",
                }
            ).encode()
            with_metadata = struct.pack(">II", _PREVIEW_IMAGE_WITH_METADATA, len(metadata)) + metadata + jpeg
            for client in targets:
                if client.preview_metadata:
                    client.put(with_metadata)
        text = json.dumps(
            {"type": "progress", "data": {"value": value, "max": maximum, "prompt_id": prompt_id, "node": node_id}}
        )
        for client in targets:
            client.put(text)
        if jpeg is not None:
            plain = struct.pack(">II", _PREVIEW_IMAGE, _JPEG) + jpeg
            for client in targets:
                if not client.preview_metadata:
                    client.put(plain)

    def _emit_progress_state(self, client_id: str | None, prompt_id: str, states: dict[str, Any]) -> None:
        if self.progress_state:
            self._emit(client_id, "progress_state", {"prompt_id": prompt_id, "nodes": copy.deepcopy(states)})

    # --- execution -------------------------------------------------------------------------------

    async def _executor(self) -> None:
        assert self._wake is not None
        while True:
            while self._held or not self._pending:
                self._wake.clear()
                await self._wake.wait()
            _, _, job = heapq.heappop(self._pending)
            self._running = job
            self._emit(None, "status", {"status": self._queue_info()})
            task = asyncio.create_task(self._run(job))
            self._current_task = task
            try:
                await asyncio.wait({task})
            except asyncio.CancelledError:  # the server is stopping
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                if not job.discarded and self._running is job:
                    heapq.heappush(self._pending, (job.number, job.seq, job))
                    self._lost_on_stop = job
                for record in self.executions:
                    if record.prompt_id == job.prompt_id and record.status == "running":
                        record.status, record.finished_at = "lost", time.monotonic()
                self._running = None
                self._last_node = None
                raise
            finally:
                self._current_task = None
            if not task.cancelled() and task.exception() is not None:
                exc = task.exception()
                assert exc is not None
                self.internal_errors.append(exc)
                log.error("fake ComfyUI executor failed on %s", job.prompt_id, exc_info=exc)
            if self._running is job:
                self._running = None

    @staticmethod
    async def _sleep_until(deadline: float) -> None:
        """Sleep until `deadline` (time.monotonic()); nothing wakes it early, as nothing cuts a step short."""
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    def _take_failure(self, classes: set[str]) -> _Failure | None:
        for failure in self._failures:
            if failure.node_type is None or failure.node_type in classes:
                failure.count -= 1
                if failure.count <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    @staticmethod
    def _order(prompt: dict[str, Any], outputs: list[str], cached: set[str]) -> list[str]:
        """The nodes to execute, inputs first: the outputs, and the nodes they need that are not cached."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node_id: str) -> None:
            if node_id in seen:
                return
            seen.add(node_id)
            if node_id not in cached:
                for value in prompt[node_id].get("inputs", {}).values():
                    if _is_link(value) and value[0] in prompt and value[0] not in cached:
                        visit(value[0])
            order.append(node_id)

        for output in outputs:
            visit(output)
        return order

    def _signatures(self, prompt: dict[str, Any]) -> dict[str, str]:
        """Each node's cache key, like caching.py's input signature: class, IS_CHANGED, literal inputs and
        the keys of the nodes linked in (node ids and `_meta` do not count)."""
        keys: dict[str, str] = {}

        def key(node_id: str, trail: frozenset[str]) -> str:
            if node_id in keys:
                return keys[node_id]
            node = prompt[node_id]
            inputs = node.get("inputs", {})
            parts: list[Any] = [node.get("class_type"), self._changed(node)]
            for name in sorted(inputs):
                value = inputs[name]
                if _is_link(value) and value[0] in prompt and value[0] not in trail:
                    parts.append([name, key(value[0], trail | {node_id}), value[1]])
                else:
                    parts.append([name, value])
            keys[node_id] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
            return keys[node_id]

        for node_id in prompt:
            key(node_id, frozenset())
        return keys

    def _changed(self, node: dict[str, Any]) -> str | None:
        """LoadImage's IS_CHANGED: the input file's sha256, so a re-uploaded image is a new input."""
        value = node.get("inputs", {}).get("image")
        if node.get("class_type") not in ("LoadImage", "LoadImageMask") or not isinstance(value, str):
            return None
        try:
            return hashlib.sha256(self._annotated_path(value).read_bytes()).hexdigest()
        except (OSError, KeyError):
            return None

    async def _run(self, job: _Job) -> None:
        started = time.monotonic()
        record = Execution(job.prompt_id, job.client_id, started, queued_at=job.queued_at)
        self.executions.append(record)
        prompt, pid, cid = job.prompt, job.prompt_id, job.client_id
        self._interrupt = False
        messages: list[list[Any]] = []

        def add_message(event: str, data: dict[str, Any], broadcast: bool) -> None:
            data = {**data, "timestamp": _now_ms()}
            messages.append([event, data])
            if cid is not None or broadcast:
                self._emit(cid, event, data)

        catalog = self._catalog()
        reader = GraphReader(prompt, self._input_image_size)
        keys = self._signatures(prompt)
        if self._drop_cache or not self.cache:
            self._cache.clear()
            self._drop_cache = False
        # The classic cache keeps only what the newest prompt uses.
        self._cache = {key: ui for key, ui in self._cache.items() if key in set(keys.values())}
        self._training_values = {k: v for k, v in self._training_values.items() if k in self._cache}
        training = (
            TrainingNodes(
                self.training,
                self.input_dir,
                self.output_dir,
                self.temp_dir,
                self.training_step_seconds,
                self._training_values,
                self.dataset_loads,
            )
            if self.training is not None
            else None
        )

        async def on_training_step(node_id: str, step: int, steps: int) -> None:
            # V3's ProgressBar reaches main.py's progress hook (a `progress` event, then the interrupt check);
            # 0.3.64 trains under tqdm only, so nothing is sent and an interrupt waits for the next node.
            if training is None or not training.reports_progress:
                return
            states[node_id] = _node_state(pid, node_id, "running", step, steps)
            self._emit_progress_state(cid, pid, states)
            self._emit_progress(cid, pid, node_id, step, steps, None)
            if self._interrupt:
                raise _Interrupted(node_id)

        cached = [n for n in prompt if keys[n] in self._cache]
        order = self._order(prompt, job.outputs, set(cached))
        running = [n for n in order if n not in cached]
        failure = self._take_failure({prompt[n]["class_type"] for n in running}) if running else None
        fail_at: str | None = None
        if failure is not None:
            candidates = (
                [n for n in running if prompt[n]["class_type"] == failure.node_type] if failure.node_type else []
            )
            candidates = candidates or [n for n in running if prompt[n]["class_type"] in SAMPLER_CLASSES]
            fail_at = (candidates or running[-1:])[0]

        plan: dict[str, tuple[int, int]] = {}  # sampler node → (messages, max)
        for node_id in running:
            if prompt[node_id]["class_type"] in SAMPLER_CLASSES:
                graph_steps = reader.sampler_steps(node_id)
                maximum = graph_steps or max(1, self.steps)
                plan[node_id] = (max(1, min(maximum, self.steps)), maximum)
        # A prompt answered from the cache takes no time; otherwise the sampler steps take one slot each,
        # and the nodes after the last sampler share the final slot and `tail_seconds`, without progress.
        budget = max(0.0, self.job_seconds - self.history_write_delay) if running else 0.0
        steps_total = sum(n for n, _ in plan.values())
        slot = budget / (steps_total + 1)
        tail = running[max((running.index(n) for n in plan), default=-1) + 1 :]
        tail_share = (slot + self.tail_seconds) / max(1, len(tail))
        end = started + budget + (self.tail_seconds if running else 0.0)

        executed: list[str] = []
        outputs: dict[str, Any] = {}
        states: dict[str, dict[str, Any]] = {}
        tick = 0
        outcome = "success"
        add_message("execution_start", {"prompt_id": pid}, False)
        add_message("execution_cached", {"nodes": cached, "prompt_id": pid}, False)
        node_id = order[0]
        try:
            for node_id in order:
                class_type = prompt[node_id]["class_type"]
                if node_id in cached:
                    # execute() answers a cached output node from the cache: its old UI output, no
                    # `executing`, no new file.
                    if cid is not None:
                        self._emit(
                            cid,
                            "executed",
                            {
                                "node": node_id,
                                "display_node": node_id,
                                "output": self._cache[keys[node_id]],
                                "prompt_id": pid,
                            },
                        )
                    states[node_id] = _node_state(pid, node_id, "finished", 1, 1)
                    self._emit_progress_state(cid, pid, states)
                    continue
                inputs = prompt[node_id].get("inputs", {})
                states[node_id] = _node_state(pid, node_id, "running", 0, 1)
                self._emit_progress_state(cid, pid, states)
                self._last_node = node_id
                if cid is not None:
                    self._emit(cid, "executing", {"node": node_id, "display_node": node_id, "prompt_id": pid})
                if self._interrupt:  # nodes.before_node_execution()
                    raise _Interrupted(node_id)
                problem = runtime_failure(catalog, class_type, inputs)
                if problem is None and node_id == fail_at and failure is not None:
                    problem = (failure.exception_type, failure.message)
                if problem is not None:
                    raise _NodeFailed(node_id, *problem)
                if node_id in plan:
                    count, maximum = plan[node_id]
                    seed = reader.seed(node_id)
                    for i in range(1, count + 1):
                        tick += 1
                        await self._sleep_until(started + slot * tick)
                        if self._interrupt:  # main.py's progress hook, once the step is done
                            raise _Interrupted(node_id)
                        value = round(i * maximum / count)
                        states[node_id] = _node_state(pid, node_id, "running", value, maximum)
                        self._emit_progress_state(cid, pid, states)
                        jpeg = self._previews[(seed + i) % len(self._previews)] if self.previews else None
                        self._emit_progress(cid, pid, node_id, value, maximum, jpeg)
                elif node_id in tail:
                    # No progress, so no interrupt check: the node runs to its end.
                    await self._sleep_until(started + slot * steps_total + tail_share * (tail.index(node_id) + 1))
                ui = None
                trained = training is not None and training.handles(class_type)
                if training is not None and trained:
                    try:
                        ui = await training.run(node_id, class_type, inputs, keys, on_training_step)
                    except TrainingFailure as exc:
                        raise _NodeFailed(node_id, exc.exception_type, str(exc)) from exc
                if catalog.is_output(class_type):
                    try:
                        if not trained:
                            ui = await self._render(node_id, class_type, reader)
                    except RenderError as exc:
                        raise _NodeFailed(node_id, exc.exception_type, str(exc)) from exc
                    if ui is not None:
                        outputs[node_id] = ui
                        if cid is not None:
                            self._emit(
                                cid,
                                "executed",
                                {"node": node_id, "display_node": node_id, "output": ui, "prompt_id": pid},
                            )
                if self.cache:
                    self._cache[keys[node_id]] = ui
                executed.append(node_id)
                done = states[node_id]["max"]
                states[node_id] = _node_state(pid, node_id, "finished", done, done)
                self._emit_progress_state(cid, pid, states)
            await self._sleep_until(end)
            add_message("execution_success", {"prompt_id": pid}, False)
        except _Interrupted as exc:
            outcome = "interrupted"
            add_message(
                "execution_interrupted",
                {
                    "prompt_id": pid,
                    "node_id": exc.node_id,
                    "node_type": prompt[exc.node_id]["class_type"],
                    "executed": list(executed),
                },
                True,
            )
        except _NodeFailed as exc:
            outcome = "error"
            states[exc.node_id] = _node_state(pid, exc.node_id, "error", states[exc.node_id]["value"], 1)
            self._emit_progress_state(cid, pid, states)
            add_message(
                "execution_error",
                {
                    "prompt_id": pid,
                    "node_id": exc.node_id,
                    "node_type": prompt[exc.node_id]["class_type"],
                    "executed": list(executed),
                    "exception_message": exc.message,
                    "exception_type": exc.exception_type,
                    "traceback": _fake_traceback(catalog, prompt[exc.node_id]["class_type"], exc),
                    "current_inputs": _current_inputs(catalog, prompt, exc.node_id),
                    "current_outputs": list(executed),
                },
                False,
            )
        self._last_node = None
        if self.cache:  # the history lists the UI outputs the cache holds for this prompt's nodes
            for node_id in prompt:
                if self._cache.get(keys[node_id]) is not None:
                    outputs.setdefault(node_id, self._cache[keys[node_id]])
        meta = {
            node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
            for node_id in outputs
        }

        # The §11.4 race: execution_success (or the error) is out before the history entry exists.
        await asyncio.sleep(self.history_write_delay)
        extra_data = {k: v for k, v in job.extra_data.items() if k not in _SENSITIVE_EXTRA_DATA}
        self.history[pid] = {
            "prompt": [job.number, pid, prompt, extra_data, list(job.outputs)],
            "outputs": outputs,
            "status": {
                "status_str": "success" if outcome == "success" else "error",
                "completed": outcome == "success",
                "messages": messages,
            },
            "meta": meta,
        }
        while len(self.history) > _MAX_HISTORY:
            self.history.pop(next(iter(self.history)))
        if self._running is job:
            self._running = None
        record.finished_at = time.monotonic()
        record.status = outcome
        self._emit(None, "status", {"status": self._queue_info()})
        if cid is not None:
            self._emit(cid, "executing", {"node": None, "prompt_id": pid})

    # --- output nodes ----------------------------------------------------------------------------

    async def _render(self, node_id: str, class_type: str, reader: GraphReader) -> dict[str, Any] | None:
        shape = reader.linked_shape(node_id) or Shape()
        seed = reader.seed(node_id)
        if class_type in ("SaveImage", "PreviewImage"):
            preview = class_type == "PreviewImage"
            prefix = temp_prefix() if preview else str(reader.literal(node_id, "filename_prefix", "ComfyUI"))
            root = self.temp_dir if preview else self.output_dir
            count = max(1, min(shape.count, self.max_images))
            images = await asyncio.to_thread(self._save_images, prefix, root, shape, count, seed, preview)
            return {"images": images}
        if class_type in ("SaveAnimatedWEBP", "SaveAnimatedPNG", "SaveWEBM"):
            prefix = str(reader.literal(node_id, "filename_prefix", "ComfyUI"))
            fps = float(reader.literal(node_id, "fps", 6.0))
            ext = {"SaveAnimatedWEBP": "webp", "SaveAnimatedPNG": "png", "SaveWEBM": "webm"}[class_type]
            folder, name, counter, subfolder = save_path(prefix, self.output_dir)
            path = folder / f"{name}_{counter:05}_.{ext}"
            frames = self._frames(shape, seed)
            if ext == "webm":
                await encode_video(frames, fps, "vp9", path)
            else:
                data = await asyncio.to_thread(animated_bytes, frames, fps, ext.upper())
                path.write_bytes(data)
            item = {"filename": path.name, "subfolder": subfolder, "type": "output"}
            return {"images": [item], "animated": [len(frames) != 1 or ext == "webm"]}
        if class_type == "SaveVideo":
            prefix = str(reader.literal(node_id, "filename_prefix", "video/ComfyUI"))
            source = reader.inputs(node_id).get("video")
            fps = 30.0
            if _is_link(source) and source[0] in reader.prompt:
                fps = float(reader.literal(source[0], "fps", 30.0))
            folder, name, counter, subfolder = save_path(prefix, self.output_dir)
            path = folder / f"{name}_{counter:05}_.mp4"
            await encode_video(self._frames(shape, seed), fps, "h264", path)
            return {"images": [{"filename": path.name, "subfolder": subfolder, "type": "output"}], "animated": [True]}
        if class_type == "SaveLatent":
            prefix = str(reader.literal(node_id, "filename_prefix", "latents/ComfyUI"))
            folder, name, counter, subfolder = save_path(prefix, self.output_dir)
            path = folder / f"{name}_{counter:05}_.latent"
            path.write_bytes(b"fake latent " + json.dumps([shape.width // 8, shape.height // 8, shape.count]).encode())
            return {"latents": [{"filename": path.name, "subfolder": subfolder, "type": "output"}]}
        if class_type == "VHS_VideoCombine":
            return await self._video_combine(node_id, reader, shape, seed)
        if class_type == WD14_TAGGER:
            return {"tags": [await asyncio.to_thread(self._wd14_tags, node_id, reader, shape, seed)]}
        return None

    def _wd14_tags(self, node_id: str, reader: GraphReader, shape: Shape, seed: int) -> str:
        """What pythongosssss's WD14Tagger reports for its one input image, with a "model" that sees only the
        mean colour (`wd14_scores`), so a test knows which tags a picture gets."""
        source = reader.inputs(node_id).get("image")
        picture: Image.Image | None = None
        if _is_link(source) and reader.prompt[source[0]]["class_type"] == "LoadImage":
            with Image.open(self._annotated_path(str(reader.literal(source[0], "image", "")))) as loaded:
                picture = loaded.convert("RGB")
        if picture is None:  # a generated image: the fake's own drawing of it
            picture = draw_image(seed, shape.width, shape.height, 0).convert("RGB")
        means = [channel / 255 for channel in ImageStat.Stat(picture).mean]
        threshold = float(reader.literal(node_id, "threshold", 0.35))
        character_threshold = float(reader.literal(node_id, "character_threshold", 0.85))
        scores = wd14_scores(means[0], means[1], means[2])
        # As the node: characters first, then general tags, each above (not at) its threshold, in CSV order.
        kept = [name for name, category, score in scores if category == 4 and score > character_threshold]
        kept += [name for name, category, score in scores if category == 0 and score > threshold]
        if reader.literal(node_id, "replace_underscore", False):
            kept = [name.replace("_", " ") for name in kept]
        excluded = {t.strip() for t in str(reader.literal(node_id, "exclude_tags", "")).lower().split(",")}
        kept = [name for name in kept if name not in excluded]
        escaped = [name.replace("(", "\\(").replace(")", "\\)") for name in kept]
        if reader.literal(node_id, "trailing_comma", False):
            return "".join(f"{name}, " for name in escaped)
        return ", ".join(escaped)

    def _frames(self, shape: Shape, seed: int) -> list[Image.Image]:
        width, height = video_size(shape, self.video_max_edge)
        return video_frames(seed, width, height, max(1, min(shape.count, self.max_video_frames)))

    @staticmethod
    def _save_images(
        prefix: str, root: Path, shape: Shape, count: int, seed: int, preview: bool
    ) -> list[dict[str, Any]]:
        folder, name, counter, subfolder = save_path(prefix, root, shape.width, shape.height)
        results = []
        for index in range(count):
            filename = f"{name.replace('%batch_num%', str(index))}_{counter:05}_.png"
            image = draw_image(seed, shape.width, shape.height, index)
            (folder / filename).write_bytes(png_bytes(image, 1 if preview else 4))
            results.append({"filename": filename, "subfolder": subfolder, "type": "temp" if preview else "output"})
            counter += 1
        return results

    async def _video_combine(self, node_id: str, reader: GraphReader, shape: Shape, seed: int) -> dict[str, Any]:
        fmt = str(reader.literal(node_id, "format", "image/gif"))
        if fmt not in _VHS_FORMATS:
            raise RenderError("ValueError", f"FakeComfyUI does not render VHS format {fmt!r}")
        ext, codec = _VHS_FORMATS[fmt]
        save_output = bool(reader.literal(node_id, "save_output", True))
        frame_rate = float(reader.literal(node_id, "frame_rate", 8.0))
        prefix = str(reader.literal(node_id, "filename_prefix", "AnimateDiff"))
        root = self.output_dir if save_output else self.temp_dir
        folder, name, _, subfolder = save_path(prefix, root)
        counter = vhs_counter(folder, name)
        frames = self._frames(shape, seed)
        workflow = f"{name}_{counter:05}.png"
        (folder / workflow).write_bytes(png_bytes(frames[0]))
        path = folder / f"{name}_{counter:05}.{ext}"
        if ext in ("gif", "webp"):
            data = await asyncio.to_thread(animated_bytes, frames, frame_rate, codec)
            path.write_bytes(data)
        else:
            await encode_video(frames, frame_rate, codec, path)
        preview = {
            "filename": path.name,
            "subfolder": subfolder,
            "type": "output" if save_output else "temp",
            "format": fmt,
            "frame_rate": frame_rate,
            "workflow": workflow,
            "fullpath": str(path),
        }
        return {"gifs": [preview]}


WD14_TAGGER = "WD14Tagger|pysssss"


def wd14_scores(red: float, green: float, blue: float) -> list[tuple[str, int, float]]:
    """The fake tagger node's "model": (CSV name, category, score) from an image's mean colour (0-1 each)."""

    def clamp(value: float) -> float:
        return round(min(1.0, max(0.0, value)), 4)

    return [
        ("solo", 0, 0.95),
        ("red_theme", 0, clamp(red - (green + blue) / 2)),
        ("green_theme", 0, clamp(green - (red + blue) / 2)),
        ("blue_theme", 0, clamp(blue - (red + green) / 2)),
        ("white_background", 0, clamp(min(red, green, blue))),
        ("koopa_(mario)", 4, clamp(red - (green + blue) / 2)),
        ("hatsune_miku", 4, clamp(blue - (red + green) / 2)),
    ]


def _canonical_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _node_state(prompt_id: str, node_id: str, state: str, value: float, maximum: float) -> dict[str, Any]:
    return {
        "value": value,
        "max": maximum,
        "state": state,
        "node_id": node_id,
        "prompt_id": prompt_id,
        "display_node_id": node_id,
        "parent_node_id": None,
        "real_node_id": node_id,
    }


def _fake_traceback(catalog: Catalog, class_type: str, exc: _NodeFailed) -> list[str]:
    module = catalog.spec(class_type).get("module") or "nodes"
    path = (
        module.replace(".", "/") + ".py"
        if not module.startswith("custom_nodes.")
        else module.replace(".", "/") + "/nodes.py"
    )
    return [
        '  File "/opt/ComfyUI/execution.py", line 496, in execute\n'
        "    output_data, output_ui, has_subgraph, has_pending_tasks = await get_output_data(prompt_id, unique_id, "
        "obj, input_data_all, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, "
        "hidden_inputs=hidden_inputs)\n",
        '  File "/opt/ComfyUI/execution.py", line 315, in get_output_data\n'
        "    return_values = await _async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, "
        "obj.FUNCTION, allow_interrupt=True, execution_block_cb=execution_block_cb, pre_execute_cb=pre_execute_cb, "
        "hidden_inputs=hidden_inputs)\n",
        f'  File "/opt/ComfyUI/{path}", line 1, in {class_type}\n    raise {exc.exception_type}({exc.message!r})\n',
    ]


def _current_inputs(catalog: Catalog, prompt: dict[str, Any], node_id: str) -> dict[str, list[Any]]:
    result: dict[str, list[Any]] = {}
    for name, value in prompt[node_id].get("inputs", {}).items():
        if _is_link(value) and value[0] in prompt:
            types = catalog.return_types(prompt[value[0]]["class_type"])
            kind = types[value[1]] if isinstance(value[1], int) and value[1] < len(types) else "object"
            result[name] = [f"<{kind} object at 0x7f{abs(hash((value[0], value[1]))) % 16**10:010x}>"]
        elif value is None or isinstance(value, bool | int | float | str | dict):
            result[name] = [value]
        else:
            result[name] = [str(value)]
    return result
