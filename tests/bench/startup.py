"""Benchmark: how fast the studio starts and answers.

Starts `main.py` on a fresh data folder (first start: creates keys and migrates), then measures
GET /api/health and a full render of the status page. Prints one JSON line:
{"first_start_s", "restart_s", "health_p50_ms", "health_p95_ms", "page_p50_ms", "page_p95_ms", "requests"}
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.studio_process import StudioProcess

REQUESTS = 40


def _timings(client: httpx.Client, path: str) -> list[float]:
    client.get(path)  # warm-up
    out = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        client.get(path).raise_for_status()
        out.append((time.perf_counter() - began) * 1000)
    return out


def _p(values: list[float], q: int) -> float:
    return round(statistics.quantiles(values, n=100)[q - 1], 2)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        with StudioProcess(data_dir) as first:
            first_start = first.started_in or 0.0
        with StudioProcess(data_dir) as studio, httpx.Client(base_url=studio.url, timeout=10) as client:
            health = _timings(client, "/api/health")
            page = _timings(client, "/")
            restart = studio.started_in or 0.0
    print(
        json.dumps(
            {
                "first_start_s": round(first_start, 2),
                "restart_s": round(restart, 2),
                "health_p50_ms": _p(health, 50),
                "health_p95_ms": _p(health, 95),
                "page_p50_ms": _p(page, 50),
                "page_p95_ms": _p(page, 95),
                "requests": REQUESTS,
            }
        )
    )


if __name__ == "__main__":
    main()
