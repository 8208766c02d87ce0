"""Frames for datasets from real (tiny) videos made with ffmpeg, and yt-dlp against a local HTTP server."""

from __future__ import annotations

import asyncio
import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from services.errors import Invalid, StudioError
from services.media import FramePlan, download_video, extract_frames, probe_video

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (apt-get install ffmpeg)")

SMALL = "s=160x120:r=10"


def make_video(path: Path, *sources: str) -> Path:
    """Concatenate lavfi sources (each with its own duration) into one H.264 mp4."""
    args = ["ffmpeg", "-v", "error", "-y"]
    for source in sources:
        args += ["-f", "lavfi", "-i", source]
    graph = "".join(f"[{i}:v]" for i in range(len(sources))) + f"concat=n={len(sources)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True, timeout=60)
    return path


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    (folder / "notes.mp4").write_text("these are meeting notes, not a video\n")
    (folder / "garbage.mp4").write_bytes(os.urandom(4096))
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(folder / "tone.m4a")],
        check=True,
        timeout=60,
    )
    # three 2 s shots: a red card, the moving test pattern, a blue card
    cuts = make_video(
        folder / "cuts.mp4", f"color=c=red:{SMALL}:d=2", f"testsrc={SMALL}:d=2", f"color=c=blue:{SMALL}:d=2"
    )
    (folder / "truncated.mp4").write_bytes(cuts.read_bytes()[: cuts.stat().st_size // 2])  # its index is at the end
    return {
        "cuts": cuts,
        "static": make_video(folder / "static.mp4", f"color=c=gray:{SMALL}:d=10"),
        "notes": folder / "notes.mp4",
        "garbage": folder / "garbage.mp4",
        "truncated": folder / "truncated.mp4",
        "tone": folder / "tone.m4a",
    }


def frames_on_disk(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_probe_describes_a_video(videos: dict[str, Path]) -> None:
    info = await probe_video(videos["cuts"])

    assert info.duration_seconds == pytest.approx(6.0, abs=0.15)
    assert (info.width, info.height, info.codec, info.has_audio) == (160, 120, "h264", False)


async def test_scene_changes_give_frames_at_the_cuts(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "frames"
    # a long interval, so every frame after the first is there because the picture changed
    frames = await extract_frames(videos["cuts"], out, FramePlan(interval_seconds=100, width=80))

    assert [f.reason for f in frames] == ["interval", "scene", "scene"]
    assert [f.time_seconds for f in frames] == pytest.approx([0.0, 2.0, 4.0], abs=0.11)
    assert frames_on_disk(out) == sorted(f.path.name for f in frames)  # nothing else left in out_dir
    with Image.open(frames[1].path) as picture:
        assert picture.format == "PNG" and picture.size == (80, 60)  # scaled down to the plan's width, 4:3 kept


async def test_a_static_video_gives_one_frame_per_interval(videos: dict[str, Path], tmp_path: Path) -> None:
    reports: list[tuple[float, str]] = []

    async def progress(fraction: float, message: str) -> None:
        reports.append((fraction, message))

    frames = await extract_frames(videos["static"], tmp_path, FramePlan(interval_seconds=2, width=160), progress)

    assert [f.time_seconds for f in frames] == pytest.approx([0, 2, 4, 6, 8], abs=0.11)
    assert {f.reason for f in frames} == {"interval"}
    assert all(f.path.parent == tmp_path and f.path.is_file() for f in frames)
    assert reports and reports[-1][0] == 1.0
    assert all(0.0 <= fraction <= 1.0 for fraction, _ in reports)


async def test_the_frame_cap_holds(videos: dict[str, Path], tmp_path: Path) -> None:
    frames = await extract_frames(videos["static"], tmp_path, FramePlan(max_frames=3, interval_seconds=0.5, width=160))

    assert len(frames) == 3
    assert [f.time_seconds for f in frames] == pytest.approx([0, 0.5, 1.0], abs=0.11)
    assert len(frames_on_disk(tmp_path)) == 3


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("garbage", "is not a readable video"),
        ("notes", "is not a readable video"),
        ("truncated", "is not a readable video"),
        ("tone", "has no video stream"),
    ],
)
async def test_files_that_are_not_videos_are_invalid(
    videos: dict[str, Path], tmp_path: Path, name: str, says: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await extract_frames(videos[name], tmp_path / "out", FramePlan())

    assert caught.value.field == "video"
    assert says in caught.value.message and videos[name].name in caught.value.message
    assert str(videos[name].parent) not in caught.value.message  # the user knows the file by its name


async def test_a_missing_file_is_invalid(tmp_path: Path) -> None:
    with pytest.raises(Invalid, match="does not exist"):
        await probe_video(tmp_path / "nowhere.mp4")


def test_a_plan_that_cannot_work_is_invalid() -> None:
    with pytest.raises(Invalid) as caught:
        FramePlan(max_frames=0)
    assert caught.value.field == "plan.max_frames"
    with pytest.raises(Invalid):
        FramePlan(scene_threshold=1.5)


async def test_cancelling_kills_ffmpeg_and_leaves_nothing(videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cancelled"
    started = asyncio.Event()

    async def progress(fraction: float, message: str) -> None:
        started.set()

    # every frame, upscaled to 4096 px wide: slow enough to still be running when cancelled
    plan = FramePlan(max_frames=200, interval_seconds=0.1, width=4096)
    task = asyncio.create_task(extract_frames(videos["static"], out, plan, progress))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert not ffmpeg_processes_writing_to(out)
    assert frames_on_disk(out) == []


def ffmpeg_processes_writing_to(folder: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
                if str(folder).encode() in command and b"ffmpeg" in command:
                    status = (entry / "status").read_text()
                    if "\nState:\tZ" not in status:
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


# --- downloads ----------------------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web(videos: dict[str, Path], tmp_path: Path) -> Iterator[str]:
    """A static web server on 127.0.0.1 with clip.mp4 and a page without a video."""
    root = tmp_path / "site"
    root.mkdir()
    shutil.copy(videos["cuts"], root / "clip.mp4")
    (root / "about.html").write_text("<html><body><p>No video here.</p></body></html>")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_download_saves_the_video_inside_out_dir(web: str, videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "download"
    reports: list[float] = []

    async def progress(fraction: float, message: str) -> None:
        reports.append(fraction)

    path = await download_video(f"{web}/clip.mp4", out, max_bytes=50_000_000, progress=progress)

    assert path.parent == out.resolve()
    assert path.read_bytes() == videos["cuts"].read_bytes()
    assert reports and reports[-1] == 1.0
    assert (await probe_video(path)).duration_seconds == pytest.approx(6.0, abs=0.15)


async def test_a_video_over_the_size_limit_is_refused(web: str, tmp_path: Path) -> None:
    out = tmp_path / "download"

    with pytest.raises(StudioError, match=r"larger than the 1000 bytes limit"):
        await download_video(f"{web}/clip.mp4", out, max_bytes=1000)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "says"),
    [("/missing.mp4", "the server answered HTTP 404"), ("/about.html", "the page holds no video")],
)
async def test_download_errors_say_what_happened(web: str, tmp_path: Path, path: str, says: str) -> None:
    with pytest.raises(StudioError) as caught:
        await download_video(f"{web}{path}", tmp_path / "download", max_bytes=50_000_000)

    message = str(caught.value)
    assert says in message and f"{web}{path}" in message
    assert "Traceback" not in message and "caused by" not in message


async def test_an_unreachable_host_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/clip.mp4"  # nothing listens there

    with pytest.raises(StudioError, match=r"the server could not be reached \(Connection refused\)") as caught:
        await download_video(url, tmp_path / "download", max_bytes=50_000_000)
    assert "Traceback" not in str(caught.value)


async def test_a_slow_download_is_stopped(tmp_path: Path) -> None:
    release = threading.Event()

    class Stalling(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            release.wait(30)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(StudioError, match=r"took longer than 1 s"):
            await download_video(
                f"http://127.0.0.1:{server.server_address[1]}/v.mp4", tmp_path / "d", max_bytes=10**6, within=1
            )
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/clip.mp4", "file:///etc/passwd", "127.0.0.1/clip.mp4", "http://"])
async def test_only_http_addresses_are_accepted(url: str, tmp_path: Path) -> None:
    with pytest.raises(Invalid) as caught:
        await download_video(url, tmp_path / "download", max_bytes=10**6)

    assert caught.value.field == "url"
    assert not (tmp_path / "download").exists()
