"""Children of the studio: they start while the in-process models compute, on the event loop the studio serves
on, and they die with the studio."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.children import spawn
from services.errors import StudioError

REPO = Path(__file__).resolve().parents[2]

# Run in a separate interpreter: a hang inside fork() blocks every thread of its process, pytest's included.
UNDER_LOAD = textwrap.dedent(
    """
    import asyncio, io, threading
    from PIL import Image
    from uvicorn.config import Config
    from services.assistant.embedding import Embedder
    from services.children import EVENT_LOOP, spawn
    from services.datasets.triage import LocalTriage, TriageThresholds

    embedder, triage = Embedder.load(), LocalTriage()
    picture = io.BytesIO()
    Image.new("RGB", (640, 640), (200, 120, 90)).save(picture, "PNG")
    texts = [f"Rin walks past stall {n} of the night market while the lanterns sway" for n in range(64)]
    busy = threading.Event()
    busy.set()

    def embed() -> None:
        while busy.is_set():
            embedder.embed(texts)

    def assess() -> None:
        while busy.is_set():
            triage.assess(picture.getvalue(), TriageThresholds())

    async def main() -> None:
        workers = [threading.Thread(target=work) for work in (embed, embed, assess)]
        for worker in workers:
            worker.start()
        try:
            await asyncio.sleep(0.5)
            for _ in range(40):
                child = await spawn("true")
                assert await child.wait() == 0
        finally:
            busy.clear()
            for worker in workers:
                worker.join()
        print("spawned 40")

    # The loop uvicorn builds for main.py's `loop=EVENT_LOOP`.
    loop = Config(app=None, loop=EVENT_LOOP).get_loop_factory()()
    loop.run_until_complete(main())
    """
)


def test_children_start_while_the_models_compute_on_the_studios_event_loop() -> None:
    try:
        done = subprocess.run([sys.executable, "-c", UNDER_LOAD], cwd=REPO, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError("starting a child hung while numpy and onnxruntime were computing") from exc
    assert done.returncode == 0 and done.stdout.strip() == "spawned 40", done.stderr[-3000:]


def test_spawning_on_uvloop_is_refused_with_the_fix() -> None:
    uvloop = pytest.importorskip("uvloop")

    async def start() -> None:
        await spawn("true")

    with pytest.raises(StudioError, match=r"asyncio's own event loop.*python main\.py"):
        uvloop.run(start())


async def test_a_missing_program_or_a_preexec_fn_is_refused() -> None:
    with pytest.raises(FileNotFoundError, match="no-such-tool is not installed"):
        await spawn("no-such-tool")
    with pytest.raises(StudioError, match="cannot take a preexec_fn"):
        await spawn("true", preexec_fn=os.setsid)


# A stand-in for the studio: it starts a long child the studio's way, reports the child's pid, and waits.
PARENT = textwrap.dedent(
    """
    import asyncio
    from services.children import spawn

    async def main() -> None:
        child = await spawn("sleep", "300")
        print(child.pid, flush=True)
        await asyncio.sleep(300)

    asyncio.run(main())
    """
)


def test_a_child_dies_when_the_studio_is_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        # The pid is setpriv's until it has armed the signal and become the program: kill the studio after that
        # (a studio killed in the millisecond while setpriv starts is the one case left out).
        deadline = time.monotonic() + 10
        while _program(child) != "sleep" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _alive(child) and _program(child) == "sleep"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child), "the child outlived the studio"
    finally:
        parent.kill()
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper is as good as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _program(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return None
