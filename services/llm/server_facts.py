"""What the studio learned about each LLM server, remembered for a while across clients.

Clients live for one job or one request, but what a server can do changes only when someone swaps its
model or upgrades it: so the answers are kept per server (and model) for a limited time, then asked again.

* Sight: whether a model accepts images. Ollama reports it in ``POST /api/show`` (``capabilities`` holds
  "vision"), llama.cpp's server in ``GET /props`` (``modalities.vision``). llama-cpp-python, vLLM and LM Studio
  report nothing: their models are trusted, and the review says the check could not be made.
* JSON mode: which way of asking for JSON an OpenAI-compatible server accepts (see `JsonMode`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")

# A model is swapped by restarting llama.cpp's server or re-pulling an Ollama tag: ask again after a while.
SIGHT_SECONDS = 300.0
# Servers are upgraded rarely, and a refused request costs one extra round trip: keep the JSON mode longer.
JSON_MODE_SECONDS = 3600.0

# The ways to ask an OpenAI-compatible server for JSON, best first:
# - "json_schema": OpenAI's structured output (vLLM, llama.cpp's server, LM Studio, Ollama's /v1);
# - "json_object": JSON mode with the schema beside it (llama-cpp-python turns the schema into a grammar;
#   servers that ignore the schema still answer JSON);
# - "prompt": no response_format at all, the schema is described in the system message.
JsonMode = Literal["json_schema", "json_object", "prompt"]
JSON_MODES: tuple[JsonMode, ...] = ("json_schema", "json_object", "prompt")


class Remembered(Generic[Key, Value]):
    """A map whose entries expire `seconds` after they were stored."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._entries: dict[Key, tuple[float, Value]] = {}

    def get(self, key: Key) -> Value | None:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[0] > self.seconds:
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: Key, value: Value) -> None:
        self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self._entries.clear()


@dataclass(frozen=True)
class Sight:
    """Whether a model accepts images: True, False, or None when the server does not say; `how` tells why."""

    sees: bool | None
    how: str


SIGHTS: Remembered[tuple[str, str], Sight] = Remembered(SIGHT_SECONDS)
JSON_MODE_OF: Remembered[str, JsonMode] = Remembered(JSON_MODE_SECONDS)


def forget_servers() -> None:
    """Forget everything learned about every server (tests start each from scratch)."""
    SIGHTS.clear()
    JSON_MODE_OF.clear()


def sight_from_props(props: Any, model: str, url: str) -> Sight | None:
    """llama.cpp's ``GET /props``: `modalities.vision`; None when the answer is not llama.cpp's."""
    if not isinstance(props, dict) or "default_generation_settings" not in props:
        return None
    modalities = props.get("modalities")
    vision = modalities.get("vision") if isinstance(modalities, dict) else None
    if vision is True:
        return Sight(True, f"llama.cpp's server at {url} reports image input for its model")
    # Builds from before April 2025 have no `modalities`: their server could not take images at all.
    return Sight(
        False,
        f"{model} cannot see images: llama.cpp's server at {url} reports no image input for its model — start "
        "llama-server with a vision model and its projector (--mmproj), e.g. gemma-3-4b-it with its mmproj file",
    )


def sight_from_show(show: Any, model: str, url: str) -> Sight | None:
    """Ollama's ``POST /api/show``: whether `capabilities` holds "vision"; None when it has none (older Ollama)."""
    capabilities = show.get("capabilities") if isinstance(show, dict) else None
    if not isinstance(capabilities, list):
        return None
    if "vision" in capabilities:
        return Sight(True, f"Ollama at {url} reports vision for {model}")
    listed = ", ".join(str(item) for item in capabilities) or "none"
    return Sight(
        False,
        f"{model} cannot see images: Ollama at {url} reports its capabilities as {listed} — set "
        "STUDIO_VISION_MODEL to a vision model (e.g. gemma3:12b, qwen2.5vl:7b or llava:7b) and pull it there",
    )


def unverified(url: str, model: str) -> Sight:
    return Sight(
        None,
        f"not verified that {model} sees images: the server at {url} does not report it (llama-cpp-python, "
        "vLLM, LM Studio and older Ollama do not) — make sure STUDIO_VISION_MODEL names a vision model",
    )
