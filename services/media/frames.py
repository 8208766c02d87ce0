"""Frames for datasets from videos: probe a file with ffprobe, pick frames in one ffmpeg pass (every scene
change, and at least one frame every few seconds), and fetch a video from a web page with yt-dlp.

Everything runs as asyncio subprocesses, so the event loop never waits on ffmpeg; a cancelled task kills its
process. Files are only ever written inside the caller's `out_dir`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from services.children import spawn
from services.errors import Invalid, StudioError
from services.toolchain import INSTALL_HINT

ProgressCallback = Callable[[float, str], Awaitable[None]]

PROBE_TIMEOUT_SECONDS = 60.0
# The yt-dlp format: at most 1080p (plenty for 768 px frames, and a fraction of the bytes of 4K), with or
# without a separate audio stream, else whatever single file the site offers.
DOWNLOAD_FORMAT = "bestvideo[height<=1080]+bestaudio/best[height<=1080]/best"
_STDERR_TAIL = 12  # ffmpeg/yt-dlp lines kept for error messages
_LINE_LIMIT = 1 << 20  # asyncio's default 64 KiB line limit is too small for some ffmpeg side-data lines
# The containers (ffmpeg demuxer names) a user's video may come in. Playlists (HLS, DASH), ffconcat lists and
# other indirections are left out: they make ffmpeg read further files, which could be anywhere on this machine.
VIDEO_CONTAINERS = ("mov", "matroska", "avi", "mpegts", "mpeg", "flv", "ogg", "asf")
# What a file that is not on the allow-list is, in words, by the demuxer ffmpeg found for it.
_INDIRECTIONS = {
    "hls": "an HLS playlist",
    "dash": "a DASH manifest",
    "webm_dash_manifest": "a DASH manifest",
    "concat": "an ffconcat list",
    "sdp": "an SDP session description",
    "rtsp": "an RTSP address",
    "ffmetadata": "an ffmpeg metadata file",
}
_NOT_ON_WHITELIST = re.compile(r"\[(\w+) @ 0x[0-9a-f]+\] Format not on whitelist")


@dataclass(frozen=True)
class FramePlan:
    max_frames: int = 60  # the cap
    interval_seconds: float = 2.0  # one frame at least every N seconds
    scene_threshold: float = 0.3  # ffmpeg scene score above which a frame starts a new scene
    width: int = 768  # frames wider than this are scaled down to it (height keeps the display aspect ratio)

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise Invalid("plan.max_frames", f"must be at least 1, not {self.max_frames}")
        if not (math.isfinite(self.interval_seconds) and self.interval_seconds > 0):
            raise Invalid("plan.interval_seconds", f"must be a positive number of seconds, not {self.interval_seconds}")
        if not 0 < self.scene_threshold < 1:
            raise Invalid("plan.scene_threshold", f"must be between 0 and 1, not {self.scene_threshold}")
        if not 16 <= self.width <= 8192:
            raise Invalid("plan.width", f"must be between 16 and 8192 pixels, not {self.width}")


@dataclass(frozen=True)
class ExtractedFrame:
    path: Path
    time_seconds: float
    reason: Literal["scene", "interval"]


@dataclass(frozen=True)
class VideoInfo:
    duration_seconds: float
    width: int
    height: int
    codec: str
    has_audio: bool


# --- probing ------------------------------------------------------------------------------------------------


async def probe_video(path: Path, formats: Sequence[str] | None = None, name: str | None = None) -> VideoInfo:
    """Describe a video file (a user's: pass `formats=VIDEO_CONTAINERS`); Invalid("video") naming `name` (default:
    the file's name) when it is missing, unreadable, in another container or has no video stream."""
    info, _ = await _describe(path, formats, name)
    return info


async def probe_video_stream(path: Path) -> tuple[VideoInfo, dict[str, Any]]:
    """Like probe_video, plus ffprobe's own fields of that video stream (r_frame_rate, nb_frames...)."""
    return await _describe_stream(path)


async def _describe(path: Path, formats: Sequence[str] | None = None, name: str | None = None) -> tuple[VideoInfo, int]:
    """The video's description and the index of its first real video stream (for `-map`)."""
    info, video = await _describe_stream(path, formats, name)
    return info, int(video.get("index", 0))


async def ffprobe(
    source: Path | bytes,
    kind: str = "video",
    name: str | None = None,
    show: Sequence[str] = ("-show_format", "-show_streams"),
    formats: Sequence[str] | None = None,
) -> dict[str, Any]:
    """ffprobe's JSON for the format and streams of a file (or what `show` asks for), or of bytes held in
    memory (fed on stdin). ffprobe reads only that file (or stdin), and with `formats` only those containers.

    Invalid(kind) naming `name` (default: the file's name) when the file is missing or ffprobe cannot read it;
    NotAccepted when it is in another container (a playlist, a concat list, a picture...).
    """
    in_memory = isinstance(source, bytes)
    name = name or ("the data" if in_memory else source.name)  # type: ignore[union-attr]
    if not in_memory and not await asyncio.to_thread(source.is_file):  # type: ignore[union-attr]
        raise Invalid(kind, f"{name} does not exist")
    limits = _input_limits("pipe" if in_memory else "file", formats)
    target = ["-i", "pipe:0"] if in_memory else [_file_url(source)]  # type: ignore[arg-type]
    proc = await spawn(
        _tool("ffprobe"),
        *["-v", "error", "-print_format", "json", *show, *limits, *target],
        stdin=asyncio.subprocess.PIPE if in_memory else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(source if in_memory else None), PROBE_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except TimeoutError as exc:
        await _stop(proc)
        raise Invalid(kind, f"ffprobe took longer than {PROBE_TIMEOUT_SECONDS:g} s to read {name}") from exc
    except BaseException:
        await _stop(proc)
        raise
    if proc.returncode != 0:
        if refused := _NOT_ON_WHITELIST.search(err.decode(errors="replace")):
            raise NotAccepted(kind, name, refused[1])
        reason = _last_line(err.decode(errors="replace")) or f"ffprobe exit code {proc.returncode}"
        if in_memory:
            reason = reason.removeprefix("pipe:0: ")
        else:
            reason = _strip_path(reason, source).removeprefix(f"{source.name}: ")  # type: ignore[union-attr,arg-type]
        raise Invalid(kind, f"{name} is not a readable {kind} ({reason})")
    try:
        return json.loads(out or b"{}")
    except ValueError as exc:
        raise StudioError(f"ffprobe printed something other than JSON for {name}") from exc


def _input_limits(protocol: str, formats: Sequence[str] | None = None) -> list[str]:
    """Input options (before `-i`) that let ffmpeg or ffprobe open nothing but the named input through
    `protocol` ("file" or "pipe"), and, given `formats`, only those containers."""
    options = ["-protocol_whitelist", protocol]
    return [*options, "-format_whitelist", ",".join(formats)] if formats else options


class NotAccepted(Invalid):
    """ffprobe found a container that is not on the caller's allow-list: a playlist, a concat list, a picture..."""

    def __init__(self, kind: str, name: str, demuxer: str) -> None:
        self.picture = demuxer.endswith("_pipe") or demuxer in ("image2", "gif", "webp")
        if demuxer in _INDIRECTIONS:
            what = _INDIRECTIONS[demuxer]
        else:
            what = "a picture" if self.picture else f"in the {demuxer} format"
        article = "an" if kind[0] in "aeiou" else "a"
        super().__init__(kind, f"{name} is {what}, not {article} {kind}; upload the {kind} itself")


async def _describe_stream(
    path: Path, formats: Sequence[str] | None = None, name: str | None = None
) -> tuple[VideoInfo, dict[str, Any]]:
    name = name or path.name
    described = await ffprobe(path, name=name, formats=formats)
    streams = described.get("streams") or []
    # Cover art inside audio files shows up as a video stream; it is not a video.
    videos = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise Invalid("video", f"{name} has no video stream")
    video = videos[0]
    duration = _seconds((described.get("format") or {}).get("duration")) or _seconds(video.get("duration"))
    if not duration:
        raise Invalid("video", f"{name} has no duration (a still image, or a cut-off file?)")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise Invalid("video", f"{name} has a video stream without a picture size")
    info = VideoInfo(
        duration_seconds=duration,
        width=width,
        height=height,
        codec=str(video.get("codec_name") or "unknown"),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )
    return info, video


# --- frame extraction ---------------------------------------------------------------------------------------

_SHOWINFO = re.compile(r"Parsed_showinfo_\d+ @ [^\]]+\] n:\s*(\d+) pts:\s*(-?\d+) pts_time:(\S+)")
_METADATA_FRAME = re.compile(r"Parsed_metadata_\d+ @ [^\]]+\] frame:\s*\d+\s+pts:\s*(-?\d+)\s")
_SCENE_SCORE = re.compile(r"Parsed_metadata_\d+ @ [^\]]+\] lavfi\.scene_score=([0-9.]+)")


async def extract_frames(
    video: Path, out_dir: Path, plan: FramePlan, progress: ProgressCallback | None = None
) -> list[ExtractedFrame]:
    """Take frames at scene changes and at least every `interval_seconds`, up to `max_frames`, as PNGs in out_dir.

    One ffmpeg pass decodes the video once; frames are named frame_NNNN_<ms>ms.png (a second run into the
    same folder replaces them). The video is a user's: only VIDEO_CONTAINERS are read. Invalid("video") when
    the file is not a usable video; StudioError with ffmpeg's last lines when ffmpeg fails. A cut-off file
    gives the frames before the cut.
    """
    info, stream = await _describe(video, VIDEO_CONTAINERS)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    # ffmpeg writes into a private folder; finished frames are renamed into out_dir, so a failed or
    # cancelled run leaves nothing half-written behind.
    work = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=".frames-", suffix=".part", dir=out_dir))
    try:
        shown, scores, log = await _run_selection(video, stream, work, plan, info, progress)
        return await asyncio.to_thread(_collect, work, out_dir, shown, scores, plan, video.name, log)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)


def _select_filter(plan: FramePlan) -> str:
    # A frame is taken when any term is non-zero: it is the first one (prev_selected_t is NaN until a frame is
    # selected), `interval` seconds have passed since the last taken frame, or the scene changed. The interval
    # counts from the last taken frame of either kind, so a cut resets it.
    interval = f"{plan.interval_seconds:.6f}".rstrip("0").rstrip(".")
    select = f"isnan(prev_selected_t)+gte(t-prev_selected_t\\,{interval})+gt(scene\\,{plan.scene_threshold:.6f})"
    return ",".join(
        (
            f"select={select}",
            # select stores each frame's scene score; print it so scene frames can be told from interval ones
            "metadata=mode=print:key=lavfi.scene_score",
            # Never wider than the video (upscaling adds no detail to a training image); the height follows
            # the display aspect ratio, so anamorphic video comes out undistorted.
            f"scale=w=min({plan.width}\\,iw):h=max(2\\,round(ow/dar)):flags=lanczos",
            "setsar=1",
            "showinfo",
        )
    )


async def _run_selection(
    video: Path,
    stream: int,
    work: Path,
    plan: FramePlan,
    info: VideoInfo,
    progress: ProgressCallback | None,
) -> tuple[list[tuple[int, float]], dict[int, float], list[str]]:
    shown: list[tuple[int, float]] = []  # (pts, pts_time) of each frame written, in order
    scores: dict[int, float] = {}  # pts -> scene score
    pending_pts: int | None = None

    def read_filters(line: str) -> bool:
        nonlocal pending_pts
        if match := _SHOWINFO.search(line):
            shown.append((int(match[2]), float(match[3])))
        elif match := _METADATA_FRAME.search(line):
            pending_pts = int(match[1])
        elif (match := _SCENE_SCORE.search(line)) and pending_pts is not None:
            scores[pending_pts] = float(match[1])
        else:
            return "Parsed_" in line
        return True

    args = [
        *_input_limits("file", VIDEO_CONTAINERS),
        "-i",
        _file_url(video),
        "-map",
        f"0:{stream}",
        "-an",
        "-sn",
        "-dn",
        "-vf",
        _select_filter(plan),
        "-fps_mode",
        "vfr",  # keep only the selected frames, with their own timestamps (ffmpeg >= 5.1; was -vsync vfr)
        "-frames:v",
        str(plan.max_frames),
        "-f",
        "image2",
        "-y",
        # image2 reads % in the whole path as a pattern; double any that belong to the folder name
        str(work).replace("%", "%%") + "/%06d.png",
    ]
    log = await run_ffmpeg(
        args,
        what=f"take frames from {video.name}",
        seconds=info.duration_seconds,
        progress=progress,
        files=[video],
        loglevel="info",  # showinfo and metadata print at this level
        on_stderr=read_filters,
    )
    return shown, scores, log


def _collect(
    work: Path,
    out_dir: Path,
    shown: list[tuple[int, float]],
    scores: dict[int, float],
    plan: FramePlan,
    name: str,
    log: list[str],
) -> list[ExtractedFrame]:
    written = sorted(work.glob("*.png"))
    if not written:
        detail = _strip_path(" | ".join(log), None)
        raise Invalid("video", f"no frame of {name} could be decoded" + (f" ({detail})" if detail else ""))
    if len(shown) < len(written):
        raise StudioError(f"ffmpeg wrote {len(written)} frames of {name} but reported times for {len(shown)}")
    frames = []
    for index, (path, (pts, pts_time)) in enumerate(zip(written, shown, strict=False)):
        seconds = max(pts_time, 0.0)  # edit lists can start a stream a few ms before zero
        reason: Literal["scene", "interval"] = "scene" if scores.get(pts, 0.0) > plan.scene_threshold else "interval"
        target = out_dir / f"frame_{index:04d}_{round(seconds * 1000):09d}ms.png"
        os.replace(path, target)
        frames.append(ExtractedFrame(target, round(seconds, 3), reason))
    return frames


# --- downloads ----------------------------------------------------------------------------------------------

_PROGRESS_MARK = "STUDIO-PROGRESS "
_FILE_MARK = "STUDIO-FILE "
_TOO_LARGE = re.compile(r"File is larger than max-filesize \((\d+) bytes")


async def download_video(
    url: str,
    out_dir: Path,
    *,
    max_bytes: int,
    within: float = 600.0,
    progress: ProgressCallback | None = None,
    media_format: str = DOWNLOAD_FORMAT,
    merge_format: str | None = "mp4",
) -> Path:
    """Download the video on a web page (or a direct video link) into out_dir with yt-dlp; return its path.

    `media_format` is yt-dlp's --format (audio only: "bestaudio/best"); `merge_format` the container separate
    video and audio streams are merged into (None: no merging).

    Invalid("url") for anything but an http(s) address; StudioError saying what went wrong (unreachable,
    not found, no video on the page, too large, too slow) otherwise.
    """
    _check_url(url)
    if importlib.util.find_spec("yt_dlp") is None:
        raise StudioError("yt-dlp is not installed; install it with `pip install yt-dlp`")
    root = await asyncio.to_thread(_ready_folder, out_dir)
    before = set(await asyncio.to_thread(os.listdir, root))
    args = [
        "-m",
        "yt_dlp",
        "--ignore-config",  # a user's yt-dlp.conf must not change where files go
        "--no-cache-dir",  # yt-dlp's cache lives in ~/.cache, outside out_dir
        "--no-playlist",
        "--no-mtime",
        "--restrict-filenames",
        "--no-colors",
        "--newline",
        "--no-quiet",  # --print implies --quiet, which would hide the "larger than max-filesize" notice
        "--progress",
        "--progress-template",
        f"download:{_PROGRESS_MARK}%(progress.downloaded_bytes)s %(progress.total_bytes)s "
        "%(progress.total_bytes_estimate)s",
        "--print",
        f"after_move:{_FILE_MARK}%(filepath)s",
        "--max-filesize",
        str(max_bytes),
        "--format",
        media_format,
        *(["--merge-output-format", merge_format] if merge_format else []),
        "--socket-timeout",
        "30",
        "--retries",
        "2",
        "--fragment-retries",
        "2",
        "--paths",
        str(root),  # absolute: its temp and part files land here too
        "--output",
        "%(id).80B.%(ext)s",
        "--",
        url,
    ]
    proc = await spawn(
        sys.executable,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
        start_new_session=True,  # its own process group, so a kill also reaches the ffmpeg it merges with
    )
    files: list[str] = []
    notices: deque[str] = deque(maxlen=_STDERR_TAIL)
    errors: list[str] = []
    too_large: list[int] = []

    async def read_stdout(reader: asyncio.StreamReader) -> None:
        async for raw in reader:
            line = raw.decode(errors="replace").strip()
            if line.startswith(_FILE_MARK):
                files.append(line.removeprefix(_FILE_MARK))
            elif line.startswith(_PROGRESS_MARK):
                done, total = _download_counts(line.removeprefix(_PROGRESS_MARK))
                # yt-dlp checks --max-filesize only when the server sends a length; enforce it as bytes arrive
                if done > max_bytes or (total or 0) > max_bytes:
                    too_large.append(max(done, total or 0))
                    _kill_group(proc)
                    return
                if progress is not None:
                    fraction = min(done / total, 1.0) if total else 0.0
                    size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
                    await progress(fraction, f"downloading {size}")
            elif match := _TOO_LARGE.search(line):
                too_large.append(int(match[1]))
            elif line:
                notices.append(line)

    async def read_stderr(reader: asyncio.StreamReader) -> None:
        async for raw in reader:
            line = raw.decode(errors="replace").strip()
            if line.startswith("ERROR:"):
                errors.append(line.removeprefix("ERROR:").strip())
            elif line:
                notices.append(line)

    try:
        assert proc.stdout is not None and proc.stderr is not None
        async with asyncio.timeout(within):
            await asyncio.gather(read_stdout(proc.stdout), read_stderr(proc.stderr))
            code = await proc.wait()
    except TimeoutError as exc:
        await _stop(proc, group=True)
        await _remove_new(root, before)
        raise StudioError(
            f"downloading {url} took longer than {within:g} s; try again later, or download the video yourself "
            "and upload the file"
        ) from exc
    except BaseException:
        await _stop(proc, group=True)
        await _remove_new(root, before)
        raise

    limit = f"{max_bytes / 1e6:.0f} MB" if max_bytes >= 1e6 else f"{max_bytes} bytes"
    if too_large:
        await _remove_new(root, before)
        raise StudioError(
            f"the video at {url} is larger than the {limit} limit (max_video_upload_mb); pick a shorter video"
        )
    if code != 0 or errors:
        await _remove_new(root, before)
        reason = errors[-1] if errors else (notices[-1] if notices else f"yt-dlp exit code {code}")
        raise StudioError(f"could not download a video from {url}: {_tidy_ytdlp_error(reason)}")
    return await asyncio.to_thread(_downloaded_file, files, root, url, max_bytes, limit)


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise Invalid("url", f"{url!r} is not a web address ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"this one starts with {parts.scheme}:" if parts.scheme else "this one has no scheme"
        raise Invalid("url", f"only http:// and https:// addresses can be downloaded; {shown}")
    if not parts.hostname:
        raise Invalid("url", f"{url!r} names no host")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise Invalid("url", "the address contains spaces or control characters")


def _download_counts(text: str) -> tuple[int, int | None]:
    done, total, estimate = [*text.split(), "NA", "NA", "NA"][:3]
    downloaded = int(float(done)) if _number(done) else 0
    size = total if _number(total) else estimate if _number(estimate) else None
    return downloaded, int(float(size)) if size is not None else None


def _downloaded_file(files: list[str], root: Path, url: str, max_bytes: int, limit: str) -> Path:
    for name in reversed(files):
        path = Path(name).resolve()
        if path.is_file() and path.is_relative_to(root):
            # A separate video and audio stream are each checked against the limit; their merge is not.
            if path.stat().st_size > max_bytes:
                path.unlink()
                raise StudioError(f"the video at {url} is larger than the {limit} limit (max_video_upload_mb)")
            return path
    raise StudioError(f"yt-dlp finished without saving a video from {url}; the page may hold no downloadable video")


def _tidy_ytdlp_error(reason: str) -> str:
    # "[generic] clip: Unable to download webpage: HTTP Error 404: Not Found (caused by <HTTPError 404: ...>)"
    reason = re.sub(r"^\[[\w:-]+\]\s*(?:[\w.-]+:\s)?", "", reason)
    if reason.startswith("Unsupported URL"):
        return "the page holds no video that yt-dlp can find (Unsupported URL)"
    reason = re.sub(r"\s*\(caused by .*\)$", "", reason)
    reason = re.sub(r";\s*please report this issue.*$", "", reason, flags=re.IGNORECASE)
    if match := re.search(r"HTTP Error (\d+): (.+)$", reason):
        return f"the server answered HTTP {match[1]} ({match[2].strip()})"
    if match := re.search(r"Failed to resolve '([^']+)'", reason):
        return f"the host {match[1]} could not be found (a typo in the address, or no network?)"
    if match := re.search(r"Failed to establish a new connection: (?:\[Errno -?\d+\] )?(.+)$", reason):
        return f"the server could not be reached ({match[1].strip()})"
    return reason.strip() or "yt-dlp failed"


async def _remove_new(folder: Path, before: set[str]) -> None:
    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            for name in set(os.listdir(folder)) - before:
                path = folder / name
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    await asyncio.to_thread(remove)


# --- running ffmpeg for other media modules ----------------------------------------------------------------


async def run_ffmpeg(
    args: Sequence[str],
    *,
    what: str,
    seconds: float | None = None,
    progress: ProgressCallback | None = None,
    stdin: bytes | None = None,
    files: Sequence[Path] = (),
    loglevel: str = "error",
    on_stderr: Callable[[str], bool] | None = None,
) -> list[str]:
    """Run ffmpeg with `args`, reporting progress over `seconds` of output; a cancelled task kills it.

    `stdin` is fed to ffmpeg (for `-i pipe:0`). `on_stderr` sees every stderr line first and returns True for
    the ones it consumed (filter output such as showinfo); the others are kept, and the last of them are
    returned. StudioError "ffmpeg could not <what>: <its last error lines>" when it fails, with the paths in
    `files` shown by name only.
    """
    ffmpeg = _tool("ffmpeg")
    common = ["-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel, "-progress", "pipe:1"]
    proc = await spawn(
        ffmpeg,
        *common,
        *args,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
    )
    log: deque[str] = deque(maxlen=_STDERR_TAIL)

    async def feed(writer: asyncio.StreamWriter, data: bytes) -> None:
        try:
            writer.write(data)
            await writer.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # ffmpeg stopped reading early; its exit code and stderr say why
        finally:
            writer.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await writer.wait_closed()

    async def read_log(reader: asyncio.StreamReader) -> None:
        async for raw in reader:
            line = raw.decode(errors="replace").rstrip()
            if line and not (on_stderr is not None and on_stderr(line)):
                log.append(line)

    async def read_progress(reader: asyncio.StreamReader) -> None:
        out_time = 0.0
        frames = 0
        async for raw in reader:
            key, _, value = raw.decode(errors="replace").strip().partition("=")
            if key == "out_time_us" and value.lstrip("-").isdigit():
                out_time = max(out_time, int(value) / 1e6)
            elif key == "frame" and value.isdigit():
                frames = int(value)
            elif key == "progress" and progress is not None:
                if value == "end":
                    fraction = 1.0
                elif seconds:
                    fraction = min(out_time / seconds, 1.0)
                else:
                    fraction = 0.0
                total = f" of {seconds:.1f}" if seconds else ""
                await progress(fraction, f"{frames} frames, {out_time:.1f}{total} s")

    try:
        assert proc.stdout is not None and proc.stderr is not None
        jobs = [read_log(proc.stderr), read_progress(proc.stdout)]
        if stdin is not None:
            assert proc.stdin is not None
            jobs.append(feed(proc.stdin, stdin))
        await asyncio.gather(*jobs)
        code = await proc.wait()
    except BaseException:
        await _stop(proc)
        raise
    if code != 0:
        detail = " | ".join(list(log)[-4:])
        for path in files:
            detail = _strip_path(detail, path)
        raise StudioError(f"ffmpeg could not {what}: {detail or f'exit code {code}'}")
    return list(log)


def file_url(path: Path) -> str:
    """The argument that makes ffmpeg read or write `path` as a plain file, whatever its name looks like."""
    return _file_url(path)


# --- shared helpers -----------------------------------------------------------------------------------------


def _ready_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StudioError(f"{name} is not installed; {INSTALL_HINT}")
    return path


def _file_url(path: Path) -> str:
    # An absolute path behind the file: protocol: a name starting with "-" or holding "http:" stays a file name.
    return f"file:{path.resolve()}"


async def _stop(proc: asyncio.subprocess.Process, *, group: bool = False) -> None:
    """Kill a process (and its process group) and reap it; shielded so a second cancel cannot leave a zombie."""
    if proc.returncode is None:
        _kill_group(proc) if group else _kill(proc)
    with contextlib.suppress(ProcessLookupError):
        await asyncio.shield(proc.wait())


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we created with start_new_session
    except (ProcessLookupError, PermissionError):
        _kill(proc)


def _seconds(value: object) -> float | None:
    try:
        seconds = float(str(value))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds > 0 else None


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _strip_path(message: str, path: Path | None) -> str:
    """Error text without our absolute paths (the user knows the file by its name)."""
    if path is not None:
        for form in (f"file:{path.resolve()}", str(path.resolve()), str(path)):
            message = message.replace(form, path.name)
    return message.strip()
