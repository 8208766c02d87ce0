"""Fake Echo Brain: `GET /health` as the real service answers it (optionally behind a bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.base import FakeServer


class FakeEchoBrain(FakeServer):
    def __init__(
        self,
        *,
        version: str = "0.5.0",
        status: str = "healthy",
        token: str | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.version = version
        self.status = status
        self.token = token
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/health")(self.health)

    async def health(self, request: Request) -> Any:
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return {
            "status": self.status,
            "service": "echo-brain",
            "version": self.version,
            "timestamp": "2026-02-22T10:15:00.000000",
            "uptime_seconds": 764,
        }
