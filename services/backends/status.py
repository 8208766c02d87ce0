"""What the studio knows about one backend service at one moment: plain frozen values for the UI and API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BackendKind = Literal["comfyui", "llm", "ace_step", "echo_brain", "jellyfin", "vault"]
BackendState = Literal["ok", "down", "not_configured"]


@dataclass(frozen=True)
class GpuMemory:
    """Memory of one accelerator as a backend reports it (bytes)."""

    name: str  # e.g. "cuda:0 NVIDIA GeForce RTX 3060"
    total_bytes: int
    free_bytes: int | None

    @property
    def used_bytes(self) -> int | None:
        return None if self.free_bytes is None else max(self.total_bytes - self.free_bytes, 0)


@dataclass(frozen=True)
class BackendStatus:
    """One row of the status page: one service (on one device, for per-device services)."""

    # stable id: "comfyui@rtx3060", "llm@rx9070", "ace_step@rx9070", "echo_brain", "jellyfin", "vault"
    key: str
    kind: BackendKind
    label: str  # "ComfyUI", "LLM (Ollama)", "LLM (OpenAI-compatible)", "ACE-Step", "Echo Brain", ...
    device: str | None  # device name for per-device services, None for global ones
    url: str | None
    state: BackendState
    version: str | None
    detail: str  # one sentence a person can act on (or a short summary when ok)
    gpus: tuple[GpuMemory, ...] = ()
    loaded_models: tuple[str, ...] = ()
    latency_ms: float | None = None
    previews: bool | None = None  # a ComfyUI that sends live preview frames (None: unknown or not a ComfyUI)

    @property
    def ok(self) -> bool:
        return self.state == "ok"
