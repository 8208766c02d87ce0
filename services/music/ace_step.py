"""ACE-Step music servers behind one client: the official ACE-Step 1.5 API server, or the earlier studio's
wrapper.

* `official` (`python -m acestep.api_server`, port 8001): `POST /release_task` queues a task, `POST
  /query_result` reports it (status 0 queued/running, 1 succeeded, 2 failed; `result` is a JSON string of
  one entry per audio with its `file` URL), `GET /v1/audio?path=` serves the file. Every reply is wrapped
  `{data, code, error}`; HTTP errors answer `{detail}`.
* `wrapper` (the earlier studio's, port 8440): `POST /generate` -> `{task_id, status}`, `GET /status/{id}`
  -> `{status: completed|failed|..., output_path, error}`. It shares files through the filesystem: the
  studio reads `output_path`, so the wrapper's output folder must be reachable from the studio.

Neither server can stop a task: cancelling `generate` stops polling, and the server finishes the task
unobserved. Every reply is checked; the audio is checked with ffprobe before it is returned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from services.errors import StudioError
from services.music.audio import NotAudio, probe_audio_bytes
from services.unreachable import why_unreachable

AceStepApi = Literal["official", "wrapper"]
Progress = Callable[[float, str], Awaitable[None]]

# The official server's defaults suit its turbo model (8 steps); the wrapper ran the 3.5B model at 60.
OFFICIAL_STEPS = 8
OFFICIAL_GUIDANCE = 7.0
WRAPPER_STEPS = 60
WRAPPER_GUIDANCE = 15.0
# "[inst]" is what the official server reads as "instrumental" (an empty string would too, but says less).
INSTRUMENTAL = "[inst]"
# Polls start quick (short cues finish in seconds) and slow down to every 2 s.
FIRST_POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 2.0
REQUEST_SECONDS = 30.0  # one HTTP exchange; the whole generation has its own, longer limit
DOWNLOAD_SECONDS = 120.0
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"})
_RUNNING, _SUCCEEDED, _FAILED = 0, 1, 2


class AceStepError(StudioError):
    """ACE-Step could not make the music; the message names the server and what to do."""


class AceStepUnreachable(AceStepError):
    pass


class AceStepTaskFailed(AceStepError):
    """The server took the task and reported that it failed (its own error is in the message)."""


class AceStepBadReply(AceStepError):
    """The server answered something this client cannot use (not ACE-Step, another version, not audio)."""


class AceStepTimeout(AceStepError):
    pass


class AceStepClient:
    """One ACE-Step server. `generate` returns the audio bytes of one instrumental piece."""

    def __init__(self, url: str, api: AceStepApi = "official", timeout: float = 600.0) -> None:
        self.url = url.rstrip("/")
        self.api = api
        self.seconds = timeout

    async def generate(
        self, caption: str, seconds: float, seed: int | None = None, progress: Progress | None = None
    ) -> bytes:
        """Make `seconds` of instrumental music for `caption`. AceStepError subclasses say what went wrong."""
        report = progress or _no_progress
        try:
            async with asyncio.timeout(self.seconds):
                async with self._client() as client:
                    if self.api == "official":
                        return await self._official(client, caption, seconds, seed, report)
                    return await self._wrapper(client, caption, seconds, seed, report)
        except TimeoutError as exc:
            raise AceStepTimeout(
                f"ACE-Step at {self.url} did not finish within {self.seconds:g} s (music_timeout_seconds); "
                "it may be busy with other tasks or too slow for this length"
            ) from exc

    async def health(self) -> str:
        """A short description of the server's state. AceStepError when it cannot serve."""
        async with self._client() as client:
            body = await self._json(client, "GET", "/health")
        payload = self._unwrap("/health", body) if self.api == "official" else body
        if not isinstance(payload, dict):
            raise self._bad("/health", payload, "an object")
        status = str(payload.get("status") or "").lower()
        if status not in ("ok", "healthy"):
            raise AceStepError(f"ACE-Step at {self.url} reports status '{payload.get('status')}'")
        if payload.get("models_initialized") is False:
            return "ready; the music model loads with the first task"
        return "ready"

    # --- the official API server -------------------------------------------------------------------

    async def _official(
        self, client: httpx.AsyncClient, caption: str, seconds: float, seed: int | None, report: Progress
    ) -> bytes:
        request: dict[str, Any] = {
            "prompt": caption,
            "lyrics": INSTRUMENTAL,
            "audio_duration": seconds,
            "inference_steps": OFFICIAL_STEPS,
            "guidance_scale": OFFICIAL_GUIDANCE,
            "use_random_seed": seed is None,
            "seed": -1 if seed is None else seed,
            "batch_size": 1,
            # The caption is ours: no language model planning codes or rewriting it.
            "thinking": False,
            "use_cot_caption": False,
            "use_cot_language": False,
            "audio_format": "wav",
        }
        data = self._unwrap("/release_task", await self._json(client, "POST", "/release_task", json=request))
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not task_id:
            raise self._bad("/release_task", data, "a task_id")
        await report(0.0, f"queued on ACE-Step at {self.url} (task {task_id})")
        started, shown = time.monotonic(), 0.0
        async for wait in _polls():
            await asyncio.sleep(wait)
            rows = self._unwrap(
                "/query_result", await self._json(client, "POST", "/query_result", json={"task_id_list": [task_id]})
            )
            row = _row_of(rows, task_id)
            if row is None:
                raise self._bad("/query_result", rows, f"a list holding task {task_id}")
            items = _result_items(row.get("result"))
            status = row.get("status")
            if status == _FAILED:
                error = next((str(i["error"]) for i in items if i.get("error")), None) or row.get("error")
                raise AceStepTaskFailed(f"ACE-Step at {self.url} failed the task: {error or 'no reason given'}")
            if status == _SUCCEEDED:
                files = [str(i["file"]) for i in items if i.get("file")]
                if not files:
                    raise self._bad("/query_result", row.get("result"), "the file of the finished task")
                await report(0.95, "downloading the music")
                return await self._download(client, files[0])
            if status != _RUNNING:
                raise self._bad("/query_result", row, "status 0, 1 or 2")
            fraction = next((i.get("progress") for i in items if isinstance(i.get("progress"), int | float)), None)
            stage = row.get("progress_text") or next((i.get("stage") for i in items if i.get("stage")), None)
            message = str(stage or "generating") + f" · {time.monotonic() - started:.0f} s"
            shown = max(shown, min(0.9, float(fraction))) if fraction is not None else shown
            await report(shown, message)
        raise AssertionError("unreachable: polls never end")

    async def _download(self, client: httpx.AsyncClient, file: str) -> bytes:
        target = self._audio_url(file)
        try:
            response = await client.get(target, timeout=DOWNLOAD_SECONDS)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code != 200:
            raise AceStepBadReply(
                f"ACE-Step at {self.url} would not serve the finished audio ({target}): HTTP {response.status_code} "
                f"{_detail(response)}"
            )
        return await self._audio(response.content, target)

    def _audio_url(self, file: str) -> str:
        """The address of a result's file: its own `/v1/audio?path=` URL, or a bare server path made into one.

        Only this server is asked: a result naming another host is refused rather than fetched.
        """
        if file.startswith(("http://", "https://")):
            here, there = urlsplit(self.url), urlsplit(file)
            if (there.scheme, there.netloc) != (here.scheme, here.netloc):
                raise AceStepBadReply(f"ACE-Step at {self.url} named audio on another server ({file}); not fetched")
            return file[len(f"{there.scheme}://{there.netloc}") :] or "/"
        if file.startswith("/v1/audio"):
            return file
        return f"/v1/audio?path={quote(file, safe='')}"

    # --- the earlier studio's wrapper ---------------------------------------------------------------

    async def _wrapper(
        self, client: httpx.AsyncClient, caption: str, seconds: float, seed: int | None, report: Progress
    ) -> bytes:
        request: dict[str, Any] = {
            "prompt": caption,
            "lyrics": "",
            "duration": seconds,
            "format": "wav",
            "instrumental": True,
            "infer_steps": WRAPPER_STEPS,
            "guidance_scale": WRAPPER_GUIDANCE,
        }
        if seed is not None:
            request["seed"] = seed
        submitted = await self._json(client, "POST", "/generate", json=request)
        task_id = submitted.get("task_id") if isinstance(submitted, dict) else None
        if not task_id:
            raise self._bad("/generate", submitted, "a task_id")
        await report(0.0, f"queued on ACE-Step at {self.url} (task {task_id})")
        started = time.monotonic()
        path = f"/status/{quote(str(task_id), safe='')}"
        async for wait in _polls():
            await asyncio.sleep(wait)
            state = await self._json(client, "GET", path)
            if not isinstance(state, dict) or "status" not in state:
                raise self._bad(path, state, "a status")
            status = str(state["status"]).lower()
            if status == "failed":
                raise AceStepTaskFailed(
                    f"ACE-Step at {self.url} failed the task: {state.get('error') or 'no reason given'}"
                )
            if status == "completed":
                output = state.get("output_path")
                if not output:
                    raise self._bad(path, state, "the output_path of the finished task")
                await report(0.95, "reading the music")
                return await self._shared_file(str(output))
            await report(0.0, f"{status} · {time.monotonic() - started:.0f} s")
        raise AssertionError("unreachable: polls never end")

    async def _shared_file(self, output: str) -> bytes:
        path = Path(output)
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            raise AceStepBadReply(f"ACE-Step at {self.url} named {output} as its output, which is not an audio file")
        if not path.is_absolute() or not await asyncio.to_thread(path.is_file):
            raise AceStepError(
                f"ACE-Step's wrapper at {self.url} wrote its music to {output}, which this studio cannot read: the "
                "wrapper shares files through its output folder, so that folder must be reachable from the studio "
                "at the same path (run both on one machine or mount the folder), or run ACE-Step's own API server "
                "and set the device's ace_step_api to official"
            )
        return await self._audio(await asyncio.to_thread(path.read_bytes), output)

    # --- shared -----------------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=min(REQUEST_SECONDS, self.seconds), follow_redirects=False)

    async def _json(self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code == 404 and path in ("/release_task", "/generate"):
            other = "wrapper" if self.api == "official" else "official"
            raise AceStepBadReply(
                f"ACE-Step at {self.url} has no {path} (HTTP 404): is it the {other} API? Set the device's "
                f"ace_step_api to match the server"
            )
        if response.status_code >= 400:
            raise AceStepError(
                f"ACE-Step at {self.url} refused {method} {path}: HTTP {response.status_code} {_detail(response)}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise AceStepBadReply(f"ACE-Step at {self.url} answered {path} with something other than JSON") from exc

    def _unwrap(self, path: str, body: Any) -> Any:
        """The `data` of an official `{data, code, error}` reply; AceStepError with the server's own error."""
        if not isinstance(body, dict) or "data" not in body or "code" not in body:
            raise self._bad(path, body, "the {data, code, error} wrapper of ACE-Step's API server")
        if body.get("error") or body.get("code") != 200:
            raise AceStepError(
                f"ACE-Step at {self.url} answered {path} with error {body.get('code')}: {body.get('error')}"
            )
        return body["data"]

    async def _audio(self, data: bytes, where: str) -> bytes:
        try:
            await probe_audio_bytes(data, where)
        except NotAudio as exc:
            raise AceStepBadReply(
                f"ACE-Step at {self.url} returned something that is not audio: {exc.message}"
            ) from exc
        return data

    def _unreachable(self, exc: httpx.HTTPError) -> AceStepError:
        if isinstance(exc, httpx.TimeoutException):
            return AceStepUnreachable(f"ACE-Step at {self.url} did not answer in time ({exc.__class__.__name__})")
        why = why_unreachable(exc)
        fix = "start its API server (python -m acestep.api_server) or correct the device's ace_step_url"
        if why.kind == "unknown_host":
            return AceStepUnreachable(f"ACE-Step at {self.url} is not reachable (unknown host name): {fix}")
        if why.kind == "refused":
            return AceStepUnreachable(f"ACE-Step at {self.url} is not reachable (connection refused): {fix}")
        return AceStepUnreachable(f"ACE-Step at {self.url} is not reachable ({why.reason}): {fix}")

    def _bad(self, path: str, got: Any, wanted: str) -> AceStepBadReply:
        shown = json.dumps(got, default=str)[:200] if not isinstance(got, str) else got[:200]
        return AceStepBadReply(f"ACE-Step at {self.url} answered {path} without {wanted} (got {shown})")


async def _no_progress(fraction: float, message: str) -> None:
    return None


async def _polls() -> AsyncIterator[float]:
    """Seconds to wait before each poll: quick at first, then every MAX_POLL_SECONDS, without end."""
    wait = FIRST_POLL_SECONDS
    while True:
        yield wait
        wait = min(MAX_POLL_SECONDS, wait * 2)


def _row_of(rows: Any, task_id: Any) -> dict[str, Any] | None:
    """The query_result row of one task."""
    if not isinstance(rows, list):
        return None
    return next((r for r in rows if isinstance(r, dict) and str(r.get("task_id")) == str(task_id)), None)


def _result_items(result: Any) -> list[dict[str, Any]]:
    """The entries of a query_result row's `result` (a JSON string of a list, or the list itself)."""
    if isinstance(result, str):
        with contextlib.suppress(ValueError):
            result = json.loads(result)
    if isinstance(result, dict):
        result = [result]
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


def _detail(response: httpx.Response) -> str:
    """The error text a server put in its reply ({detail}, {error}), or the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("detail", "error", "message"):
            if body.get(key):
                return str(body[key])[:300]
    return json.dumps(body)[:200]
