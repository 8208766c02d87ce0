"""Provenance embedded in a generated PNG, so an image carries its own recipe wherever it is copied.

Two text chunks: `anime_studio` (our full JSON, read back by "generate again like this") and
`parameters` in the A1111 style that other tools (image viewers, Civitai) already understand.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image, PngImagePlugin

PROVENANCE_KEY = "anime_studio"


def embed_provenance(png: bytes, provenance: dict[str, Any]) -> bytes:
    """Re-save a PNG losslessly with the provenance chunks (pixels untouched). Blocking: run off the loop."""
    info = PngImagePlugin.PngInfo()
    info.add_text(PROVENANCE_KEY, json.dumps(provenance, sort_keys=True, default=str))
    info.add_text("parameters", _a1111_parameters(provenance))
    with Image.open(io.BytesIO(png)) as image:
        out = io.BytesIO()
        image.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def read_provenance(png: bytes) -> dict[str, Any] | None:
    """The studio's provenance of a PNG, or None when it has none. Blocking: run off the loop."""
    with Image.open(io.BytesIO(png)) as image:
        text = getattr(image, "text", {}).get(PROVENANCE_KEY)
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _a1111_parameters(p: dict[str, Any]) -> str:
    loras = " ".join(f"<lora:{lora['name'].rsplit('.', 1)[0]}:{lora['strength_model']}>" for lora in p.get("loras", []))
    settings = ", ".join(
        f"{label}: {p[key]}"
        for label, key in (
            ("Steps", "steps"),
            ("Sampler", "sampler"),
            ("Schedule type", "scheduler"),
            ("CFG scale", "cfg"),
            ("Seed", "seed"),
            ("Model", "checkpoint"),
            ("VAE", "vae"),
        )
        if p.get(key) is not None
    )
    size = f"Size: {p.get('width')}x{p.get('height')}"
    positive = " ".join(part for part in (p.get("positive", ""), loras) if part)
    return f"{positive}\nNegative prompt: {p.get('negative', '')}\n{settings}, {size}"
