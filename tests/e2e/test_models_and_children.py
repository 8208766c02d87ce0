"""One real studio process (`python main.py`) runs its in-process models and its ffmpeg children together.

The assistant's index embeds the production with numpy (OpenBLAS threads) while a shot is rendered with
ffmpeg: starting those children must never hang the studio. Killed mid-render, the studio takes its ffmpeg
with it, and the next start removes the files the render had not finished.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.partial_files import is_partial
from tests.fakes.echo_brain import FakeEchoBrain
from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
SHOTS = 24  # the first question embeds them all
RENDERS = 2
WITHIN = 60.0  # a render takes seconds; a hung studio fails the test instead of hanging the run


@pytest.fixture
def echo() -> Iterator[FakeEchoBrain]:
    with FakeEchoBrain() as fake:
        yield fake


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _production(api: httpx.Client, count: int = SHOTS, seconds: float = 1) -> tuple[int, list[str]]:
    project = _ok(
        api.post(
            "/api/projects", json={"name": "Harbour Lights", "frame_width": 426, "frame_height": 240, "frame_rate": 12}
        ),
        201,
    )
    scene = _ok(api.post(f"/api/projects/{project['id']}/scenes", json={"title": "Arrival"}), 201)
    shots = [_ok(api.post(f"/api/scenes/{scene['id']}/shots", json=_shot(n, seconds)), 201)["id"] for n in range(count)]
    return project["id"], shots


def _shot(number: int, seconds: float) -> dict[str, Any]:
    return {
        "shot_type": "medium",
        "duration_seconds": seconds,
        "description": f"Rin walks past stall {number} of the night market, lanterns swaying",
        "motion_prompt": "slow pan",
    }


def _rendered(api: httpx.Client, job_id: int) -> None:
    deadline = time.monotonic() + WITHIN
    while time.monotonic() < deadline:
        job = _ok(api.get(f"/api/jobs/{job_id}"))
        if job["state"] not in ("queued", "running"):
            assert job["state"] == "succeeded", job
            return
        time.sleep(0.1)
    raise AssertionError(f"the shot was not rendered within {WITHIN:g} s")


def test_shots_render_while_the_assistant_embeds_the_production(tmp_path: Path, echo: FakeEchoBrain) -> None:
    studio = StudioProcess(tmp_path / "data", {"STUDIO_ECHO_BRAIN_URL": echo.url})
    with studio, httpx.Client(base_url=studio.url, timeout=WITHIN) as api:
        project_id, shots = _production(api)
        rendering = threading.Event()
        rendering.set()

        def ask_while_rendering() -> list[dict[str, Any]]:
            answers = []
            while rendering.is_set():
                question = {"project_id": project_id, "question": f"Who is at stall {len(answers)}?"}
                answers.append(_ok(api.post("/api/assistant/ask", json=question))["answer"])
            return answers

        with ThreadPoolExecutor(1) as pool:
            asking = pool.submit(ask_while_rendering)
            try:
                for shot_id in shots[:RENDERS]:
                    _rendered(api, _ok(api.post(f"/api/shots/{shot_id}/regenerate"), 202)["id"])
            finally:
                rendering.clear()
            answers = asking.result(timeout=WITHIN)
        assert answers and all(a["state"] == "done" and a["sources"] for a in answers), answers
        assert _ok(api.get("/api/health"))
        video = api.get(f"/api/shots/{shots[0]}/video")
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"


def test_a_killed_studio_leaves_no_ffmpeg_running_and_its_partial_files_go_at_the_next_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = StudioProcess(data_dir).start()
    try:
        with httpx.Client(base_url=first.url, timeout=WITHIN) as api:
            _, shots = _production(api, count=1, seconds=20)
            _ok(api.post(f"/api/shots/{shots[0]}/regenerate"), 202)
            assert first.proc is not None
            ffmpeg, partial = _rendering(first.proc.pid, data_dir)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
            _until(lambda: not _alive(ffmpeg), "ffmpeg to die with the studio")
    finally:
        first.stop()
    left = [p for p in data_dir.rglob(".*") if is_partial(p.name)]
    assert partial in left
    with StudioProcess(data_dir):  # it starts in the background of the first requests: give it a moment
        # (the requeued render may start a partial file of its own meanwhile)
        _until(lambda: not any(p.exists() for p in left), "the next start to remove the partial files")


def _rendering(studio: int, data_dir: Path) -> tuple[int, Path]:
    """An ffmpeg child of the studio and a partial file under the data folder, once both exist."""
    found: list[tuple[int, Path]] = []

    def both() -> bool:
        children = [pid for pid in _children(studio) if _command(pid) == "ffmpeg"]
        partial = [p for p in data_dir.rglob(".*") if is_partial(p.name) and p.suffix != ".png"]
        if children and partial:
            found.append((children[0], partial[0]))
        return bool(found)

    _until(both, "the studio to render with ffmpeg")
    return found[0]


def _children(parent: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            pids.append(int(stat.parent.name))
    return pids


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
