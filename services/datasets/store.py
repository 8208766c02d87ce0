"""Adding images to a character's dataset: validate, name by content, hash, catch duplicates, thumbnail.

Every source (uploads, folders, video frames, URLs, ComfyUI outputs, generated images) comes through
`DatasetStore.add`, so every image gets the same checks and the same duplicate detection.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.datasets.events import ImageAdded
from services.datasets.hashing import Match, PerceptualIndex, from_hex, phash_of, to_hex
from services.datasets.thumbnails import THUMB_SIDE, make_thumbnail, thumbnail_path
from services.imaging import CheckedImage, check_image
from services.media_store import MediaStore
from studio.config import Settings
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, DatasetImage, DuplicateKind

Outcome = Literal["added", "duplicate", "already_present"]
# The `source` of the images the studio generated itself.
GENERATED_SOURCE = "generated"


@dataclass(frozen=True)
class NewImage:
    """An image to add. `source` is one of upload, folder, video, url, comfyui_scan, generated."""

    data: bytes
    source: str
    source_ref: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    derived_from_id: int | None = None


@dataclass(frozen=True)
class Admission:
    image: DatasetImage
    outcome: Outcome  # added; duplicate (added, flagged); already_present (this character has this file)


@dataclass(frozen=True)
class _Prepared:
    checked: CheckedImage
    phash: int
    thumbnail: bytes


def _prepare(data: bytes) -> _Prepared:
    checked = check_image(data)
    with Image.open(io.BytesIO(checked.data)) as image:
        # One reduced-size decode serves both the hash (32 px) and the thumbnail.
        image.draft("RGB", (THUMB_SIDE, THUMB_SIDE))
        image.load()
        return _Prepared(checked, phash_of(image.convert("L")), make_thumbnail(image))


def dataset_file_path(project_id: int, content_hash: str, extension: str) -> str:
    """Project-wide and named by content, so moving an image to another character moves no file."""
    return f"projects/{project_id}/dataset/{content_hash[:2]}/{content_hash[:32]}.{extension}"


class DatasetStore:
    def __init__(self, *, db: Database, events: EventBus, media: MediaStore, settings: Settings) -> None:
        self._db = db
        self._events = events
        self._media = media
        self._settings = settings
        self._indexes: dict[int, PerceptualIndex] = {}
        self._indexed_up_to: dict[int, int] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def add(self, character: Character, new: NewImage, actor: str) -> Admission:
        """Store one image as pending in the character's dataset. Invalid: not an acceptable image."""
        prepared = await asyncio.to_thread(_prepare, new.data)
        checked = prepared.checked
        project_id = character.project_id
        async with self._locks.setdefault(project_id, asyncio.Lock()):
            same_file = await self._same_file(project_id, checked.content_hash)
            own = next((row for row in same_file if row.character_id == character.id), None)
            if own is not None:
                return Admission(own, "already_present")
            duplicate = (
                Match(same_file[0].id, 0)  # type: ignore[arg-type]
                if same_file
                else await self._near(project_id, prepared.phash)
            )
            relative = dataset_file_path(project_id, checked.content_hash, checked.extension)
            await self._media.write(relative, checked.data)
            await self._media.write(thumbnail_path(checked.content_hash), prepared.thumbnail)
            image = DatasetImage(
                project_id=project_id,
                character_id=character.id,
                file_path=relative,
                content_hash=checked.content_hash,
                perceptual_hash=to_hex(prepared.phash),
                width=checked.width,
                height=checked.height,
                source=new.source,
                source_ref=new.source_ref[:1000],
                provenance=new.provenance,
                derived_from_id=new.derived_from_id,
                duplicate_of_id=duplicate.image_id if duplicate else None,
                duplicate_kind=(DuplicateKind.EXACT if same_file else DuplicateKind.NEAR) if duplicate else None,
                duplicate_distance=duplicate.distance if duplicate else None,
            )
            try:
                async with self._db.session() as session:
                    session.add(image)
            except IntegrityError:
                # Another process added the same file for this character in the meantime.
                again = await self._same_file(project_id, checked.content_hash)
                own = next((row for row in again if row.character_id == character.id), None)
                if own is None:
                    raise
                return Admission(own, "already_present")
            index = await self._index(project_id)
            index.add(image.id, prepared.phash)  # type: ignore[arg-type]
            self._indexed_up_to[project_id] = max(self._indexed_up_to[project_id], image.id)  # type: ignore[type-var]
        await self._events.emit(
            ImageAdded(
                actor=actor,
                image_id=image.id,  # type: ignore[arg-type]
                project_id=project_id,
                character_id=character.id,
                source=new.source,
                duplicate_of_id=image.duplicate_of_id,
            )
        )
        return Admission(image, "duplicate" if duplicate else "added")

    async def content_hashes(self, character_id: int) -> set[str]:
        """The content hashes already in a character's dataset (lets a scan skip files it has seen)."""
        query = select(DatasetImage.content_hash).where(DatasetImage.character_id == character_id)
        async with self._db.session() as session:
            return set((await session.exec(query)).all())

    async def _same_file(self, project_id: int, content_hash: str) -> list[DatasetImage]:
        query = (
            select(DatasetImage)
            .where(DatasetImage.project_id == project_id, DatasetImage.content_hash == content_hash)
            .order_by(col(DatasetImage.id))
        )
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    async def _near(self, project_id: int, phash: int) -> Match | None:
        index = await self._index(project_id)
        while (match := index.nearest(phash, self._settings.dedup_hamming_threshold)) is not None:
            async with self._db.session() as session:
                if await session.get(DatasetImage, match.image_id) is not None:
                    return match
            index.remove(match.image_id)  # deleted since it was indexed
        return None

    async def _index(self, project_id: int) -> PerceptualIndex:
        """The project's index, topped up with images other studio processes added since the last look."""
        index = self._indexes.setdefault(project_id, PerceptualIndex())
        since = self._indexed_up_to.get(project_id, 0)
        query = (
            select(DatasetImage.id, DatasetImage.perceptual_hash)
            .where(
                DatasetImage.project_id == project_id,
                col(DatasetImage.id) > since,
                col(DatasetImage.perceptual_hash).is_not(None),
            )
            .order_by(col(DatasetImage.id))
        )
        async with self._db.session() as session:
            rows = (await session.exec(query)).all()
        for image_id, phash in rows:
            index.add(image_id, from_hex(phash))  # type: ignore[arg-type]
        self._indexed_up_to[project_id] = rows[-1][0] if rows else since  # type: ignore[assignment]
        return index
