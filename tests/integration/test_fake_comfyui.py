"""The fake ComfyUI speaks the 0.3.64 protocol (comfyui-protocol.md), driven with raw httpx + websockets."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import shutil
import struct
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image

from tests.fakes import FakeComfyUI
from tests.fakes.comfyui import DEFAULT_MODELS

# --- graphs --------------------------------------------------------------------------------------


def txt2img(
    *, seed: int = 42, steps: int = 4, width: int = 320, height: int = 256, batch: int = 2, prefix: str = "probe/cat"
) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "dreamshaper_8.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": batch}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["4", 0],
                "seed": seed,
                "steps": steps,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": prefix}},
    }


def wan_t2v(*, length: int = 9, frame_rate: float = 16, prefix: str = "shots/wan") -> dict[str, Any]:
    return {
        "1": {"class_type": "UnetLoaderGGUF", "inputs": {"unet_name": "Wan2.1-T2V-1.3B-Q8_0.gguf"}},
        "2": {
            "class_type": "CLIPLoader",
            "inputs": {"clip_name": "umt5_xxl_fp8_e4m3fn_scaled.safetensors", "type": "wan"},
        },
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_2.1_vae.safetensors"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox runs", "clip": ["2", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "6": {
            "class_type": "EmptyHunyuanLatentVideo",
            "inputs": {"width": 480, "height": 720, "length": length, "batch_size": 1},
        },
        "7": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": 7,
                "steps": 30,
                "cfg": 6.0,
                "sampler_name": "uni_pc",
                "scheduler": "simple",
                "positive": ["4", 0],
                "negative": ["5", 0],
                "latent_image": ["6", 0],
                "denoise": 1.0,
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["3", 0]}},
        "9": {
            "class_type": "VHS_VideoCombine",
            "inputs": {
                "images": ["8", 0],
                "frame_rate": frame_rate,
                "loop_count": 0,
                "filename_prefix": prefix,
                "format": "video/h264-mp4",
                "pingpong": False,
                "save_output": True,
                "pix_fmt": "yuv420p",
                "crf": 19,
                "save_metadata": True,
                "trim_to_audio": False,
            },
        },
    }


def empty_image_save(*, width: int = 64, height: int = 48, color: int = 0, prefix: str = "flat") -> dict[str, Any]:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": width, "height": height, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }


# --- fixtures and helpers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeComfyUI]:
    with FakeComfyUI() as fake:
        yield fake


@pytest.fixture
def fake(shared_fake: FakeComfyUI) -> FakeComfyUI:
    shared_fake.reset()
    return shared_fake


@pytest.fixture
async def http(fake: FakeComfyUI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, timeout=10) as client:
        yield client


def ws_url(fake: FakeComfyUI, client_id: str | None = None, prefix: str = "") -> str:
    url = fake.url.replace("http://", "ws://") + prefix + "/ws"
    return url if client_id is None else f"{url}?clientId={client_id}"


Event = tuple[str, Any]  # ("binary", bytes) for binary frames


async def next_event(ws: Any, within: float = 5.0) -> Event:
    message = await asyncio.wait_for(ws.recv(), within)
    if isinstance(message, bytes):
        return ("binary", message)
    data = json.loads(message)
    return (data["type"], data["data"])


async def events_until_done(ws: Any, prompt_id: str, *, keep_progress_state: bool = False) -> list[Event]:
    """Every event up to and including `executing {node: null, prompt_id}`."""
    events: list[Event] = []
    while True:
        event = await next_event(ws)
        if event[0] != "progress_state" or keep_progress_state:
            events.append(event)
        if event[0] == "executing" and event[1]["node"] is None and event[1].get("prompt_id") == prompt_id:
            return events


async def submit(http: httpx.AsyncClient, graph: dict[str, Any], **body: Any) -> str:
    response = await http.post("/prompt", json={"prompt": graph, **body})
    assert response.status_code == 200, response.text
    assert response.json()["node_errors"] == {}
    return str(response.json()["prompt_id"])


async def wait_history(http: httpx.AsyncClient, prompt_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        entry = (await http.get(f"/history/{prompt_id}")).json()
        if entry:
            return dict(entry[prompt_id])
        await asyncio.sleep(0.01)
    raise AssertionError(f"{prompt_id} never reached the history")


def png_of(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


# --- execution and events ------------------------------------------------------------------------


async def test_success_event_order_and_history_entry(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.previews = True  # `--preview-method auto`
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        assert await next_event(ws) == ("status", {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "c1"})
        before = int(time.time() * 1000)
        prompt_id = await submit(http, txt2img(), client_id="c1", extra_data={"note": "hello"})
        events = await events_until_done(ws, prompt_id)

    kinds = [kind if kind != "executing" else f"executing:{data['node']}" for kind, data in events]
    assert kinds == [
        "status",
        "status",
        "execution_start",
        "execution_cached",
        "executing:4",
        "executing:6",
        "executing:7",
        "executing:5",
        "executing:3",
        *["progress", "binary"] * 4,
        "executing:8",
        "executing:9",
        "executed",
        "execution_success",
        "status",
        "executing:None",
    ]
    statuses = [data["status"]["exec_info"]["queue_remaining"] for kind, data in events if kind == "status"]
    assert statuses == [1, 1, 0]
    assert events[4][1] == {"node": "4", "display_node": "4", "prompt_id": prompt_id}
    assert events[3][1]["nodes"] == [] and events[3][1]["prompt_id"] == prompt_id
    progress = [data for kind, data in events if kind == "progress"]
    assert [(p["value"], p["max"], p["node"], p["prompt_id"]) for p in progress] == [
        (v, 4, "3", prompt_id) for v in (1, 2, 3, 4)
    ]
    binary = events[10][1]
    assert struct.unpack(">II", binary[:8]) == (1, 1) and binary[8:10] == b"\xff\xd8"
    assert Image.open(io.BytesIO(binary[8:])).format == "JPEG"
    images = [{"filename": f"cat_0000{i}_.png", "subfolder": "probe", "type": "output"} for i in (1, 2)]
    executed = next(data for kind, data in events if kind == "executed")
    assert executed == {"node": "9", "display_node": "9", "output": {"images": images}, "prompt_id": prompt_id}

    entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert entry["prompt"][0] == 0 and entry["prompt"][1] == prompt_id
    assert entry["prompt"][2]["3"]["inputs"]["seed"] == 42
    assert entry["prompt"][3] == {"note": "hello", "client_id": "c1"}
    assert entry["prompt"][4] == ["9"]
    assert entry["outputs"] == {"9": {"images": images}}
    assert entry["meta"] == {"9": {"node_id": "9", "display_node": "9", "parent_node": None, "real_node_id": "9"}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    messages = entry["status"]["messages"]
    assert [m[0] for m in messages] == ["execution_start", "execution_cached", "execution_success"]
    assert all(before <= m[1]["timestamp"] <= int(time.time() * 1000) for m in messages)
    assert messages[1][1] == {"nodes": [], "prompt_id": prompt_id, "timestamp": messages[1][1]["timestamp"]}
    [record] = fake.executions
    assert (record.prompt_id, record.client_id, record.status) == (prompt_id, "c1", "success")
    assert record.finished_at is not None and record.finished_at - record.started_at >= fake.job_seconds * 0.9


async def test_progress_state_is_cumulative(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, empty_image_save(), client_id="c1")
        events = await events_until_done(ws, prompt_id, keep_progress_state=True)
    kinds = [kind for kind, _ in events]
    assert kinds[kinds.index("execution_cached") + 1 :] == [
        "progress_state",
        "executing",
        "progress_state",
        "progress_state",
        "executing",
        "executed",
        "progress_state",
        "execution_success",
        "status",
        "executing",
    ]
    last = [data for kind, data in events if kind == "progress_state"][-1]
    assert last["prompt_id"] == prompt_id
    assert {node: state["state"] for node, state in last["nodes"].items()} == {"1": "finished", "2": "finished"}
    assert last["nodes"]["2"]["real_node_id"] == "2" and last["nodes"]["2"]["parent_node_id"] is None


async def test_history_is_written_after_execution_success(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.history_write_delay = 0.3
    fake.job_seconds = 0.35
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, empty_image_save(), client_id="c1")
        at_success = at_done = None
        while at_done is None:
            kind, data = await next_event(ws)
            if kind == "execution_success":
                at_success = (await http.get(f"/history/{prompt_id}")).json()
            if kind == "executing" and data["node"] is None:
                at_done = (await http.get(f"/history/{prompt_id}")).json()
    assert at_success == {}
    assert at_done[prompt_id]["status"]["status_str"] == "success"


async def test_preview_metadata_frames_come_before_their_progress(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.previews = True
    async with websockets.connect(ws_url(fake, "c2")) as ws:
        await ws.send(json.dumps({"type": "feature_flags", "data": {"supports_preview_metadata": True}}))
        assert (await next_event(ws))[0] == "status"
        assert await next_event(ws) == (
            "feature_flags",
            {"supports_preview_metadata": True, "max_upload_size": 104857600},
        )
        prompt_id = await submit(http, txt2img(steps=25), client_id="c2")
        events = await events_until_done(ws, prompt_id)
    sampler = [e for e in events if e[0] in ("binary", "progress")]
    assert [kind for kind, _ in sampler] == ["binary", "progress"] * 4
    assert [data["value"] for kind, data in sampler if kind == "progress"] == [6, 12, 19, 25]
    assert {data["max"] for kind, data in sampler if kind == "progress"} == {25}
    frame = sampler[0][1]
    kind, length = struct.unpack(">II", frame[:8])
    metadata = json.loads(frame[8 : 8 + length])
    assert kind == 4
    assert metadata == {
        "node_id": "3",
        "prompt_id": prompt_id,
        "display_node_id": "3",
        "parent_node_id": None,
        "real_node_id": "3",
        "image_type": "image/jpeg",
    }
    assert frame[8 + length : 10 + length] == b"\xff\xd8"


async def test_runtime_failure_sends_execution_error(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.fail_next("CUDA out of memory", node_type="KSampler", exception_type="torch.OutOfMemoryError")
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, txt2img(), client_id="c1")
        events = await events_until_done(ws, prompt_id)
        kinds = [kind for kind, _ in events]
        assert kinds[-4:] == ["executing", "execution_error", "status", "executing"]
        assert "execution_success" not in kinds and "progress" not in kinds
        error = events[-3][1]
        assert error["prompt_id"] == prompt_id and error["node_id"] == "3" and error["node_type"] == "KSampler"
        assert error["exception_message"] == "CUDA out of memory"
        assert error["exception_type"] == "torch.OutOfMemoryError"
        assert error["executed"] == ["4", "6", "7", "5"] and error["current_outputs"] == ["4", "6", "7", "5"]
        assert error["current_inputs"]["seed"] == [42] and error["current_inputs"]["model"][0].startswith("<MODEL")
        assert isinstance(error["traceback"], list) and "execution.py" in error["traceback"][0]
        entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
        assert (entry["status"]["status_str"], entry["status"]["completed"]) == ("error", False)
        assert entry["status"]["messages"][-1][0] == "execution_error"
        assert entry["outputs"] == {}
        assert fake.executions[-1].status == "error"

        # The failure was used up: the next prompt succeeds.
        second = await submit(http, txt2img(seed=43), client_id="c1")
        assert "execution_success" in [kind for kind, _ in await events_until_done(ws, second)]


async def test_v3_combo_is_accepted_then_fails_at_run_time(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 4, "color": 0}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "video/x", "format": "avi", "codec": "auto"},
        },
    }
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, graph, client_id="c1")
        events = await events_until_done(ws, prompt_id)
    error = next(data for kind, data in events if kind == "execution_error")
    assert (error["node_id"], error["exception_type"]) == ("3", "ValueError")
    assert error["exception_message"] == "'avi' is not a valid VideoContainer"


async def test_save_video_writes_an_animated_mp4(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 4, "color": 0}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "video/x", "format": "mp4", "codec": "h264"},
        },
    }
    entry = await wait_history(http, await submit(http, graph))
    assert entry["outputs"]["3"] == {
        "images": [{"filename": "x_00001_.mp4", "subfolder": "video", "type": "output"}],
        "animated": [True],
    }
    view = await http.get("/view", params={"filename": "x_00001_.mp4", "subfolder": "video", "type": "output"})
    assert view.status_code == 200 and view.headers["content-type"] == "video/mp4"
    assert view.content[4:8] == b"ftyp"


async def test_interrupt_stops_only_the_running_prompt(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 3.0
    fake.steps = 30
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, txt2img(steps=30), client_id="c1")
        seen_progress = 0
        while seen_progress < 2:
            kind, _ = await next_event(ws)
            if kind == "progress":
                seen_progress += 1
                if seen_progress == 1:  # another prompt's id: a no-op
                    assert (await http.post("/interrupt", json={"prompt_id": "not-running"})).status_code == 200
        assert (await http.post("/interrupt", json={"prompt_id": prompt_id})).status_code == 200
        events = await events_until_done(ws, prompt_id)
    kinds = [kind for kind, _ in events]
    assert kinds[-3:] == ["execution_interrupted", "status", "executing"]
    assert kinds.count("progress") <= 1
    interrupted = events[-3][1]
    assert (interrupted["prompt_id"], interrupted["node_id"], interrupted["node_type"]) == (prompt_id, "3", "KSampler")
    assert interrupted["executed"] == ["4", "6", "7", "5"]
    entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    assert (entry["status"]["status_str"], entry["status"]["completed"]) == ("error", False)
    assert entry["status"]["messages"][-1][0] == "execution_interrupted"
    assert fake.executions[-1].status == "interrupted"
    assert fake.executions[-1].finished_at is not None
    assert fake.executions[-1].finished_at - fake.executions[-1].started_at < 1.0


async def test_global_interrupt_without_body(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 1.0
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, txt2img(), client_id="c1")
        while (await next_event(ws))[0] != "progress":
            pass
        assert (await http.post("/interrupt")).status_code == 200
        events = await events_until_done(ws, prompt_id)
    assert [kind for kind, _ in events][-3] == "execution_interrupted"


async def test_an_interrupt_waits_for_the_sampler_step_in_progress(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 1.5
    fake.steps = 2  # 0.5 s per step
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, txt2img(steps=2), client_id="c1")
        while (await next_event(ws))[0] != "progress":
            pass
        asked = time.monotonic()
        assert (await http.post("/interrupt", json={"prompt_id": prompt_id})).status_code == 200
        events = await events_until_done(ws, prompt_id)
        seen = time.monotonic()
    kinds = [kind for kind, _ in events]
    assert kinds[-3:] == ["execution_interrupted", "status", "executing"] and "progress" not in kinds
    # The step under way ends before the progress hook sees the interrupt: nothing cuts it short.
    assert seen - asked >= 0.3, seen - asked


async def test_nodes_without_progress_run_to_their_end_before_an_interrupt_is_seen(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.job_seconds = 0.1
    fake.tail_seconds = 0.8  # VAE decode and save share it: 0.4 s each
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        # Interrupted during the save (the last node): the prompt ends as a success, files written.
        saved = await submit(http, txt2img(seed=1, batch=1), client_id="c1")
        while await next_event(ws) != ("executing", {"node": "9", "display_node": "9", "prompt_id": saved}):
            pass
        at_save = time.monotonic()
        await http.post("/interrupt", json={"prompt_id": saved})
        events = await events_until_done(ws, saved)
        assert [kind for kind, _ in events][-4:] == ["executed", "execution_success", "status", "executing"]
        assert time.monotonic() - at_save >= 0.3  # the no-progress tail took its time
        # Interrupted during the VAE decode: seen when the save starts, so nothing is written.
        decoded = await submit(http, txt2img(seed=2, batch=1), client_id="c1")
        while await next_event(ws) != ("executing", {"node": "8", "display_node": "8", "prompt_id": decoded}):
            pass
        await http.post("/interrupt", json={"prompt_id": decoded})
        events = await events_until_done(ws, decoded)
    interrupted = next(data for kind, data in events if kind == "execution_interrupted")
    assert (interrupted["node_id"], interrupted["executed"][-1]) == ("9", "8")
    assert "executed" not in [kind for kind, _ in events]
    assert [r.status for r in fake.executions] == ["success", "interrupted"]


async def test_a_hung_server_accepts_but_answers_nothing_until_it_recovers(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.job_seconds = 0.6
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        await next_event(ws)
        prompt_id = await submit(http, txt2img(), client_id="c1")
        fake.hung = True
        async with httpx.AsyncClient(base_url=fake.url, timeout=0.3) as impatient:
            with pytest.raises(httpx.ReadTimeout):  # connected, then no answer
                await impatient.get("/queue")
            with pytest.raises(httpx.ReadTimeout):  # this cancel never reaches the server
                await impatient.post("/interrupt", json={"prompt_id": prompt_id})
        with pytest.raises(TimeoutError):
            await websockets.connect(ws_url(fake, "c2"), open_timeout=0.3)
        for _ in range(250):  # the prompt runs on (job_seconds), but its events wait
            if fake.executions[-1].status != "running":
                break
            await asyncio.sleep(0.02)
        assert fake.executions[-1].status == "success"
        sent_before_the_hang = []
        with contextlib.suppress(TimeoutError):
            while True:
                sent_before_the_hang.append(await next_event(ws, within=0.2))
        assert ("executing", {"node": None, "prompt_id": prompt_id}) not in sent_before_the_hang
        patient = asyncio.create_task(http.get(f"/history/{prompt_id}"))
        await asyncio.sleep(0.1)
        assert not patient.done()
        fake.hung = False
        assert prompt_id in (await patient).json()  # a request still waiting is answered
        events = await events_until_done(ws, prompt_id)
    assert "execution_success" in [kind for kind, _ in events]
    assert [r.status for r in fake.executions] == ["success"]  # the lost cancel interrupted nothing
    assert fake.requests_to("/interrupt") == [] and fake.internal_errors == []


async def test_identical_nodes_are_answered_from_the_cache(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    def files() -> list[str]:
        return sorted(p.name for p in (fake.output_dir / "probe").iterdir())

    async with websockets.connect(ws_url(fake, "c1")) as ws:
        first = await submit(http, txt2img(seed=5), client_id="c1")
        await events_until_done(ws, first)
        written = files()
        again = await submit(http, txt2img(seed=5), client_id="c1")
        events = await events_until_done(ws, again)
        kinds = [kind for kind, _ in events]
        assert kinds == [
            "status",
            "status",
            "execution_start",
            "execution_cached",
            "executed",  # the old files, from the cache: no `executing`, no sampler steps
            "execution_success",
            "status",
            "executing",
        ]
        assert sorted(events[3][1]["nodes"]) == ["3", "4", "5", "6", "7", "8", "9"]
        old = (await http.get(f"/history/{first}")).json()[first]["outputs"]
        assert (
            events[4][1]["output"] == old["9"] and (await http.get(f"/history/{again}")).json()[again]["outputs"] == old
        )
        assert files() == written  # no new file
        # Another seed: the loaders and prompts stay cached, the sampler and what follows run again.
        other = await submit(http, txt2img(seed=6), client_id="c1")
        events = await events_until_done(ws, other)
        assert sorted(events[3][1]["nodes"]) == ["4", "5", "6", "7"]
        assert [data["node"] for kind, data in events if kind == "executing"] == ["3", "8", "9", None]
        # Only what the newest prompt used is kept: seed 5's sampler is gone.
        back = await submit(http, txt2img(seed=5), client_id="c1")
        assert "progress" in [kind for kind, _ in await events_until_done(ws, back)]
    # `/free` with free_memory drops the cache before the next prompt; `cache = False` is --cache-none.
    await http.post("/free", json={"unload_models": False, "free_memory": True})
    freed = await wait_history(http, await submit(http, txt2img(seed=5)))
    assert freed["status"]["messages"][1][1]["nodes"] == []
    fake.cache = False
    uncached = await wait_history(http, await submit(http, txt2img(seed=5)))
    assert uncached["status"]["messages"][1][1]["nodes"] == []


async def test_a_changed_input_image_is_not_answered_from_the_cache(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "ref.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "probe/ref"}},
    }

    async def run_with(color: tuple[int, int, int]) -> list[str]:
        form = {"overwrite": "true"}
        await http.post("/upload/image", files={"image": ("ref.png", png_of(color))}, data=form)
        entry = await wait_history(http, await submit(http, graph))
        return list(entry["status"]["messages"][1][1]["nodes"])

    assert await run_with((255, 0, 0)) == []
    assert sorted(await run_with((255, 0, 0))) == ["1", "2"]
    assert await run_with((0, 0, 255)) == []  # LoadImage's IS_CHANGED: the file's hash


async def test_prompt_without_client_id_only_broadcasts_status_and_progress(
    fake: FakeComfyUI, http: httpx.AsyncClient
) -> None:
    fake.previews = True
    async with websockets.connect(ws_url(fake, "listener")) as ws:
        await next_event(ws)
        prompt_id = await submit(http, txt2img())
        await wait_history(http, prompt_id)
        await asyncio.sleep(0.05)
        kinds = set()
        while True:
            try:
                kinds.add((await next_event(ws, within=0.2))[0])
            except TimeoutError:
                break
    assert kinds == {"status", "progress_state", "progress", "binary"}


# --- validation ----------------------------------------------------------------------------------


async def test_doc_example_of_failed_validation_is_reproduced(http: httpx.AsyncClient) -> None:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": "abc", "height": 999999, "batch_size": 1}},
        "2": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "cubic-ish", "width": 64, "height": 64, "crop": "disabled"},
        },
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    response = await http.post("/prompt", json={"prompt": graph})
    assert response.status_code == 400
    int_config = ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}]
    methods = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert response.json() == {
        "error": {
            "type": "prompt_outputs_failed_validation",
            "message": "Prompt outputs failed validation",
            "details": "",
            "extra_info": {},
        },
        "node_errors": {
            "1": {
                "errors": [
                    {
                        "type": "invalid_input_type",
                        "message": "Failed to convert an input value to a INT value",
                        "details": "width, abc, invalid literal for int() with base 10: 'abc'",
                        "extra_info": {
                            "input_name": "width",
                            "input_config": int_config,
                            "received_value": "abc",
                            "exception_message": "invalid literal for int() with base 10: 'abc'",
                        },
                    },
                    {
                        "type": "value_bigger_than_max",
                        "message": "Value 999999 bigger than max of 16384",
                        "details": "height",
                        "extra_info": {"input_name": "height", "input_config": int_config, "received_value": 999999},
                    },
                    {
                        "type": "required_input_missing",
                        "message": "Required input is missing",
                        "details": "color",
                        "extra_info": {"input_name": "color"},
                    },
                ],
                "dependent_outputs": ["3"],
                "class_type": "EmptyImage",
            },
            "2": {
                "errors": [
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"upscale_method: 'cubic-ish' not in {methods}",
                        "extra_info": {
                            "input_name": "upscale_method",
                            "input_config": [methods, {}],
                            "received_value": "cubic-ish",
                        },
                    }
                ],
                "dependent_outputs": ["3"],
                "class_type": "ImageScale",
            },
        },
    }


async def test_top_level_validation_errors(http: httpx.AsyncClient) -> None:
    response = await http.post("/prompt", json={"client_id": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "no_prompt",
            "message": "No prompt provided",
            "details": "No prompt provided",
            "extra_info": {},
        },
        "node_errors": {},
    }

    unknown = {"7": {"class_type": "NoSuchNode", "inputs": {}}, **empty_image_save()}
    response = await http.post("/prompt", json={"prompt": unknown})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_prompt",
            "message": "Cannot execute because node NoSuchNode does not exist.",
            "details": "Node ID '#7'",
            "extra_info": {},
        },
        "node_errors": {},
    }

    no_output = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}}
    response = await http.post("/prompt", json={"prompt": no_output})
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "prompt_no_outputs",
        "message": "Prompt has no outputs",
        "details": "",
        "extra_info": {},
    }

    response = await http.post("/prompt", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "500 Internal Server Error\n\nServer got itself in trouble"

    ui_workflow = {"last_node_id": 9, "nodes": [{"id": 1}], "links": []}
    assert (await http.post("/prompt", json={"prompt": ui_workflow})).status_code == 500


async def test_return_type_mismatch_names_the_link(http: httpx.AsyncClient) -> None:
    graph = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    body = (await http.post("/prompt", json={"prompt": graph})).json()
    details = "images, received_type(LATENT) mismatch input_type(IMAGE)"
    assert body["error"]["details"] == f"Return type mismatch between linked nodes: {details}"
    assert body["node_errors"] == {
        "3": {
            "errors": [
                {
                    "type": "return_type_mismatch",
                    "message": "Return type mismatch between linked nodes",
                    "details": details,
                    "extra_info": {
                        "input_name": "images",
                        "input_config": ["IMAGE", {}],
                        "received_type": "LATENT",
                        "linked_node": ["1", 0],
                    },
                }
            ],
            "dependent_outputs": ["3"],
            "class_type": "SaveImage",
        }
    }


async def node_error(http: httpx.AsyncClient, graph: dict[str, Any], node: str) -> dict[str, Any]:
    response = await http.post("/prompt", json={"prompt": graph})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "prompt_outputs_failed_validation"
    [error] = response.json()["node_errors"][node]["errors"]
    return dict(error)


async def test_per_input_validation_errors(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.models["checkpoints"] = []
    error = await node_error(http, txt2img(), "4")
    assert error["type"] == "value_not_in_list"
    assert error["details"] == "ckpt_name: 'dreamshaper_8.safetensors' not in []"
    assert error["extra_info"]["input_config"] == [[], {}]

    fake.reset()
    graph = txt2img()
    graph["3"]["inputs"]["seed"] = -1
    error = await node_error(http, graph, "3")
    assert (error["type"], error["message"], error["details"]) == (
        "value_smaller_than_min",
        "Value -1 smaller than min of 0",
        "seed",
    )

    graph = txt2img()
    graph["3"]["inputs"]["sampler_name"] = "euler_magic"
    error = await node_error(http, graph, "3")
    assert error["type"] == "value_not_in_list"
    assert error["details"] == "sampler_name: 'euler_magic' not in (list of length 42)"
    assert error["extra_info"]["input_config"] is None

    graph = txt2img()
    graph["3"]["inputs"]["cfg"] = 101
    error = await node_error(http, graph, "3")
    assert (error["type"], error["message"]) == ("value_bigger_than_max", "Value 101.0 bigger than max of 100.0")

    graph = txt2img()
    del graph["3"]["inputs"]["steps"]
    error = await node_error(http, graph, "3")
    assert (error["type"], error["details"]) == ("required_input_missing", "steps")

    load = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "does_not_exist.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    error = await node_error(http, load, "1")
    assert error["type"] == "custom_validation_failed"
    assert error["details"] == "image - Invalid image file: does_not_exist.png"

    graph = txt2img()
    graph["9"]["inputs"]["images"] = ["99", 0]
    error = await node_error(http, graph, "9")  # a KeyError while validating the output itself
    assert (error["type"], error["details"]) == ("exception_during_validation", "'99'")
    assert error["extra_info"]["exception_type"] == "KeyError"

    graph = txt2img()
    graph["8"]["inputs"]["samples"] = ["99", 0]
    error = await node_error(http, graph, "8")  # … or while validating an upstream node
    assert (error["type"], error["details"]) == ("exception_during_inner_validation", "'99'")
    assert error["extra_info"]["linked_node"] == ["8", 0]

    # A literal where a link is expected passes validation (it fails at run time).
    graph = txt2img()
    graph["8"]["inputs"]["vae"] = "x"
    assert (await http.post("/prompt", json={"prompt": graph})).status_code == 200


async def test_partial_acceptance_reports_the_dropped_output(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    graph = {
        **empty_image_save(prefix="good"),
        "3": {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "nope", "width": 8, "height": 8, "crop": "disabled"},
        },
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "bad"}},
    }
    response = await http.post("/prompt", json={"prompt": graph})
    assert response.status_code == 200
    body = response.json()
    assert set(body["node_errors"]) == {"3"}
    assert body["node_errors"]["3"]["dependent_outputs"] == ["4"]
    assert body["node_errors"]["3"]["errors"][0]["type"] == "value_not_in_list"
    entry = await wait_history(http, body["prompt_id"])
    assert entry["prompt"][4] == ["2"]
    assert list(entry["outputs"]) == ["2"]


async def test_prompt_ids_numbers_and_priority(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    response = await http.post("/prompt", json={"prompt": empty_image_save(), "prompt_id": "my-job-1", "number": 5})
    assert response.json() == {"prompt_id": "my-job-1", "number": 5.0, "node_errors": {}}
    await wait_history(http, "my-job-1")

    fake.require_uuid_prompt_id = True
    response = await http.post("/prompt", json={"prompt": empty_image_save(), "prompt_id": "my-job-2"})
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_prompt_id"
    good = str(uuid.uuid4())
    assert (await http.post("/prompt", json={"prompt": empty_image_save(), "prompt_id": good})).status_code == 200
    await wait_history(http, good)

    fake.hold()
    last = await submit(http, empty_image_save())
    front = await submit(http, empty_image_save(), front=True)
    first = await submit(http, empty_image_save(), number=-100)
    pending = (await http.get("/queue")).json()["queue_pending"]
    assert sorted((item[0], item[1]) for item in pending) == [(-100.0, first), (-3, front), (2, last)]
    fake.release()
    for prompt_id in (first, front, last):
        await wait_history(http, prompt_id)
    assert [r.prompt_id for r in fake.executions[-3:]] == [first, front, last]


async def test_hold_release_and_queue_delete(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.hold()
    ids = [await submit(http, empty_image_save(prefix=f"q{i}"), client_id="c9") for i in range(3)]
    queue = (await http.get("/queue")).json()
    assert queue["queue_running"] == []
    assert sorted(item[1] for item in queue["queue_pending"]) == sorted(ids)
    item = next(i for i in queue["queue_pending"] if i[1] == ids[0])
    assert item[2]["2"]["class_type"] == "SaveImage" and item[3] == {"client_id": "c9"} and item[4] == ["2"]
    assert (await http.get("/prompt")).json() == {"exec_info": {"queue_remaining": 3}}

    assert (await http.post("/queue", json={"delete": [ids[1]]})).status_code == 200
    assert sorted(i[1] for i in (await http.get("/queue")).json()["queue_pending"]) == sorted([ids[0], ids[2]])
    await asyncio.sleep(0.1)
    assert fake.executions == []

    fake.release()
    await wait_history(http, ids[0])
    await wait_history(http, ids[2])
    assert (await http.get(f"/history/{ids[1]}")).json() == {}

    fake.hold()
    extra = await submit(http, empty_image_save())
    assert (await http.post("/queue", json={"clear": True})).status_code == 200
    assert (await http.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
    fake.release()
    await asyncio.sleep(0.1)
    assert (await http.get(f"/history/{extra}")).json() == {}


async def test_running_prompt_shows_in_queue(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 0.5
    prompt_id = await submit(http, txt2img())
    await asyncio.sleep(0.1)
    queue = (await http.get("/queue")).json()
    assert [item[1] for item in queue["queue_running"]] == [prompt_id]
    assert (await http.get(f"/history/{prompt_id}")).json() == {}


async def test_history_listing_and_deletion(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    ids = [await submit(http, empty_image_save(prefix=f"h{i}")) for i in range(3)]
    for prompt_id in ids:
        await wait_history(http, prompt_id)
    assert list((await http.get("/history")).json()) == ids
    assert list((await http.get("/history", params={"max_items": 2})).json()) == ids[1:]
    assert (await http.get("/history/unknown")).json() == {}
    assert (await http.post("/history", json={"delete": [ids[0]]})).status_code == 200
    assert list((await http.get("/history")).json()) == ids[1:]
    assert (await http.post("/history", json={"clear": True})).status_code == 200
    assert (await http.get("/history")).json() == {}


async def test_free_records_flags(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    response = await http.post("/free", json={"unload_models": True, "free_memory": True})
    assert response.status_code == 200 and response.content == b""
    assert fake.free_calls == [{"unload_models": True, "free_memory": True}]


async def test_back_to_back_prompts_leave_no_idle_gap(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 0.05
    ids = [await submit(http, txt2img(seed=i, batch=1, width=64, height=64)) for i in range(5)]
    await wait_history(http, ids[-1])
    records = fake.executions
    assert [r.prompt_id for r in records] == ids and all(r.status == "success" for r in records)
    durations = [r.finished_at - r.started_at for r in records if r.finished_at is not None]
    gaps = [b.started_at - a.finished_at for a, b in itertools.pairwise(records) if a.finished_at]
    assert all(d >= 0.045 for d in durations), durations
    assert sorted(durations)[2] < 0.07, durations  # the median: ~job_seconds (robust to a loaded machine)
    assert sorted(gaps)[1] < 0.005 and max(gaps) < 0.05, gaps  # the next prompt starts at once, no polling


# --- files ---------------------------------------------------------------------------------------


async def test_outputs_are_real_pngs_of_the_graph_size(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    first = await wait_history(http, await submit(http, txt2img(seed=1)))
    other = await wait_history(http, await submit(http, txt2img(seed=2)))
    # Same sampler (cached), another file name prefix: only the SaveImage node runs again.
    renamed = await wait_history(http, await submit(http, txt2img(seed=2, prefix="probe/dog")))
    names = [[i["filename"] for i in e["outputs"]["9"]["images"]] for e in (first, other, renamed)]
    assert names == [
        ["cat_00001_.png", "cat_00002_.png"],
        ["cat_00003_.png", "cat_00004_.png"],
        ["dog_00001_.png", "dog_00002_.png"],
    ]

    async def fetch(name: str) -> bytes:
        response = await http.get("/view", params={"filename": name, "subfolder": "probe", "type": "output"})
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == f'filename="{name}"'
        return response.content

    one = await fetch("cat_00001_.png")
    image = Image.open(io.BytesIO(one))
    assert (image.format, image.size) == ("PNG", (320, 256))
    assert await fetch("cat_00003_.png") != one
    assert await fetch("dog_00001_.png") == await fetch("cat_00003_.png")  # same seed, same pixels
    assert await fetch("cat_00002_.png") != one  # batch items differ
    assert (fake.output_dir / "probe" / "cat_00001_.png").read_bytes() == one

    preview = await http.get("/view", params={"filename": "cat_00001_.png", "subfolder": "probe", "preview": "jpeg;80"})
    assert preview.headers["content-type"] == "image/jpeg" and preview.content[:2] == b"\xff\xd8"
    assert (await http.get("/view", params={"filename": "nope.png", "subfolder": "probe"})).status_code == 404
    assert (await http.get("/view", params={"filename": "../secret.png"})).status_code == 400
    assert (await http.get("/view", params={"filename": "a.png", "subfolder": "../.."})).status_code == 403
    assert (await http.get("/view", params={"filename": "a.png", "type": "bogus"})).status_code == 400


async def test_upload_dedup_and_rename(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    red, blue = png_of((255, 0, 0)), png_of((0, 0, 255), (24, 16))

    async def upload(data: bytes, **fields: str) -> httpx.Response:
        return await http.post("/upload/image", files={"image": ("red.png", data, "image/png")}, data=fields)

    assert (await upload(red)).json() == {"name": "red.png", "subfolder": "", "type": "input"}
    assert (await upload(red)).json()["name"] == "red.png"
    assert (await upload(blue)).json()["name"] == "red (1).png"
    assert (await upload(blue, overwrite="true")).json()["name"] == "red.png"
    assert (await upload(red, subfolder="probe")).json() == {"name": "red.png", "subfolder": "probe", "type": "input"}
    assert (await upload(red, type="temp")).json()["type"] == "temp"
    assert (await upload(red, subfolder="../..")).status_code == 400
    assert (await upload(red, type="bogus")).status_code == 500
    assert (await http.post("/upload/image", data={"subfolder": "x"})).status_code == 400
    assert fake.uploads == {"red.png": blue, "red (1).png": blue, "probe/red.png": red, "red.png [temp]": red}

    info = (await http.get("/object_info/LoadImage")).json()["LoadImage"]
    assert info["input"]["required"]["image"] == [["red (1).png", "red.png"], {"image_upload": True}]

    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "probe/red.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "loaded"}},
    }
    entry = await wait_history(http, await submit(http, graph))
    name = entry["outputs"]["2"]["images"][0]["filename"]
    saved = (await http.get("/view", params={"filename": name})).content
    assert Image.open(io.BytesIO(saved)).size == (40, 30)
    view = await http.get("/view", params={"filename": "red.png", "subfolder": "probe", "type": "input"})
    assert view.content == red


def test_vhs_graph_writes_an_h264_mp4(fake: FakeComfyUI) -> None:
    ffprobe = shutil.which("ffprobe")
    assert ffprobe is not None
    with httpx.Client(base_url=fake.url, timeout=10) as http:
        response = http.post("/prompt", json={"prompt": wan_t2v(length=9, frame_rate=16)})
        assert response.status_code == 200, response.text
        prompt_id = response.json()["prompt_id"]
        deadline = time.monotonic() + 10
        while not (entry := http.get(f"/history/{prompt_id}").json()) and time.monotonic() < deadline:
            time.sleep(0.02)
        [gif] = entry[prompt_id]["outputs"]["9"]["gifs"]
        path = fake.output_dir / "shots" / "wan_00001.mp4"
        assert gif == {
            "filename": "wan_00001.mp4",
            "subfolder": "shots",
            "type": "output",
            "format": "video/h264-mp4",
            "frame_rate": 16.0,
            "workflow": "wan_00001.png",
            "fullpath": str(path),
        }
        view = http.get("/view", params={"filename": "wan_00001.mp4", "subfolder": "shots", "type": "output"})
        assert view.status_code == 200 and view.content == path.read_bytes()
    probe = subprocess.run(
        [ffprobe, "-v", "error", "-select_streams", "v:0", "-count_frames", "-of", "json", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == (42, 64)  # 480x720 scaled to a 64 px long edge
    assert int(stream["nb_read_frames"]) == 9
    assert stream["r_frame_rate"] == "16/1"


# --- catalogue -----------------------------------------------------------------------------------


async def test_object_info_shapes(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    catalogue = (await http.get("/object_info")).json()
    assert {"KSampler", "SaveImage", "VHS_VideoCombine", "UnetLoaderGGUF", "FramePackSampler"} <= set(catalogue)
    ksampler = catalogue["KSampler"]
    assert ksampler["input"]["required"]["seed"] == ["INT", {"default": 0, "min": 0, "max": 18446744073709551615}]
    assert ksampler["input"]["required"]["model"] == ["MODEL"]
    assert ksampler["input"]["required"]["scheduler"][0][:2] == ["simple", "sgm_uniform"]
    assert ksampler["input_order"]["required"][:3] == ["model", "seed", "steps"]
    assert (ksampler["output"], ksampler["output_name"], ksampler["output_is_list"]) == (
        ["LATENT"],
        ["LATENT"],
        [False],
    )
    assert (ksampler["python_module"], ksampler["category"], ksampler["output_node"]) == ("nodes", "sampling", False)
    assert "api_node" not in ksampler

    assert catalogue["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"] == [
        sorted(DEFAULT_MODELS["checkpoints"]),
        {},
    ]
    vhs = catalogue["VHS_VideoCombine"]
    assert vhs["python_module"] == "custom_nodes.ComfyUI-VideoHelperSuite" and vhs["output_node"] is True
    assert catalogue["UnetLoaderGGUF"]["python_module"] == "custom_nodes.ComfyUI-GGUF"
    save_video = catalogue["SaveVideo"]
    assert save_video["python_module"] == "comfy_extras.nodes_video"
    assert (save_video["api_node"], save_video["deprecated"], save_video["experimental"]) == (False, False, False)
    assert save_video["input"]["required"]["format"] == [
        "COMBO",
        {"multiselect": False, "options": ["auto", "mp4"], "default": "auto"},
    ]

    fake.models["loras"] = ["b.safetensors", "a.safetensors"]
    fake.missing_nodes = {"FramePackSampler"}
    lora = (await http.get("/object_info/LoraLoader")).json()["LoraLoader"]
    assert lora["input"]["required"]["lora_name"] == [["a.safetensors", "b.safetensors"], {}]
    assert "FramePackSampler" not in (await http.get("/object_info")).json()
    assert (await http.get("/object_info/FramePackSampler")).json() == {}
    assert (await http.get("/object_info/RIFE VFI")).json()["RIFE VFI"]["name"] == "RIFE VFI"
    graph = {"7": {"class_type": "FramePackSampler", "inputs": {}}, **empty_image_save()}
    body = (await http.post("/prompt", json={"prompt": graph})).json()
    assert body["error"]["message"] == "Cannot execute because node FramePackSampler does not exist."


async def test_models_routes(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    folders = (await http.get("/models")).json()
    required = {"checkpoints", "loras", "vae", "clip_vision", "ipadapter", "diffusion_models", "unet_gguf"}
    assert required | {"text_encoders", "clip_gguf", "upscale_models"} <= set(folders)
    assert (await http.get("/models/unet_gguf")).json() == ["Wan2.1-T2V-1.3B-Q8_0.gguf"]
    assert (await http.get("/models/nope")).status_code == 404
    fake.models = {"checkpoints": ["only.safetensors"]}
    assert (await http.get("/models")).json() == ["checkpoints"]


# --- connections and restarts --------------------------------------------------------------------


async def test_dropped_socket_reconnects_and_gets_the_current_node(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    fake.job_seconds = 0.8
    fake.steps = 10
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        prompt_id = await submit(http, txt2img(steps=10), client_id="c1")
        while (await next_event(ws))[0] != "progress":
            pass
        fake.drop_sockets()
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await next_event(ws)
    async with websockets.connect(ws_url(fake, "c1")) as ws:
        assert (await next_event(ws))[0] == "status"
        assert await next_event(ws) == ("executing", {"node": "3"})
        events = await events_until_done(ws, prompt_id)
    assert "execution_success" in [kind for kind, _ in events]
    assert fake.executions[-1].status == "success"
    assert fake.internal_errors == []


async def test_client_vanishing_mid_job_does_not_hurt_the_executor(
    fake: FakeComfyUI, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake.job_seconds = 0.2
    ws = await websockets.connect(ws_url(fake, "gone"))
    prompt_id = await submit(http, txt2img(), client_id="gone")
    while (await next_event(ws))[0] != "progress":
        pass
    ws.transport.abort()  # the client process dies mid-job
    entry = await wait_history(http, prompt_id)
    assert entry["status"]["status_str"] == "success"
    assert (await wait_history(http, await submit(http, txt2img(seed=5), client_id="gone")))["outputs"]
    assert fake.internal_errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_restart_loses_queue_and_history(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    done = await submit(http, empty_image_save())
    await wait_history(http, done)
    fake.job_seconds = 5.0
    running = await submit(http, txt2img())
    pending = await submit(http, txt2img(seed=3))
    for _ in range(500):
        if [item[1] for item in (await http.get("/queue")).json()["queue_running"]] == [running]:
            break
        await asyncio.sleep(0.01)
    port = fake.port
    await asyncio.to_thread(fake.restart)
    assert fake.port == port
    async with httpx.AsyncClient(base_url=fake.url) as fresh:
        assert (await fresh.get("/queue")).json() == {"queue_running": [], "queue_pending": []}
        assert (await fresh.get("/history")).json() == {}
        assert (await fresh.get(f"/history/{running}")).json() == {}
        assert [r.status for r in fake.executions if r.prompt_id == running] == ["lost"]
        assert pending not in [r.prompt_id for r in fake.executions]
        fake.job_seconds = 0.05
        again = await submit(fresh, empty_image_save())
        assert (await wait_history(fresh, again))["status"]["completed"] is True


async def test_api_prefix_mirrors_every_route(fake: FakeComfyUI, http: httpx.AsyncClient) -> None:
    async with websockets.connect(ws_url(fake, "api", prefix="/api")) as ws:
        assert (await next_event(ws))[1]["sid"] == "api"
        response = await http.post("/api/prompt", json={"prompt": empty_image_save(), "client_id": "api"})
        prompt_id = response.json()["prompt_id"]
        events = await events_until_done(ws, prompt_id)
    assert "execution_success" in [kind for kind, _ in events]
    assert list((await http.get(f"/api/history/{prompt_id}")).json()) == [prompt_id]
    assert "KSampler" in (await http.get("/api/object_info/KSampler")).json()
    assert (await http.get("/api/queue")).json() == {"queue_running": [], "queue_pending": []}
    assert (await http.get("/api/system_stats")).json()["system"]["comfyui_version"] == "0.3.64"
    assert (await http.get("/api/models/checkpoints")).status_code == 200
    assert fake.requests_to("/api/prompt")[0].method == "POST"
