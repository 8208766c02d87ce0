"""Fake ACE-Step 1.5 API server (`acestep-api`): `GET /health` in its `{data, code, error}` wrapper."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.fakes.base import FakeServer


class FakeAceStep(FakeServer):
    def __init__(
        self,
        *,
        version: str = "1.0",
        models_initialized: bool = True,
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.version = version
        self.models_initialized = models_initialized
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/health")(self.health)

    async def health(self) -> dict[str, Any]:
        return {
            "data": {
                "status": "ok",
                "service": "ACE-Step API",
                "version": self.version,
                "models_initialized": self.models_initialized,
                "llm_initialized": False,
            },
            "code": 200,
            "error": None,
            "timestamp": 1759226537000,
            "extra": None,
        }
