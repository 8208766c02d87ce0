"""Scanning a ComfyUI device's outputs imports what people made there, never the studio's own generations."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.comfyui import ComfyClient
from services.datasets.store import GENERATED_SOURCE, NewImage
from services.generation import ImageBatchDraft
from studio.models import Job, JobState
from studio.root import Studio
from tests.bible_helpers import KOOPA
from tests.fakes import FakeComfyUI
from tests.integration.test_comfy_worker import _character, _fake, _finished, _settings, _started


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Studio, FakeComfyUI]]:
    with _fake() as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            yield studio, fake
        finally:
            await studio.stop()


async def _made_on_comfyui(fake: FakeComfyUI, prefix: str) -> str:
    """A picture someone queued on the server directly; returns its prompt id once it finished."""
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 255}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}},
    }
    client = ComfyClient(fake.url)
    try:
        prompt_id = await client.submit(graph)
        for _ in range(500):
            if await client.history(prompt_id) is not None:
                return prompt_id
            await asyncio.sleep(0.02)
    finally:
        await client.aclose()
    raise AssertionError("the fake never finished the picture")


async def test_a_scan_skips_the_studios_generations_even_for_another_character(
    rig: tuple[Studio, FakeComfyUI],
) -> None:
    studio, fake = rig
    koopa = await _character(studio)
    [generated] = await _finished(studio, await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko"))
    assert generated.state == JobState.SUCCEEDED, generated.error
    # A generation an older studio saved under another prefix: known by the provenance stored for it.
    older = await _made_on_comfyui(fake, "old-studio/koopa")
    owner = await studio.characters.get(koopa)
    await studio.dataset_store.add(
        owner,
        NewImage(
            fake.output_dir.joinpath("old-studio", "koopa_00001_.png").read_bytes(),
            GENERATED_SOURCE,
            f"comfyui:{older}/old-studio/koopa_00001_.png",
        ),
        "aiko",
    )
    outside = await _made_on_comfyui(fake, "sketches/bowser")

    project_id = owner.project_id
    bowser = await studio.characters.create(project_id, KOOPA.model_copy(update={"name": "Bowser Jr"}), "aiko")
    scan: Job = await studio.ingestion.scan_comfyui(bowser.id, "gpu1", "aiko")  # type: ignore[arg-type]
    [done] = await _finished(studio, [scan])
    assert done.state == JobState.SUCCEEDED, done.error
    result = done.result or {}
    assert (result["found"], result["own_generations_skipped"]) == (1, 2)
    [image] = await studio.images.images(result["image_ids"])
    assert image.source_ref == f"comfyui:{outside}/sketches/bowser_00001_.png"
    assert image.character_id == bowser.id
