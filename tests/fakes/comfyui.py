"""Fake ComfyUI: the read-only endpoints, in the shapes of comfyui-protocol.md §6.

Later issues extend it (/prompt, /history, /ws, …): subclass or edit `register_routes`, keeping
the shared state (`queue_running`, `queue_pending`) on the instance so tests can set and inspect it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.fakes.base import FakeServer

RTX_3060: dict[str, Any] = {
    "name": "cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync",
    "type": "cuda",
    "index": 0,
    "vram_total": 12884901888,
    "vram_free": 11811160064,
    "torch_vram_total": 134217728,
    "torch_vram_free": 100663296,
}


class FakeComfyUI(FakeServer):
    def __init__(
        self,
        *,
        comfyui_version: str = "0.3.64",
        devices: list[dict[str, Any]] | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.comfyui_version = comfyui_version
        self.devices: list[dict[str, Any]] = [dict(RTX_3060)] if devices is None else devices
        self.queue_running: list[list[Any]] = []
        self.queue_pending: list[list[Any]] = []
        self.features: dict[str, Any] = {"supports_preview_metadata": True, "max_upload_size": 104857600}
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/system_stats")(self.system_stats)
        app.get("/queue")(self.queue)
        app.get("/features")(self.get_features)

    async def system_stats(self) -> dict[str, Any]:
        return {
            "system": {
                "os": "posix",
                "ram_total": 33396264960,
                "ram_free": 27917287424,
                "comfyui_version": self.comfyui_version,
                "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95",
                "required_templates_version": "0.1.95",
                "python_version": "3.11.7 (main, Dec  8 2023, 18:56:58) [GCC 11.4.0]",
                "pytorch_version": "2.8.0+cu128",
                "embedded_python": False,
                "argv": ["main.py", "--listen", "127.0.0.1", "--port", "8188"],
            },
            "devices": self.devices,
        }

    async def queue(self) -> dict[str, Any]:
        return {"queue_running": self.queue_running, "queue_pending": self.queue_pending}

    async def get_features(self) -> dict[str, Any]:
        return self.features
