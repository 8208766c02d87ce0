"""Media work done with ffmpeg and yt-dlp: frames for datasets from videos, animatics, reading rendered clips."""

from services.media.animatic import CameraMove, camera_move_for, render_animatic
from services.media.clips import ClipInfo, grab_frame, grab_jpeg, probe_clip, review_frames
from services.media.frames import (
    DOWNLOAD_FORMAT,
    VIDEO_CONTAINERS,
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
    "VIDEO_CONTAINERS",
    "CameraMove",
    "ClipInfo",
    "ExtractedFrame",
    "FramePlan",
    "ProgressCallback",
    "VideoInfo",
    "camera_move_for",
    "download_video",
    "extract_frames",
    "grab_frame",
    "grab_jpeg",
    "probe_clip",
    "probe_video",
    "render_animatic",
    "review_frames",
]
