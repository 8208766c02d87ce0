"""Perceptual hashes and the per-project index that finds near duplicates without comparing all pairs.

A hash is imagehash's 64-bit pHash (DCT of a 32x32 grayscale copy), kept as an unsigned int and stored
as 16 hex digits. JPEGs are decoded at reduced size (PIL draft mode): pHash only looks at 32x32 pixels,
and a 1/8-scale DCT decode is several times faster than a full one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

HASH_BITS = 64
_PHASH_INPUT = 32  # imagehash.phash(hash_size=8, highfreq_factor=4) resizes to 32x32


def phash_of(image: Image.Image) -> int:
    """The 64-bit pHash of an opened image."""
    bits = imagehash.phash(image).hash.flatten()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def perceptual_hash(data: bytes) -> int:
    """Decode (at reduced size where the format allows) and hash an image file's bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("L", (_PHASH_INPUT * 2, _PHASH_INPUT * 2))
        return phash_of(image.convert("L"))


def to_hex(value: int) -> str:
    return f"{value:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


@dataclass(frozen=True)
class Match:
    image_id: int
    distance: int


class PerceptualIndex:
    """The hashes of one project's images, packed in arrays: a lookup is one vectorised XOR and popcount.

    10,000 hashes are 80 KB and a lookup over them takes tens of microseconds, so an ingest of N images
    costs N lookups rather than N^2/2 pairwise Python comparisons.
    """

    def __init__(self) -> None:
        self._ids = np.zeros(0, dtype=np.int64)
        self._hashes = np.zeros(0, dtype=np.uint64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, image_id: int, value: int) -> None:
        if self._size == len(self._ids):
            capacity = max(1024, 2 * self._size)
            self._ids = np.resize(self._ids, capacity)
            self._hashes = np.resize(self._hashes, capacity)
        self._ids[self._size] = image_id
        self._hashes[self._size] = np.uint64(value)
        self._size += 1

    def remove(self, image_id: int) -> None:
        keep = self._ids[: self._size] != image_id
        kept = int(keep.sum())
        self._ids[:kept] = self._ids[: self._size][keep]
        self._hashes[:kept] = self._hashes[: self._size][keep]
        self._size = kept

    def nearest(self, value: int, threshold: int) -> Match | None:
        """The closest indexed image within `threshold` bits (the oldest one on a tie), or None."""
        if self._size == 0:
            return None
        distances = np.bitwise_count(self._hashes[: self._size] ^ np.uint64(value))
        best = int(np.argmin(distances))  # argmin takes the first, i.e. the earliest added, on ties
        distance = int(distances[best])
        return Match(int(self._ids[best]), distance) if distance <= threshold else None
