"""Assistant production index benchmark: the numpy all-MiniLM-L6-v2 and the local Qdrant store.

Prints one JSON line: {"load_s", "embed_1000_s", "tokens_per_text", "sync_500_s", "resync_500_s", "search_ms", ...}.
- load_s: Embedder.load() of the bundled model (reading ~90 MB);
- embed_1000_s: embedding 1000 distinct one-sentence texts (tokens_per_text on average, [CLS] and [SEP] included);
- sync_500_s: the first sync of 500 entries into a store on disk (embedding them, and Qdrant local mode writing
  each point in its own SQLite transaction); resync_500_s: the same sync again, nothing changed;
- search_ms: the median of 20 searches of that project (embedding the question, filtered query), after one
  warm-up search.
Goals: embed_1000_s of a few seconds and search_ms well under 100 on 2 cores; the whole run under 30 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import Tokenizer

from services.assistant import Embedder, Entry, ProductionIndex
from services.assistant.embedding import bundled_model_dir

WHO = (
    "Koopa",
    "Mira the fox girl",
    "Captain Harlan",
    "Sora",
    "the harbour spirits",
    "the lighthouse keeper",
    "the ferry's cook",
    "a lost lantern ghost",
    "the twins from the bakery",
    "the harbour master",
)
DOES = (
    "waits for the evening ferry",
    "argues about the map",
    "repairs the torn sail",
    "hides the lantern",
    "sings an old sea shanty",
    "counts the ships in the bay",
    "follows the fog into town",
    "cooks soup for the crew",
    "climbs the lighthouse stairs",
    "reads the weather from the clouds",
)
WHERE = (
    "on the pier",
    "at the lighthouse",
    "in the market square",
    "aboard the ferry",
    "under the bridge",
    "near the old boathouse",
    "on the island shore",
    "in the tea house",
    "at the festival gate",
    "in the rain",
)
QUESTIONS = ("what colour is Koopa's shell?", "who steers the ferry?", "what does Mira wear around her neck?",
             "where does the lantern ghost hide?", "who reads the weather?")  # fmt: skip


def _sentences() -> list[str]:
    return [f"{who} {does} {where}." for who, does, where in itertools.product(WHO, DOES, WHERE)]


async def _sync_and_search(embedder: Embedder, folder: Path, entries: list[Entry]) -> dict[str, float]:
    index = ProductionIndex(folder, load_embedder=lambda: embedder)
    try:
        start = time.perf_counter()
        await index.sync(1, entries)
        sync = time.perf_counter() - start
        start = time.perf_counter()
        await index.sync(1, entries)
        resync = time.perf_counter() - start
        await index.search(1, QUESTIONS[0])
        searches = []
        for question in QUESTIONS * 4:
            start = time.perf_counter()
            await index.search(1, question)
            searches.append(time.perf_counter() - start)
    finally:
        await index.aclose()
    return {"sync_500_s": sync, "resync_500_s": resync, "search_ms": statistics.median(searches) * 1000}


def main() -> None:
    sentences = _sentences()
    start = time.perf_counter()
    embedder = Embedder.load()
    load = time.perf_counter() - start
    embedder.embed(sentences[:8])  # warm-up: BLAS threads, first touch of the weights
    start = time.perf_counter()
    embedder.embed(sentences)
    embed = time.perf_counter() - start
    tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokens = sum(len(encoding.ids) for encoding in tokenizer.encode_batch(sentences)) / len(sentences)
    entries = [
        Entry(f"event:{i}", 1, "event", f"Event {i}", f"Day {i % 30 + 1}: {text}", f"/events?project=1&event={i}")
        for i, text in enumerate(sentences[:500])
    ]
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        figures = asyncio.run(_sync_and_search(embedder, Path(tmp) / "assistant", entries))
    result = {
        "load_s": round(load, 2),
        "embed_1000_s": round(embed, 2),
        "tokens_per_text": round(tokens, 1),
        **{name: round(value, 2 if name.endswith("_s") else 1) for name, value in figures.items()},
        "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
