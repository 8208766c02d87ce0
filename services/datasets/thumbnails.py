"""Thumbnails for the review grid: made once per file, WebP, served as static files under /thumbs."""

from __future__ import annotations

import io

from PIL import Image

THUMB_SIDE = 320
THUMBS_FOLDER = "thumbs"
THUMBS_URL = "/thumbs"


def thumbnail_path(content_hash: str) -> str:
    """Where the thumbnail of a file lives, relative to the data folder (named by content: never stale)."""
    return f"{THUMBS_FOLDER}/{content_hash[:2]}/{content_hash[:32]}.webp"


def thumbnail_url(content_hash: str) -> str:
    return f"{THUMBS_URL}/{content_hash[:2]}/{content_hash[:32]}.webp"


def make_thumbnail(image: Image.Image) -> bytes:
    """A WebP at most THUMB_SIDE px on its longer side."""
    copy = image.convert("RGB")
    copy.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()
