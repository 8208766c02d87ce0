"""The production index with the real model and a real local Qdrant: retrieval, project separation, syncing,
a store on disk and its folder lock."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.assistant import Embedder, Entry, IndexFolderBusy, ProductionIndex, SyncReport
from services.errors import Invalid


def _entry(project_id: int, key: str, title: str, text: str) -> Entry:
    kind, _, number = key.partition(":")
    return Entry(key, project_id, kind, title, text, f"/{kind}s?project={project_id}&{kind}={number}")


HARBOUR = [
    _entry(1, "project:1", "Harbour Lights (project)",
           "Harbour Lights: a gentle fantasy anime about a port town where spirits ride the evening ferry."),
    _entry(1, "storyline:1", "Storyline",
           "When the ferry's lantern goes out, the spirits cannot find their way home, and the town's children "
           "must sail to the lighthouse island before the winter festival."),
    _entry(1, "character:1", "Koopa (character)",
           "Koopa: a small turtle-like boy with a round green shell on his back and a spiky black collar. "
           "Stubborn, brave, always hungry. Design prompt: chibi turtle boy, green shell, spiked collar."),
    _entry(1, "character:2", "Mira (character)",
           "Mira: a fox girl with orange fur, pointed ears and a bushy tail, who always wears a long red scarf "
           "around her neck. Quick-witted and curious. Design prompt: fox girl, red scarf, amber eyes."),
    _entry(1, "character:3", "Captain Harlan (character)",
           "Captain Harlan: the old ferry captain, white beard, weathered navy coat and peaked cap, who has "
           "steered the boat between the islands for forty years. Design prompt: elderly sailor, pipe."),
    _entry(1, "character:4", "Sora (character)",
           "Sora: the lighthouse keeper's daughter, a tall girl with short black hair, round glasses and a "
           "yellow raincoat, who reads the weather from the clouds."),
    _entry(1, "scene:1", "Scene 1: The lantern goes out",
           "Night at the pier. The ferry's lantern flickers and dies; the spirits waiting on the dock grow "
           "restless as fog rolls in."),
    _entry(1, "scene:2", "Scene 2: Setting sail",
           "Dawn. The children untie the rowing boat and set off across the bay toward the lighthouse island."),
]  # fmt: skip
# Another production with a character much like Koopa: searches of project 1 must never return it.
MEADOW = [
    _entry(2, "character:9", "Koopa (character)", "Koopa: a turtle with a bright green shell and a spiky collar."),
    _entry(2, "scene:5", "Scene 1: The meadow", "A sunny meadow full of flowers and bees."),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder.load()


@pytest.fixture
async def index(embedder: Embedder) -> AsyncIterator[ProductionIndex]:
    index = ProductionIndex(None, load_embedder=lambda: embedder)
    try:
        yield index
    finally:
        await index.aclose()


async def _keys(index: ProductionIndex, project_id: int, question: str) -> list[str]:
    return [hit.entry.key for hit in await index.search(project_id, question, limit=20)]


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("what colour is Koopa's shell?", "character:1"),
        ("what does the fox girl wear around her neck?", "character:2"),
        ("who steers the ferry?", "character:3"),
        ("who can predict the weather?", "character:4"),
        ("what happens when the lantern goes out on the pier?", "scene:1"),
    ],
)
async def test_a_question_about_an_item_finds_that_item_first(index: ProductionIndex, question: str, key: str) -> None:
    await index.sync(1, HARBOUR)
    hits = await index.search(1, question)
    assert hits[0].entry.key == key
    assert hits[0].entry == next(entry for entry in HARBOUR if entry.key == key)
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert len(hits) == 6


async def test_searches_stay_within_their_project(index: ProductionIndex) -> None:
    await index.sync(1, HARBOUR)
    await index.sync(2, MEADOW)
    hits = await index.search(1, "Koopa's green shell", limit=20)
    assert sorted(hit.entry.key for hit in hits) == sorted(entry.key for entry in HARBOUR)
    assert {hit.entry.project_id for hit in hits} == {1}
    assert await _keys(index, 2, "Koopa's green shell") == ["character:9", "scene:5"]
    assert await _keys(index, 3, "Koopa's green shell") == []


async def test_a_blank_question_finds_nothing(index: ProductionIndex) -> None:
    await index.sync(1, HARBOUR)
    assert await index.search(1, "  ") == []


async def test_sync_embeds_only_new_and_changed_entries(index: ProductionIndex) -> None:
    assert await index.sync(1, HARBOUR) == SyncReport(embedded=8, removed=0, unchanged=0)
    assert await index.sync(1, HARBOUR) == SyncReport(embedded=0, removed=0, unchanged=8)

    koopa = HARBOUR[2]
    recoloured = dataclasses.replace(koopa, text=koopa.text.replace("green shell", "purple shell"))
    edited = [recoloured if entry is koopa else entry for entry in HARBOUR]
    assert await index.sync(1, edited) == SyncReport(embedded=1, removed=0, unchanged=7)
    [hit] = await index.search(1, "the character with a purple shell", limit=1)
    assert hit.entry == recoloured

    relinked = [dataclasses.replace(e, link=e.link + "&tab=design") if e.key == "character:3" else e for e in edited]
    assert await index.sync(1, relinked) == SyncReport(embedded=1, removed=0, unchanged=7)


async def test_sync_removes_keys_no_longer_given_and_leaves_other_projects(index: ProductionIndex) -> None:
    await index.sync(1, HARBOUR)
    await index.sync(2, MEADOW)
    without_scenes = [entry for entry in HARBOUR if entry.kind != "scene"]
    assert await index.sync(1, without_scenes) == SyncReport(embedded=0, removed=2, unchanged=6)
    assert not {"scene:1", "scene:2"} & set(await _keys(index, 1, "the lantern goes out at night on the pier"))

    assert await index.sync(1, []) == SyncReport(embedded=0, removed=6, unchanged=0)
    assert await _keys(index, 1, "Koopa") == []
    assert await _keys(index, 2, "Koopa") == ["character:9", "scene:5"]


async def test_sync_refuses_entries_of_another_project_or_repeated_keys(index: ProductionIndex) -> None:
    with pytest.raises(Invalid, match="character:9 belongs to project 2, not 1"):
        await index.sync(1, [*HARBOUR, MEADOW[0]])
    with pytest.raises(Invalid, match="the key character:1 appears twice"):
        await index.sync(1, [*HARBOUR, HARBOUR[2]])


async def test_the_event_loop_keeps_running_during_a_sync(index: ProductionIndex) -> None:
    many = [_entry(1, f"event:{i}", f"Event {i}", f"On day {i} the ferry carried {i % 9} spirits.") for i in range(200)]
    gaps: list[float] = []

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await index.sync(1, many)
    took = time.perf_counter() - started
    ticker.cancel()
    assert max(gaps) < took / 2  # a blocked loop would show one gap as long as the sync


async def test_searches_during_a_sync_see_a_consistent_store(index: ProductionIndex) -> None:
    syncing = asyncio.create_task(index.sync(1, HARBOUR))
    while not syncing.done():
        for hit in await index.search(1, "Koopa's shell"):
            assert hit.entry in HARBOUR
    assert (await syncing).embedded == 8


async def test_a_cancelled_sync_keeps_the_chunks_it_stored(index: ProductionIndex) -> None:
    many = [_entry(1, f"event:{i}", f"Event {i}", f"On day {i} the ferry carried {i % 9} spirits.") for i in range(320)]
    syncing = asyncio.create_task(index.sync(1, many))
    while not await index.search(1, "the ferry"):  # searches take turns with the sync's chunks
        pass
    syncing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await syncing
    report = await index.sync(1, many)
    assert 0 < report.embedded < 320
    assert report.embedded + report.unchanged == 320


async def test_a_store_on_disk_survives_closing_without_embedding_again(embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "assistant"
    first = ProductionIndex(folder, load_embedder=lambda: embedder)
    await first.sync(1, HARBOUR)
    await first.aclose()

    loads: list[Embedder] = []

    def load() -> Embedder:
        loads.append(embedder)
        return embedder

    reopened = ProductionIndex(folder, load_embedder=load)
    try:
        assert await reopened.sync(1, HARBOUR) == SyncReport(embedded=0, removed=0, unchanged=8)
        assert loads == []  # nothing to embed, so the model was never even loaded
        assert (await reopened.search(1, "what colour is Koopa's shell?"))[0].entry == HARBOUR[2]
        assert len(loads) == 1
    finally:
        await reopened.aclose()


async def test_one_folder_serves_one_index_at_a_time(embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "assistant"
    first = ProductionIndex(folder, load_embedder=lambda: embedder)
    second = ProductionIndex(folder, load_embedder=lambda: embedder)
    await first.sync(1, HARBOUR)
    with pytest.raises(IndexFolderBusy, match=f"Another studio process uses the assistant's data folder {folder}"):
        await second.search(1, "Koopa")
    await first.aclose()
    try:
        assert (await second.search(1, "Koopa"))[0].entry.key == "character:1"
    finally:
        await second.aclose()


async def test_a_folder_held_by_another_process_is_refused(embedder: Embedder, tmp_path: Path) -> None:
    folder = tmp_path / "assistant"
    hold = f"from qdrant_client import QdrantClient; c = QdrantClient(path={str(folder)!r}); print('open'); input()"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", hold, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and await holder.stdout.readline() == b"open\n"
        index = ProductionIndex(folder, load_embedder=lambda: embedder)
        with pytest.raises(IndexFolderBusy, match="Another studio process"):
            await index.sync(1, HARBOUR)
    finally:
        await holder.communicate(b"\n")
