"""Dedup benchmark: hash and group 10,000 generated 512 px JPEGs (one in ten a re-encoded copy of another).

Prints one JSON line: {"seconds": ..., "images": 10000, "duplicates_found": ..., "duplicates_planted": ...}.
`seconds` covers reading the files, decoding (JPEG draft mode), pHash and grouping through the
per-project index, on all cores; making the pictures is not timed. Goal: <= 10 s on 2 cores.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from services.datasets.hashing import PerceptualIndex, perceptual_hash
from tests.dataset_helpers import drawing, reencoded

IMAGES = int(os.environ.get("BENCH_DEDUP_IMAGES", "10000"))
SIDE = 512
THRESHOLD = 6


def _make(folder: Path, index: int) -> None:
    if index % 10 == 9:  # a planted near duplicate: the previous picture, re-encoded at another quality
        data = reencoded(drawing(index - 1, (SIDE, SIDE), "JPEG"))
    else:
        data = drawing(index, (SIDE, SIDE), "JPEG")
    (folder / f"{index:05d}.jpg").write_bytes(data)


def _make_all(folder: Path) -> list[Path]:
    paths = [folder / f"{i:05d}.jpg" for i in range(IMAGES)]
    missing = [i for i, path in enumerate(paths) if not path.exists()]
    if missing:
        with ProcessPoolExecutor() as pool:
            list(pool.map(_make, [folder] * len(missing), missing, chunksize=64))
    return paths


def _hash_file(path: Path) -> int:
    return perceptual_hash(path.read_bytes())


def main() -> None:
    folder = Path(tempfile.gettempdir()) / f"anime-studio-bench-dedup-{IMAGES}"
    folder.mkdir(exist_ok=True)
    paths = _make_all(folder)
    start = time.perf_counter()
    with ProcessPoolExecutor() as pool:
        hashes = list(pool.map(_hash_file, paths, chunksize=128))
    index = PerceptualIndex()
    found = 0
    for image_id, value in enumerate(hashes):
        if index.nearest(value, THRESHOLD) is not None:
            found += 1
        index.add(image_id, value)
    seconds = time.perf_counter() - start
    result = {
        "seconds": round(seconds, 2),
        "images": len(paths),
        "duplicates_found": found,
        "duplicates_planted": IMAGES // 10,
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
