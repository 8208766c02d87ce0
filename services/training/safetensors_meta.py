"""The training metadata a LoRA file carries: the `__metadata__` of its safetensors header (kohya's `ss_*`)."""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError, safe_open

from services.errors import Invalid


def read_metadata(path: Path) -> dict[str, str]:
    """The header's `__metadata__` (empty when the file has none). Reads only the header, but from disk: call
    it with asyncio.to_thread. Invalid: the file is missing, not a safetensors file, or truncated."""
    try:
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata()
    except FileNotFoundError as exc:
        raise Invalid("file", f"{path.name} does not exist") from exc
    except (SafetensorError, OSError, ValueError) as exc:
        # safetensors says what is wrong with the header, never which file: name it for the person.
        raise Invalid("file", f"{path.name} is not a readable safetensors LoRA file ({exc})") from exc
    return dict(metadata or {})
