"""Voice ingestion benchmark: 10 minutes of two-voice dialogue (Piper's joe and espeak-ng's en-us+f4 taking turns
with 0.6-1.2 s pauses, tests/voice_dialogue.py) through the whole voice-finding chain on the CPU: decode, Silero
VAD, Whisper base over the segments laid end to end, a d-vector per segment, grouping, quality, cutting.

Measured: wall time over audio length (goal <= 0.3 on 2 cores), segments found against lines planted (a line
split at a long comma pause counts twice), and speaker-group purity: the share of segments whose group's
majority voice is their own voice (goal >= 0.95). The stages' seconds come from the chain's progress messages.
Building the dialogue and loading the models (a 10 s warm-up run) are not timed. BENCH_VOICE_MINUTES changes
the length. On a shared machine the wall time grows with the other load; `cpu_over_audio_per_core` (the
studio process's CPU seconds, ffmpeg's excluded, over audio seconds and cores) is what the wall ratio would be
on an idle machine that keeps every core busy.

    .venv/bin/python -m tests.bench.voice_ingest

Prints one JSON line: {"audio_seconds", "wall_seconds", "wall_over_audio", "cpu_seconds",
"cpu_over_audio_per_core", "segments_planted", "segments_found",
"speakers", "purity", "stages": {"decode_s", "vad_s", "transcribe_s", "embed_s", "cut_s"}, "load_s"}.
Printed, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from services.voice_samples import ChainOptions, ChainResult, VoiceFinder
from tests.speech import MODELS_DIR
from tests.voice_dialogue import Dialogue, build_dialogue

CORES = len(os.sched_getaffinity(0))
MINUTES = float(os.environ.get("BENCH_VOICE_MINUTES", "10"))
OPTIONS = ChainOptions(min_silence_ms=400, speaker_similarity=0.75, language="", names=("Rin", "Kai"))
# The first message of each stage, in order: a stage ends where the next one's first message comes.
STAGES = (("decode_s", "Decoding"), ("vad_s", "Finding speech"), ("transcribe_s", "Transcribing"),
          ("embed_s", "Comparing voices"), ("cut_s", "Cutting"))  # fmt: skip


async def _run(
    finder: VoiceFinder, dialogue: Dialogue, out_dir: Path
) -> tuple[ChainResult, float, float, dict[str, float]]:
    marks: dict[str, float] = {}

    async def progress(fraction: float, message: str) -> None:
        for name, prefix in STAGES:
            if message.startswith(prefix):
                marks.setdefault(name, time.perf_counter())

    start, cpu = time.perf_counter(), time.process_time()
    result = await finder.find(dialogue.wav, out_dir, OPTIONS, progress)
    end, cpu = time.perf_counter(), time.process_time() - cpu
    times = [marks.get(name, end) for name, _ in STAGES] + [end]
    stages = {name: round(times[i + 1] - times[i], 2) for i, (name, _) in enumerate(STAGES)}
    return result, end - start, cpu, stages


def _purity(result: ChainResult, dialogue: Dialogue) -> float:
    voices: list[tuple[int, int]] = []
    for segment in result.segments:
        line = max(dialogue.lines, key=lambda ln: min(segment.end, ln.end) - max(segment.start, ln.start))
        voices.append((segment.speaker, line.speaker))
    if not voices:
        return 0.0
    groups = {group for group, _ in voices}
    majority = sum(max(sum(1 for g, v in voices if g == group and v == voice) for voice in (0, 1)) for group in groups)
    return majority / len(voices)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-voice-") as folder:
        root = Path(folder)
        dialogue = build_dialogue(root / "long", seconds=MINUTES * 60)
        warm_up = build_dialogue(root / "short", seconds=10)
        finder = VoiceFinder(MODELS_DIR)
        started = time.perf_counter()
        asyncio.run(_run(finder, warm_up, root / "warm"))
        load = time.perf_counter() - started
        result, wall, cpu, stages = asyncio.run(_run(finder, dialogue, root / "out"))
        print(
            json.dumps(
                {
                    "audio_seconds": round(result.duration, 1),
                    "wall_seconds": round(wall, 1),
                    "wall_over_audio": round(wall / result.duration, 3),
                    "cpu_seconds": round(cpu, 1),
                    "cpu_over_audio_per_core": round(cpu / result.duration / CORES, 3),
                    "segments_planted": len(dialogue.lines),
                    "segments_found": len(result.segments),
                    "speakers": len(result.speakers),
                    "purity": round(_purity(result, dialogue), 4),
                    "language": result.language,
                    "stages": stages,
                    "load_s": round(load, 1),
                }
            )
        )


if __name__ == "__main__":
    main()
