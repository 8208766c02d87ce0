"""Checks that an uploaded file really is a safe, decodable image before anything is written."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from services.errors import Invalid

# What we accept, by decoded format (never by file name or declared content type).
ACCEPTED_FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp")}
_ACCEPTED_NAMES = ", ".join(sorted(ACCEPTED_FORMATS)[:-1]) + f" or {sorted(ACCEPTED_FORMATS)[-1]}"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 6k x 6k picture; decompression bombs claim far more
MAX_SIDE = 12_000


# What PIL raises for a file it cannot read.
UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


def unreadable_image(exc: BaseException) -> str:
    """What to tell a person about an image PIL could not read. PIL's own messages show internals
    (`cannot identify image file <_io.BytesIO object at 0x…>`, the server's paths), never the fix."""
    if isinstance(exc, UnidentifiedImageError):
        return f"not a readable image (not a {_ACCEPTED_NAMES} file); use one of those"
    return "not a readable image (damaged or cut short); save or export it again"


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    media_type: str
    extension: str
    width: int
    height: int
    content_hash: str


def check_image(data: bytes, field: str = "image", max_bytes: int = MAX_UPLOAD_BYTES) -> CheckedImage:
    """Validate an image fully (type, size, dimensions, decodability). Raises Invalid naming `field`."""
    if not data:
        raise Invalid(field, "the file is empty")
    if len(data) > max_bytes:
        raise Invalid(field, f"the file is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in ACCEPTED_FORMATS:
                    raise Invalid(field, f"{kind or 'this'} files are not accepted; use {_ACCEPTED_NAMES}")
                if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                    raise Invalid(field, f"{width}x{height} is too large (at most {MAX_PIXELS // 1_000_000} MP)")
                probe.verify()  # structure and checksums, without decoding pixels
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # a truncated file fails here
    except Invalid:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Invalid(field, "the image claims an enormous size (a decompression bomb?)") from exc
    except UNREADABLE as exc:
        raise Invalid(field, unreadable_image(exc)) from exc
    media_type, extension = ACCEPTED_FORMATS[kind]
    return CheckedImage(data, media_type, extension, width, height, hashlib.sha256(data).hexdigest())
