"""Builders for dataset tests: distinct drawings (so dedup keeps them apart) and fast bulk seeding."""

from __future__ import annotations

import hashlib
import io
import random
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw
from sqlmodel import col, select

from services.datasets import NewImage, UploadedFile
from services.datasets.hashing import perceptual_hash, to_hex
from services.datasets.store import dataset_file_path
from services.datasets.thumbnails import make_thumbnail, thumbnail_path
from studio.models import ApprovalState, Character, DatasetImage
from studio.root import Studio
from tests.bible_helpers import chunks


def uploaded(name: str, data: bytes) -> UploadedFile:
    """A file as an upload delivers it, in chunks."""
    return UploadedFile(name, chunks(data))


def drawing(seed: int, size: tuple[int, int] = (640, 640), fmt: str = "PNG") -> bytes:
    """A crisp flat-shaded picture with dark outlines; different seeds give perceptually different pictures."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(150, 256) for _ in range(3)))  # type: ignore[arg-type]
    pen = ImageDraw.Draw(image)
    w, h = size
    for _ in range(12):
        x0, y0 = rng.randrange(0, w - 40), rng.randrange(0, h - 40)
        box = (x0, y0, x0 + rng.randrange(30, w // 2), y0 + rng.randrange(30, h // 2))
        fill = tuple(rng.randrange(0, 256) for _ in range(3))
        shape = pen.ellipse if rng.random() < 0.5 else pen.rectangle
        shape(box, fill=fill, outline=(20, 20, 20), width=4)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, fmt, quality=92) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


async def add_drawings(
    studio: Studio, character: Character, count: int, *, first_seed: int = 0, source: str = "upload"
) -> list[DatasetImage]:
    """Add `count` distinct drawings through the dataset store (hashing, dedup, thumbnails; no triage)."""
    added = []
    for seed in range(first_seed, first_seed + count):
        admission = await studio.dataset_store.add(character, NewImage(drawing(seed), source, f"seed {seed}"), "test")
        added.append(admission.image)
    return added


async def seed_pending(
    studio: Studio,
    character: Character,
    count: int,
    size: int = 384,
    *,
    distinct: int | None = None,
    thumbnails: bool = True,
) -> list[int]:
    """Insert `count` pending images quickly (one session) with their files; returns the character's image ids.

    For thousands of images (benches), `distinct` reuses that many pictures, each file still made unique by a
    JPEG comment, and `thumbnails=False` skips the thumbnails and perceptual hashes a kiosk never reads.
    """
    pictures = [drawing(seed, (size, size), "JPEG") for seed in range(min(count, distinct or count))]
    rows = []
    for n in range(count):
        data = pictures[n % len(pictures)]
        if n >= len(pictures):  # a comment segment right after the start-of-image marker: same picture, new file
            comment = f"seed copy {n}".encode()
            data = data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]
        digest = hashlib.sha256(data).hexdigest()
        relative = dataset_file_path(character.project_id, digest, "jpg")
        await studio.media.write(relative, data)
        if thumbnails:
            with Image.open(io.BytesIO(data)) as image:
                thumb = make_thumbnail(image)
            await studio.media.write(thumbnail_path(digest), thumb)
        rows.append(
            DatasetImage(
                project_id=character.project_id,
                character_id=character.id,
                file_path=relative,
                content_hash=digest,
                perceptual_hash=to_hex(perceptual_hash(data)) if thumbnails else None,
                width=size,
                height=size,
                source="upload",
                approval_state=ApprovalState.PENDING,
            )
        )
    async with studio.db.session() as session:
        session.add_all(rows)
    async with studio.db.session() as session:
        query = select(DatasetImage.id).where(DatasetImage.character_id == character.id).order_by(col(DatasetImage.id))
        return list((await session.exec(query)).all())


def reencoded(data: bytes, quality: int = 70) -> bytes:
    """The same picture saved again as a JPEG: a near duplicate (different bytes, nearly the same hash)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def scene_video(folder: Path, scenes: int = 3, seconds: int = 2, first_seed: int = 100) -> Path:
    """A small H.264 video of `scenes` still drawings, `seconds` each: a frame extractor finds the cuts."""
    inputs: list[str] = []
    for i in range(scenes):
        picture = folder / f"scene{i}.png"
        picture.write_bytes(drawing(first_seed + i))
        inputs += ["-loop", "1", "-t", str(seconds), "-framerate", "10", "-i", str(picture)]
    chain = "".join(f"[{i}:v]" for i in range(scenes)) + f"concat=n={scenes}:v=1:a=0,format=yuv420p[v]"
    out = folder / "scenes.mp4"
    command = ["ffmpeg", "-v", "error", "-y", *inputs, "-filter_complex", chain, "-map", "[v]"]
    subprocess.run([*command, "-c:v", "libx264", "-preset", "ultrafast", str(out)], check=True)
    return out


def hls_playlist(media: Path) -> bytes:
    """An HLS playlist whose one segment is `media` (remuxed to MPEG-TS beside it), by absolute path: a file
    that plays someone else's media from wherever it lies."""
    segment = media.with_suffix(".ts")
    command = ["ffmpeg", "-v", "error", "-y", "-i", str(media), "-c", "copy", "-f", "mpegts", str(segment)]
    subprocess.run(command, check=True, timeout=60)
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:6.0,\n{segment}\n#EXT-X-ENDLIST\n".encode()


def ffconcat_list(media: Path) -> bytes:
    """An ffconcat list naming `media` by absolute path."""
    return f"ffconcat version 1.0\nfile '{media}'\n".encode()
