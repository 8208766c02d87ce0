"""The production index: the assistant's searchable copy of a project's own knowledge (characters, scenes,
storyline...), as sentence embeddings in a local Qdrant store."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from services.assistant.embedding import Embedder

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models
from services.errors import Invalid, StudioError

COLLECTION = "production"
# Point ids derive from (project, key) under this namespace; changing it would orphan every stored point.
POINT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "anime-studio:assistant:production-index")
# Entries embedded and written per turn of the lock during a sync, so a question asked meanwhile waits for
# one chunk, not for the whole sync.
SYNC_CHUNK = 64
_SCROLL_PAGE = 1000

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One piece of the production's knowledge, as the assistant retrieves and cites it."""

    key: str  # stable within a project, e.g. "character:12", "shot:<uuid>", "event:345"
    project_id: int
    kind: str  # "project" | "storyline" | "world" | "character" | "scene" | "shot" | "event" | ...
    title: str  # what a person calls it, e.g. "Koopa (character)"
    text: str  # what is embedded and shown to the assistant
    link: str  # the studio page of the item, e.g. "/characters?project=1&character=12"


_ENTRY_FIELDS = tuple(field.name for field in fields(Entry))


@dataclass(frozen=True)
class Hit:
    entry: Entry
    score: float  # cosine similarity to the question


@dataclass(frozen=True)
class SyncReport:
    embedded: int  # entries (re)embedded because they are new or changed
    removed: int
    unchanged: int


class IndexFolderBusy(StudioError):
    """Qdrant's local mode locks its folder: one client per folder, across processes and within one."""


class ProductionIndex:
    """Every project's entries in one Qdrant collection (cosine, 384 dimensions), filtered by project_id.

    Qdrant's local mode is not made for concurrent use, so every store and embedder call runs in a thread,
    one at a time. The store and the model open on first use, so building the studio stays fast; `aclose`
    releases both (a later call opens them again).
    """

    def __init__(self, path: Path | None, load_embedder: Callable[[], Embedder] = Embedder.load) -> None:
        self._path = path  # None: in memory
        self._load_embedder = load_embedder
        self._client: QdrantClient | None = None
        self._embedder: Embedder | None = None
        self._lock = asyncio.Lock()  # one store or embedder call at a time
        self._syncing = asyncio.Lock()  # syncs apply one after another, each from its own reading of the store

    async def sync(self, project_id: int, entries: Sequence[Entry]) -> SyncReport:
        """Make the index hold exactly `entries` for this project, embedding only new and changed ones.
        Other projects' entries are untouched. Each chunk is stored as soon as it is embedded, so a sync cut short
        leaves the work done so far for the next one."""
        wanted = _by_key(project_id, entries)
        async with self._syncing:
            stored = await self._run(lambda: self._stored(project_id))
            stale = [point_id for key, (point_id, _) in stored.items() if key not in wanted]
            if stale:
                await self._run(lambda: self._store().delete(COLLECTION, _qdrant().models.PointIdsList(points=stale)))
            changed = [entry for key, entry in wanted.items() if key not in stored or stored[key][1] != _hash(entry)]
            for start in range(0, len(changed), SYNC_CHUNK):
                chunk = changed[start : start + SYNC_CHUNK]
                vectors = await self.embed([entry.text for entry in chunk])
                await self._run(lambda chunk=chunk, vectors=vectors: self._upsert(chunk, vectors))
        return SyncReport(embedded=len(changed), removed=len(stale), unchanged=len(wanted) - len(changed))

    async def search(self, project_id: int, question: str, limit: int = 6) -> list[Hit]:
        """The project's entries nearest the question, best first (none for a blank question)."""
        if not question.strip():
            return []
        vector = (await self.embed([question]))[0]
        response = await self._run(
            lambda: self._store().query_points(
                COLLECTION, query=vector, query_filter=_of_project(project_id), limit=limit, with_payload=True
            )
        )
        return [
            Hit(Entry(**{name: point.payload[name] for name in _ENTRY_FIELDS}), point.score)
            for point in response.points
        ]

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """The texts' unit-length embeddings, (len(texts), 384), computed in a thread."""
        return await self._run(lambda: self._model().embed(texts))

    async def aclose(self) -> None:
        """Close the store (releasing its folder lock) and drop the model."""
        await self._run(self._close)

    async def _run(self, work: Callable[[], T]) -> T:
        """`work` in a thread, holding the lock until the thread is done even if the caller is cancelled:
        a thread cannot be stopped, and the next call must not run alongside it."""
        async with self._lock:
            running = asyncio.create_task(asyncio.to_thread(work))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait({running})
                raise

    # The methods below run in a thread, under the lock.

    def _store(self) -> QdrantClient:
        if self._client is None:
            self._client = self._open()
        return self._client

    def _model(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._load_embedder()
        return self._embedder

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._embedder = None

    def _open(self) -> QdrantClient:
        # The lock serialises every call, so the store's SQLite files may be used from any worker thread.
        if self._path is None:
            client = _qdrant().QdrantClient(":memory:", force_disable_check_same_thread=True)
        elif _folder_locked(self._path):
            raise IndexFolderBusy(
                f"Another studio process uses the assistant's data folder {self._path}: stop it, or give this "
                "studio its own data folder."
            )
        else:
            client = _qdrant().QdrantClient(path=str(self._path), force_disable_check_same_thread=True)
        if not client.collection_exists(COLLECTION):
            models = _qdrant().models
            client.create_collection(
                COLLECTION,
                vectors_config=models.VectorParams(size=Embedder.dimensions, distance=models.Distance.COSINE),
            )
        return client

    def _stored(self, project_id: int) -> dict[str, tuple[str, str]]:
        """The project's stored entries: key -> (point id, content hash)."""
        stored: dict[str, tuple[str, str]] = {}
        offset = None
        while True:
            records, offset = self._store().scroll(
                COLLECTION,
                scroll_filter=_of_project(project_id),
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=["key", "hash"],
            )
            for record in records:
                stored[record.payload["key"]] = (str(record.id), record.payload["hash"])
            if offset is None:
                return stored

    def _upsert(self, entries: Sequence[Entry], vectors: np.ndarray) -> None:
        models = _qdrant().models
        points = [
            models.PointStruct(
                id=str(uuid.uuid5(POINT_NAMESPACE, f"{entry.project_id}:{entry.key}")),
                vector=vector.tolist(),
                payload={**asdict(entry), "hash": _hash(entry)},
            )
            for entry, vector in zip(entries, vectors, strict=True)
        ]
        self._store().upsert(COLLECTION, points=points)


def _by_key(project_id: int, entries: Sequence[Entry]) -> dict[str, Entry]:
    by_key: dict[str, Entry] = {}
    for entry in entries:
        if entry.project_id != project_id:
            raise Invalid("entries", f"{entry.key} belongs to project {entry.project_id}, not {project_id}")
        if entry.key in by_key:
            raise Invalid("entries", f"the key {entry.key} appears twice")
        by_key[entry.key] = entry
    return by_key


def _folder_locked(folder: Path) -> bool:
    """Whether a Qdrant client holds the folder (its flock on `.lock`; flock also excludes a second client in
    the same process). Qdrant would say so itself, but only after opening the folder's collections, whose files
    it then leaves open for the garbage collector."""
    lock = folder / ".lock"
    if not lock.exists():
        return False
    with lock.open("rb") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(file, fcntl.LOCK_UN)
    return False


def _hash(entry: Entry) -> str:
    """What decides whether a stored entry is current: everything stored about it besides its identity."""
    content = json.dumps([entry.kind, entry.title, entry.text, entry.link])
    return hashlib.sha256(content.encode()).hexdigest()


def _qdrant() -> ModuleType:
    """qdrant_client, imported on first use: its import takes about a second, which every studio start and
    every CLI command would otherwise pay."""
    import qdrant_client

    return qdrant_client


def _of_project(project_id: int) -> models.Filter:
    models = _qdrant().models
    return models.Filter(must=[models.FieldCondition(key="project_id", match=models.MatchValue(value=project_id))])
