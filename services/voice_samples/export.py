"""A character's approved voice samples as a GPT-SoVITS training set: a `.list` file whose lines are
`wavs/<file>|<speaker>|<lang>|<text>` and the WAVs in `wavs/`, in one zip written atomically."""

from __future__ import annotations

import asyncio
import os
import uuid
import zipfile
from collections.abc import Sequence
from pathlib import Path

from services.errors import Invalid


def training_list_line(file: str, speaker: str, language: str, text: str) -> str:
    """One line of a GPT-SoVITS list; `|` and line breaks inside the text would split it, so they become spaces."""
    clean = " ".join(text.replace("|", " ").split())
    return f"wavs/{file}|{speaker}|{language}|{clean}"


async def write_training_list(target: Path, speaker: str, samples: Sequence[tuple[Path, str, str]]) -> Path:
    """Zip `samples` (WAV path, transcript, language) as `<speaker>.list` + `wavs/` into `target`.
    Invalid: a sample's file is gone."""
    return await asyncio.to_thread(_write, target, speaker, samples)


def _write(target: Path, speaker: str, samples: Sequence[tuple[Path, str, str]]) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    lines = []
    try:
        # WAVs barely compress: stored, the zip is written at disk speed.
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_STORED) as archive:
            for index, (path, text, language) in enumerate(samples, start=1):
                if not path.is_file():
                    raise Invalid(
                        "samples", f"the audio of sample {path.name} is gone; reject it or restore its source"
                    )
                name = f"{speaker}_{index:04d}.wav"
                archive.write(path, f"wavs/{name}")
                lines.append(training_list_line(name, speaker, language, text))
            archive.writestr(f"{speaker}.list", "\n".join(lines) + "\n")
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
