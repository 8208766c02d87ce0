"""Media work done with ffmpeg and yt-dlp: frames for datasets from videos."""

from services.media.frames import (
    DOWNLOAD_FORMAT,
    ExtractedFrame,
    FramePlan,
    ProgressCallback,
    VideoInfo,
    download_video,
    extract_frames,
    probe_video,
)

__all__ = [
    "DOWNLOAD_FORMAT",
    "ExtractedFrame",
    "FramePlan",
    "ProgressCallback",
    "VideoInfo",
    "download_video",
    "extract_frames",
    "probe_video",
]
