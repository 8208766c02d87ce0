"""The video output every video graph ends with: VHS_VideoCombine writing an H.264 MP4."""

from __future__ import annotations

from workflows.graph import Graph, Link, Node

H264_FORMAT = "video/h264-mp4"
# crf 19 and yuv420p are what the earlier system used; yuv420p is what browsers and Jellyfin play.
H264_CRF = 19
H264_PIX_FMT = "yuv420p"


def add_video_combine(graph: Graph, images: Link, *, fps: float, filename_prefix: str) -> Node:
    # pix_fmt, crf, save_metadata and trim_to_audio are the h264-mp4 format's extra inputs; VHS needs them all.
    return graph.add(
        "VHS_VideoCombine",
        "Save video",
        images=images,
        frame_rate=fps,
        loop_count=0,
        filename_prefix=filename_prefix,
        format=H264_FORMAT,
        pingpong=False,
        save_output=True,
        pix_fmt=H264_PIX_FMT,
        crf=H264_CRF,
        save_metadata=True,
        trim_to_audio=False,
    )
