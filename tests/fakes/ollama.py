"""Fake Ollama: its native read-only API (/api/version, /api/tags, /api/ps) and the OpenAI-compatible
/v1/models, which demands `Authorization: Bearer <api_key>` when the fake is built with `api_key`
(as llama.cpp's `--api-key` or a proxy in front of Ollama would)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.base import FakeServer

# Sizes as Ollama reports them for a Q4_K_M gemma3:12b (bytes).
_KNOWN: dict[str, dict[str, Any]] = {
    "gemma3:12b": {
        "size": 8149190253,
        "loaded_size": 11462254592,
        "digest": "f4031aab637d1ffa37b42570452ae0e4fad0314754d17ded67322e4b95836f8a",
        "family": "gemma3",
        "parameter_size": "12.2B",
    },
}
_DEFAULT_SIZE = 4_000_000_000


class FakeOllama(FakeServer):
    def __init__(
        self,
        *,
        version: str = "0.12.3",
        models: list[str] | None = None,
        loaded: list[str] | None = None,
        size_vram: dict[str, int] | None = None,
        api_key: str | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.version = version
        self.models: list[str] = ["gemma3:12b", "llava:7b"] if models is None else models
        self.loaded: list[str] = ["gemma3:12b"] if loaded is None else loaded
        # VRAM use per loaded model; unset models are fully in VRAM. Smaller than the size = CPU offload.
        self.size_vram: dict[str, int] = dict(size_vram or {})
        self.api_key = api_key
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/api/version")(self.api_version)
        app.get("/api/tags")(self.api_tags)
        app.get("/api/ps")(self.api_ps)
        app.get("/v1/models")(self.v1_models)

    async def api_version(self) -> dict[str, Any]:
        return {"version": self.version}

    async def api_tags(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "modified_at": "2025-09-30T11:02:17.123456789+02:00",
                    "size": _info(name)["size"],
                    "digest": _info(name)["digest"],
                    "details": _details(name),
                }
                for name in self.models
            ]
        }

    async def api_ps(self) -> dict[str, Any]:
        models = []
        for name in self.loaded:
            size = _info(name)["loaded_size"]
            models.append(
                {
                    "name": name,
                    "model": name,
                    "size": size,
                    "digest": _info(name)["digest"],
                    "details": _details(name),
                    "expires_at": "2025-10-01T12:05:00.000000000+02:00",
                    "size_vram": self.size_vram.get(name, size),
                    "context_length": 4096,
                }
            )
        return {"models": models}

    async def v1_models(self, request: Request) -> Any:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {
                    "error": {
                        "message": "Invalid API Key",
                        "type": "authentication_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
                status_code=401,
            )
        return {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 1759226537, "owned_by": "library"} for name in self.models
            ],
        }


def _info(name: str) -> dict[str, Any]:
    known = _KNOWN.get(name)
    if known:
        return known
    return {
        "size": _DEFAULT_SIZE,
        "loaded_size": int(_DEFAULT_SIZE * 1.3),
        "digest": f"{abs(hash(name)):064x}"[:64],
        "family": name.split(":")[0],
        "parameter_size": "7B",
    }


def _details(name: str) -> dict[str, Any]:
    info = _info(name)
    return {
        "parent_model": "",
        "format": "gguf",
        "family": info["family"],
        "families": [info["family"]],
        "parameter_size": info["parameter_size"],
        "quantization_level": "Q4_K_M",
    }
