"""Benchmark: the studio under a soak of mixed page and API traffic while its own CPU jobs run.

Seeds a project with one character and pending dataset images, starts the real server (`main.py`) on
loopback, and runs `--clients` concurrent clients for `--seconds`. Each client loops over a mix of:
- page loads as a browser makes them: GET the page, connect its websocket, wait until the page has filled
  in (its loading line is removed), disconnect;
- bare page GETs (a script, a prefetch: the frame only);
- API reads (projects, characters, images, jobs, scenes, episodes, health) and writes (review decisions,
  the storyline).
Meanwhile one uploader sends a few new drawings to `POST /api/ingest/images` every INGEST_EVERY seconds:
ingest jobs on the studio's cpu device (decoding, hashing, thumbnails) compete with the traffic.
Only 127.0.0.1 is contacted, every request has a timeout and the run ends after `--seconds`.

Prints one JSON line: {"seconds", "clients", "requests", "server_errors", "server_errors_by_path",
"client_errors", "failures", "page_p50_ms", "page_p95_ms", "page_p99_ms", "filled_p50_ms", "filled_p95_ms",
"filled_p99_ms", "api_p50_ms", "api_p95_ms", "api_p99_ms", "ingest_jobs_queued", "jobs_completed"}
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import statistics
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import socketio

from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import drawing, seed_pending
from tests.studio_process import StudioProcess

CLIENTS = 20
SECONDS = 120.0
PENDING_IMAGES = 300
INGEST_EVERY = 4.0  # seconds between uploads of new drawings
INGEST_FILES = 4
REQUEST_TIMEOUT = 60.0  # a request slower than this counts as a failure, not a wait forever
# Below uvicorn's 5 s keep-alive: a connection the server is closing is not reused (as a browser retries).
KEEPALIVE = httpx.Limits(keepalive_expiry=2.0)
FILLED_TIMEOUT = 60.0
CLIENT_ID = re.compile(r"'client_id': '([0-9a-f-]+)'")
LOADING_ID = re.compile(r'"(\d+)":\{[^{}]*"tag":"div"[^{}]*"props":\{[^{}]*"data-testid":"page-loading"')


@dataclass
class Figures:
    page_ms: list[float] = field(default_factory=list)
    filled_ms: list[float] = field(default_factory=list)
    api_ms: list[float] = field(default_factory=list)
    server_errors: Counter[str] = field(default_factory=Counter)
    client_errors: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)  # timeouts and broken connections, by path
    requests: int = 0
    ingest_jobs: int = 0

    def record(self, route: str, status: int, ms: float, latencies: list[float]) -> None:
        self.requests += 1
        latencies.append(ms)
        if status >= 500:
            self.server_errors[route] += 1
        elif status >= 400:
            self.client_errors[route] += 1


async def seed(data_dir: Path) -> tuple[int, int, list[int]]:
    """A project with one character and PENDING_IMAGES pending images (with thumbnails)."""
    studio = Studio.build(Settings(data_dir=data_dir))
    studio.migrate()
    await studio.start()
    try:
        project = await studio.projects.create(GALAXY, "bench")
        character = await studio.characters.create(project.id, KOOPA, "bench")  # type: ignore[arg-type]
        images = await seed_pending(studio, character, PENDING_IMAGES)
        return project.id, character.id, images  # type: ignore[return-value]
    finally:
        await studio.stop()


class Soak:
    def __init__(self, url: str, project_id: int, character_id: int, pending: list[int], until: float) -> None:
        self.url = url
        self.project_id = project_id
        self.character_id = character_id
        self.pending = pending
        self.until = until
        self.figures = Figures()
        p = project_id
        self.pages = [
            "/",
            "/projects",
            f"/characters?project={p}",
            f"/datasets?project={p}",
            f"/scenes?project={p}",
            f"/episodes?project={p}",
            f"/music?project={p}",
            f"/story?project={p}",
            "/jobs",
            "/activity",
            "/settings",
        ]
        self.api_reads = [
            "/api/health",
            "/api/projects",
            f"/api/projects/{p}/characters",
            f"/api/images?project_id={p}&limit=50",
            "/api/jobs?limit=50",
            f"/api/projects/{p}/scenes",
            f"/api/projects/{p}/episodes",
        ]

    async def client(self, number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT, limits=KEEPALIVE) as http:
            while time.monotonic() < self.until:
                roll = rng.random()
                if roll < 0.35:
                    await self.browse(http, rng.choice(self.pages))
                elif roll < 0.5:
                    await self.get_page(http, rng.choice(self.pages))
                elif roll < 0.85:
                    await self.api(http, "GET", rng.choice(self.api_reads))
                else:
                    await self.write(http, rng)

    async def timed(self, http: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> httpx.Response | None:
        route = path.split("?")[0]
        began = time.perf_counter()
        try:
            response = await http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.figures.failures[f"{method} {route}: {type(exc).__name__}"] += 1
            return None
        ms = (time.perf_counter() - began) * 1000
        latencies = self.figures.api_ms if path.startswith("/api") else self.figures.page_ms
        self.figures.record(f"{method} {route}", response.status_code, ms, latencies)
        return response

    async def get_page(self, http: httpx.AsyncClient, path: str) -> httpx.Response | None:
        return await self.timed(http, "GET", path)

    async def api(self, http: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> None:
        await self.timed(http, method, path, **kwargs)

    async def browse(self, http: httpx.AsyncClient, path: str) -> None:
        """Load a page as a browser does: the HTML, then its websocket until the loading line is gone."""
        began = time.perf_counter()
        response = await self.get_page(http, path)
        if response is None or response.status_code != 200:
            return
        route = path.split("?")[0]
        client_id, loading_id = CLIENT_ID.search(response.text), LOADING_ID.search(response.text)
        if client_id is None or loading_id is None:
            self.figures.failures[f"GET {route}: no client id or loading line in the page"] += 1
            return
        loading = loading_id.group(1)
        filled = asyncio.Event()

        def update(data: dict) -> None:
            if loading in data and data[loading] is None:
                filled.set()

        sio = socketio.AsyncClient(reconnection=False)
        sio.on("update", update)
        query = {
            "client_id": client_id.group(1),
            "tab_id": str(uuid.uuid4()),
            "document_id": str(uuid.uuid4()),
            "next_message_id": "0",
        }
        try:
            await sio.connect(
                f"{self.url}?{'&'.join(f'{k}={v}' for k, v in query.items())}",
                socketio_path="/_nicegui_ws/socket.io",
                transports=["websocket"],
                wait_timeout=REQUEST_TIMEOUT,
            )
            if not await sio.call("handshake", query, timeout=REQUEST_TIMEOUT):
                self.figures.failures[f"WS {route}: handshake refused"] += 1
                return
            await asyncio.wait_for(filled.wait(), FILLED_TIMEOUT)
            self.figures.filled_ms.append((time.perf_counter() - began) * 1000)
        except socketio.exceptions.SocketIOError as exc:
            self.figures.failures[f"WS {route}: {type(exc).__name__} connecting"] += 1
        except TimeoutError:
            self.figures.failures[f"WS {route}: not filled in within {FILLED_TIMEOUT:.0f} s"] += 1
        finally:
            await sio.disconnect()

    async def write(self, http: httpx.AsyncClient, rng: random.Random) -> None:
        if self.pending and rng.random() < 0.6:
            image_id = self.pending.pop()
            await self.api(http, "POST", f"/api/images/{image_id}/decision", json={"state": "approved"})
        else:
            summary = f"Stars fall on the kingdom ({rng.randrange(1_000_000)})"
            await self.api(http, "PUT", f"/api/projects/{self.project_id}/storyline", json={"summary": summary})

    async def uploader(self) -> None:
        """New drawings for the character every INGEST_EVERY seconds: ingest jobs on the cpu device."""
        seed = 10_000
        async with httpx.AsyncClient(base_url=self.url, timeout=REQUEST_TIMEOUT, limits=KEEPALIVE) as http:
            while time.monotonic() + INGEST_EVERY < self.until:
                files = []
                for _ in range(INGEST_FILES):
                    data = await asyncio.to_thread(drawing, seed, (768, 768))
                    files.append(("files", (f"new-{seed}.png", io.BytesIO(data), "image/png")))
                    seed += 1
                response = await self.timed(
                    http, "POST", "/api/ingest/images", data={"character_id": str(self.character_id)}, files=files
                )
                if response is not None and response.status_code == 202:
                    self.figures.ingest_jobs += 1
                await asyncio.sleep(INGEST_EVERY)

    async def run(self, clients: int) -> None:
        await asyncio.gather(self.uploader(), *(self.client(n) for n in range(clients)))


def _p(values: list[float], q: int) -> float | None:
    if len(values) < 2:
        return round(values[0], 1) if values else None
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 1)


async def _completed_jobs(url: str, project_id: int) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT) as http:
        response = await http.get("/api/jobs", params={"state": "succeeded", "limit": 1000})
        response.raise_for_status()
        return len(response.json())


CHAINED = ("The above exception was the direct cause", "During handling of the above exception")


def _logged_errors(log: str) -> Counter[str]:
    """The studio's own ERROR lines and uncaught tracebacks (by their final exception), without time stamps."""
    errors: Counter[str] = Counter()
    lines = [line for line in log.splitlines() if line.strip()]
    for n, line in enumerate(lines):
        if " ERROR " in line:
            errors[line.split(" ERROR ", 1)[1][:160]] += 1
        elif line.startswith("Traceback") and not (n and lines[n - 1].startswith(CHAINED)):
            errors[f"traceback: {_final_exception(lines, n)[:160]}"] += 1
    return errors


def _final_exception(lines: list[str], start: int) -> str:
    """The exception a traceback (with its chained ones) ends on."""
    last = ""
    for n in range(start + 1, len(lines)):
        line = lines[n]
        if line.startswith((" ", "Traceback", *CHAINED)):
            continue
        last = line
        if n + 1 >= len(lines) or not lines[n + 1].startswith(CHAINED):
            break
    return last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS, help="how long the soak runs")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(scratch) / "data"
        project_id, character_id, pending = asyncio.run(seed(data_dir))
        with StudioProcess(data_dir) as studio:
            soak = Soak(studio.url, project_id, character_id, pending, time.monotonic() + args.seconds)
            asyncio.run(soak.run(args.clients))
            completed = asyncio.run(_completed_jobs(studio.url, project_id))
        log_errors = _logged_errors(studio.log_path.read_text(errors="replace"))
    f = soak.figures
    print(
        json.dumps(
            {
                "seconds": args.seconds,
                "clients": args.clients,
                "requests": f.requests,
                "server_errors": sum(f.server_errors.values()),
                "server_errors_by_path": dict(f.server_errors),
                "client_errors": dict(f.client_errors),
                "failures": dict(f.failures),
                "page_p50_ms": _p(f.page_ms, 50),
                "page_p95_ms": _p(f.page_ms, 95),
                "page_p99_ms": _p(f.page_ms, 99),
                "filled_p50_ms": _p(f.filled_ms, 50),
                "filled_p95_ms": _p(f.filled_ms, 95),
                "filled_p99_ms": _p(f.filled_ms, 99),
                "filled_max_ms": round(max(f.filled_ms), 1) if f.filled_ms else None,
                "pages_filled": len(f.filled_ms),
                "api_p50_ms": _p(f.api_ms, 50),
                "api_p95_ms": _p(f.api_ms, 95),
                "api_p99_ms": _p(f.api_ms, 99),
                "ingest_jobs_queued": f.ingest_jobs,
                "jobs_completed": completed,
                "server_log_errors": sum(log_errors.values()),
                "server_log_error_kinds": dict(log_errors.most_common(5)),
            }
        )
    )


if __name__ == "__main__":
    main()
