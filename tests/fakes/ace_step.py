"""Fake ACE-Step music servers, both protocols the studio speaks, over loopback:

* the official ACE-Step 1.5 API server (`acestep-api`): `GET /health`, `POST /release_task`, `POST
  /query_result` (status 0 running, 1 succeeded, 2 failed; `result` a JSON string of entries with `file`
  URLs), `GET /v1/audio?path=`, every reply in the `{data, code, error}` wrapper and HTTP errors as `{detail}`;
* the earlier studio's wrapper: `POST /generate` -> `{task_id, status}`, `GET /status/{task_id}` ->
  `{status: queued|running|completed|failed, output_path, error}`, the file written into a folder the caller
  reads directly.

A task finishes after `polls_before_done` status polls with a real WAV (a sine chord, 48 kHz stereo, the
duration asked for) written into `output_dir`. Knobs besides the base ones (`latency`, `fail_with`, `down`):
`fail_task` (the next tasks fail with this error), `reported_root` (the wrapper names its files under this
folder instead, as a wrapper on another machine would), `serve_garbage` (the finished file is not audio).
`submitted` holds the JSON bodies of the submits, `queries` of the status polls.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse

from tests.fakes.base import FakeServer, server_folder

SAMPLE_RATE = 48_000


@dataclass
class FakeTask:
    task_id: str
    api: str  # "official" | "wrapper"
    seconds: float
    fail: str | None
    polls: int = 0
    file: Path | None = None


def chord_wav(seconds: float, sample_rate: int = SAMPLE_RATE) -> bytes:
    """A real WAV: an A major chord, stereo 16-bit, `seconds` long."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 4
    stereo = np.stack([tone, tone * 0.9], axis=1)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.round(stereo * 32767).astype("<i2").tobytes())
    return out.getvalue()


class FakeAceStep(FakeServer):
    def __init__(
        self,
        *,
        version: str = "1.0",
        models_initialized: bool = True,
        latency: float = 0.0,
        fail_with: int | None = None,
        polls_before_done: int = 1,
        output_dir: Path | None = None,
    ) -> None:
        self.version = version
        self.models_initialized = models_initialized
        self.polls_before_done = polls_before_done
        self.fail_task: str | None = None
        self.reported_root: str | None = None
        self.serve_garbage = False
        self.submitted: list[dict[str, Any]] = []
        self.queries: list[dict[str, Any]] = []
        self.tasks: dict[str, FakeTask] = {}
        self._own_dir = output_dir is None
        self.output_dir = output_dir or server_folder("fake-ace-step-")
        super().__init__(latency=latency, fail_with=fail_with)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if self._own_dir:
            shutil.rmtree(self.output_dir, ignore_errors=True)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/health")(self.health)
        app.post("/release_task")(self.release_task)
        app.post("/query_result")(self.query_result)
        app.get("/v1/audio")(self.audio)
        app.post("/generate")(self.generate)
        app.get("/status/{task_id}")(self.status)

    # --- the official API server ---------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        return _wrap(
            {
                "status": "ok",
                "service": "ACE-Step API",
                "version": self.version,
                "models_initialized": self.models_initialized,
                "llm_initialized": False,
            }
        )

    async def release_task(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        self.submitted.append(body)
        prompt = body.get("prompt", body.get("caption"))
        if not isinstance(prompt, str):
            raise HTTPException(400, "prompt must be a string")
        seconds = float(body.get("audio_duration") or 30)
        task = self._new_task("official", seconds)
        return _wrap({"task_id": task.task_id, "status": "queued", "queue_position": 1})

    async def query_result(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        self.queries.append(body)
        ids = body.get("task_id_list")
        if isinstance(ids, str):
            ids = json.loads(ids)
        if not isinstance(ids, list):
            raise HTTPException(400, "task_id_list must be a list")
        rows = []
        for task_id in ids:
            task = self.tasks.get(str(task_id))
            if task is None:  # the real server's answer for a task it does not know
                rows.append({"task_id": task_id, "status": 0, "result": "[]", "progress_text": ""})
                continue
            state = self._poll(task)
            now = int(time.time())
            if state == "running":
                fraction = task.polls / max(1, self.polls_before_done)
                items = [{"file": "", "wave": "", "status": 0, "create_time": now, "progress": fraction}]
                items[0]["stage"] = "diffusion"
                rows.append(
                    {"task_id": task.task_id, "status": 0, "result": json.dumps(items), "progress_text": "diffusion"}
                )
            elif state == "failed":
                items = [
                    {"file": "", "wave": "", "status": 2, "create_time": now, "stage": "failed", "error": task.fail}
                ]
                rows.append({"task_id": task.task_id, "status": 2, "result": json.dumps(items), "progress_text": ""})
            else:
                assert task.file is not None
                file = f"/v1/audio?path={quote(str(task.file), safe='')}"
                items = [{"file": file, "wave": "", "status": 1, "create_time": now, "prompt": "", "lyrics": ""}]
                rows.append({"task_id": task.task_id, "status": 1, "result": json.dumps(items), "progress_text": ""})
        return _wrap(rows)

    def audio(self, path: str) -> FileResponse:  # sync: FastAPI runs it in a thread
        file = Path(path)
        if not file.is_relative_to(self.output_dir) or not file.is_file():
            raise HTTPException(404, "Audio file not found")
        return FileResponse(file, media_type="audio/wav")

    # --- the earlier studio's wrapper ----------------------------------------------------------------

    async def generate(self, request: Request) -> dict[str, Any]:
        body = await _json_body(request)
        self.submitted.append(body)
        task = self._new_task("wrapper", float(body.get("duration") or 30))
        return {"task_id": task.task_id, "status": "queued"}

    async def status(self, task_id: str) -> dict[str, Any]:
        self.queries.append({"task_id": task_id})
        task = self.tasks.get(task_id)
        if task is None:
            raise HTTPException(404, f"task {task_id} not found")
        state = self._poll(task)
        if state == "running":
            return {"task_id": task_id, "status": "running", "output_path": None, "error": None}
        if state == "failed":
            return {"task_id": task_id, "status": "failed", "output_path": None, "error": task.fail}
        assert task.file is not None
        shown = f"{self.reported_root.rstrip('/')}/{task.file.name}" if self.reported_root else str(task.file)
        return {"task_id": task_id, "status": "completed", "output_path": shown, "error": None}

    # --- shared --------------------------------------------------------------------------------------

    def _new_task(self, api: str, seconds: float) -> FakeTask:
        task = FakeTask(task_id=str(uuid.uuid4()), api=api, seconds=seconds, fail=self.fail_task)
        self.tasks[task.task_id] = task
        return task

    def _poll(self, task: FakeTask) -> str:
        """Count a poll; the task finishes (once) on the poll after `polls_before_done` running answers."""
        if task.file is None and task.polls < self.polls_before_done:
            task.polls += 1
            return "running"
        if task.fail:
            return "failed"
        if task.file is None:
            task.file = self.output_dir / f"{task.task_id}.wav"
            task.file.write_bytes(b"this is not audio at all" * 10 if self.serve_garbage else chord_wav(task.seconds))
        return "done"

    def last_submit(self) -> dict[str, Any]:
        assert self.submitted, "nothing was submitted"
        return self.submitted[-1]


def _wrap(data: Any, code: int = 200, error: str | None = None) -> dict[str, Any]:
    return {"data": data, "code": code, "error": error, "timestamp": int(time.time() * 1000), "extra": None}


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(400, "the body is not JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(400, "the body is not a JSON object")
    return body
