"""A keyframe card for a shot that has no picture yet: its description on a plain background.

The animatic engine needs a still to move the camera over; an establishing shot planned from the story has
none until someone generates or picks one, and the preview should still play, in order, with its words.
"""

from __future__ import annotations

import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

_BACKGROUND = (28, 30, 38)
_TEXT = (236, 236, 240)
_MUTED = (150, 154, 170)


def keyframe_card(width: int, height: int, heading: str, text: str) -> bytes:
    """A PNG of `width`x`height` with a small heading and the wrapped text."""
    image = Image.new("RGB", (width, height), _BACKGROUND)
    pen = ImageDraw.Draw(image)
    size = max(14, height // 18)
    font = ImageFont.load_default(size=size)
    small = ImageFont.load_default(size=max(10, size * 2 // 3))
    margin = width // 12
    pen.text((margin, margin), heading.upper(), fill=_MUTED, font=small)
    columns = max(20, int((width - 2 * margin) / (size * 0.55)))
    lines = textwrap.wrap(text.strip() or "(no description)", columns)[:8]
    y = margin + size * 2
    for line in lines:
        pen.text((margin, y), line, fill=_TEXT, font=font)
        y += int(size * 1.35)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()
