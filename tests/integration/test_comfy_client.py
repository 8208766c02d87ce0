"""The ComfyUI client and socket against the fake server: the protocol's traps."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.comfyui import (
    ComfyClient,
    ComfySocket,
    ComfyUnavailable,
    Connected,
    Preview,
    Progress,
    PromptFailed,
    PromptFinished,
    PromptRejected,
    SocketMessage,
)
from tests.fakes import FakeComfyUI


def _image_graph(width: int = 64, *, bad_branch: bool = False) -> dict:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "probe/client"}},
    }
    if bad_branch:
        graph["3"] = {
            "class_type": "ImageScale",
            "inputs": {"image": ["1", 0], "upscale_method": "cubic-ish", "width": 8, "height": 8, "crop": "disabled"},
        }
        graph["4"] = {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "probe/bad"}}
    return graph


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.05) as server:
        yield server


async def _collect_until_finished(socket: ComfySocket, prompt_id: str, connected: asyncio.Event) -> list[SocketMessage]:
    seen: list[SocketMessage] = []
    async for message in socket.messages():
        seen.append(message)
        if isinstance(message, Connected):
            connected.set()
        if isinstance(message, PromptFinished) and message.prompt_id == prompt_id:
            return seen
    return seen


async def _run(client: ComfyClient, socket: ComfySocket, graph: dict[str, Any]) -> tuple[str, list[SocketMessage]]:
    """Submit `graph` once the socket listens (events only reach a live socket); its id and every message seen."""
    prompt_id = str(uuid.uuid4())
    connected = asyncio.Event()
    finished = asyncio.create_task(_collect_until_finished(socket, prompt_id, connected))
    await asyncio.wait_for(connected.wait(), 10)
    assert await client.submit(graph, prompt_id=prompt_id) == prompt_id
    return prompt_id, await asyncio.wait_for(finished, 10)


async def test_a_prompt_runs_and_its_outcome_and_files_come_back(fake: FakeComfyUI) -> None:
    client = ComfyClient(fake.url)
    socket = ComfySocket(fake.url, client.client_id)
    try:
        prompt_id, seen = await _run(client, socket, _image_graph())
        assert isinstance(seen[0], Connected)
        outcome = await client.history(prompt_id)
        assert outcome is not None and outcome.status == "success" and outcome.seconds is not None
        [file] = outcome.outputs
        assert (file.key, file.subfolder, file.type, file.is_image) == ("images", "probe", "output", True)
        assert (await client.download(file))[:8] == b"\x89PNG\r\n\x1a\n"
        assert await client.history(str(uuid.uuid4())) is None
    finally:
        await client.aclose()


async def test_sampler_progress_and_previews_carry_the_prompt_id(fake: FakeComfyUI) -> None:
    fake.previews = True  # a server started with `--preview-method auto`
    client = ComfyClient(fake.url)
    socket = ComfySocket(fake.url, client.client_id)
    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": fake.models["checkpoints"][0]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a turtle", "clip": ["1", 1]}},
        "3": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "4": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "seed": 1,
                "steps": 4,
                "cfg": 7.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["2", 0],
                "negative": ["2", 0],
                "latent_image": ["3", 0],
                "denoise": 1.0,
            },
        },
        "5": {"class_type": "VAEDecode", "inputs": {"samples": ["4", 0], "vae": ["1", 2]}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "probe/sampled"}},
    }
    try:
        prompt_id, seen = await _run(client, socket, graph)
        progress = [m for m in seen if isinstance(m, Progress)]
        previews = [m for m in seen if isinstance(m, Preview)]
        assert [(p.value, p.maximum) for p in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
        assert all(p.prompt_id == prompt_id for p in progress + previews) and len(previews) == 4
        assert previews[0].image[:2] == b"\xff\xd8" and previews[0].media_type == "image/jpeg"
    finally:
        await client.aclose()


async def test_a_rejected_graph_names_each_failing_input(fake: FakeComfyUI) -> None:
    client = ComfyClient(fake.url)
    try:
        graph = _image_graph(width=999999)
        graph["1"]["inputs"].pop("color")
        with pytest.raises(PromptRejected) as rejected:
            await client.submit(graph)
        assert rejected.value.error_type == "prompt_outputs_failed_validation"
        assert any("node 1 (EmptyImage) width" in p and "bigger than max" in p for p in rejected.value.problems)
        assert any("node 1 (EmptyImage) color" in p for p in rejected.value.problems)
        with pytest.raises(PromptRejected, match="NoSuchNode"):
            await client.submit({"1": {"class_type": "NoSuchNode", "inputs": {}}})
    finally:
        await client.aclose()


async def test_outputs_dropped_on_a_200_count_as_a_rejection_and_leave_nothing_queued(fake: FakeComfyUI) -> None:
    client = ComfyClient(fake.url)
    fake.hold()
    try:
        with pytest.raises(PromptRejected) as rejected:
            await client.submit(_image_graph(bad_branch=True))
        assert rejected.value.error_type == "outputs_dropped"
        assert any("upscale_method" in p for p in rejected.value.problems)
        assert (await client.queue()).pending == ()
    finally:
        fake.release()
        await client.aclose()


async def test_an_unreachable_server_is_reported_with_its_address() -> None:
    with FakeComfyUI() as fake:
        url = fake.url
    client = ComfyClient(url, timeout=2)
    try:
        with pytest.raises(ComfyUnavailable, match=f"ComfyUI at {url} is unreachable"):
            await client.queue()
    finally:
        await client.aclose()


async def test_a_runtime_failure_names_the_node_by_title_and_the_input_it_failed_on(fake: FakeComfyUI) -> None:
    client = ComfyClient(fake.url)
    socket = ComfySocket(fake.url, client.client_id)
    # A v3 node's combo value is checked only at run time (0.3.64): the error quotes it.
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 2, "color": 0}},
        "2": {"class_type": "CreateVideo", "inputs": {"images": ["1", 0], "fps": 8}},
        "3": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["2", 0], "filename_prefix": "video/clip", "format": "avi", "codec": "auto"},
            "_meta": {"title": "Save clip"},
        },
    }
    try:
        prompt_id, seen = await _run(client, socket, graph)
        [failed] = [m for m in seen if isinstance(m, PromptFailed)]
        outcome = await client.history(prompt_id)
        assert outcome is not None and outcome.status == "error" and outcome.failure is not None
        assert outcome.failure.describe() == (
            "ValueError in Save clip (node 3, SaveVideo) with format=avi: 'avi' is not a valid VideoContainer"
        )
        assert failed.failure.inputs == (("format", "avi"),)  # the socket's event carries the same inputs
    finally:
        await client.aclose()
