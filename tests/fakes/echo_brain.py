"""Fake Echo Brain: `GET /health`, `POST /api/echo/ask` and `POST /mcp` (`search_memory`) as the real service
answers them (optionally behind a bearer token).

`memory_shape` picks how `search_memory` answers: "list" (a raw list, what Echo Brain sends), "results"
(`{"results": [...]}`, its other version) or "mcp" (`{"result": {"content": [{"type": "text", "text": ...}]}}`,
what an MCP server is meant to send and all the earlier studio could read). `answer` is what /api/echo/ask
says ("" for an empty answer, None for a malformed reply without one); `cites` the sources it names (memory
ids or other names; None: every memory).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.base import FakeServer

MemoryShape = Literal["list", "results", "mcp"]


class FakeEchoBrain(FakeServer):
    def __init__(
        self,
        *,
        version: str = "0.5.0",
        status: str = "healthy",
        token: str | None = None,
        latency: float = 0.0,
        fail_with: int | None = None,
        memory_shape: MemoryShape = "list",
    ) -> None:
        self.version = version
        self.status = status
        self.token = token
        self.memory_shape: MemoryShape = memory_shape
        self.memories: list[dict[str, Any]] = [
            {"id": "mem-1", "content": "Koopa's shell is moss green with amber ridges.", "score": 0.91},
            {"id": "mem-2", "content": "The harbour scenes are set at dusk.", "score": 0.72},
        ]
        self.answer: str | None = "Koopa's shell is moss green with amber ridges."
        self.cites: list[str] | None = None
        self.questions: list[dict[str, Any]] = []  # the bodies of /api/echo/ask, oldest first
        super().__init__(latency=latency, fail_with=fail_with)

    def register_routes(self, app: FastAPI) -> None:
        app.get("/health")(self.health)
        app.post("/api/echo/ask")(self.ask)
        app.post("/mcp")(self.mcp)

    def _refused(self, request: Request) -> JSONResponse | None:
        if self.token is not None and request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"detail": "Not authenticated"}, status_code=401)
        return None

    async def health(self, request: Request) -> Any:
        return self._refused(request) or {
            "status": self.status,
            "service": "echo-brain",
            "version": self.version,
            "timestamp": "2026-02-22T10:15:00.000000",
            "uptime_seconds": 764,
        }

    async def ask(self, request: Request) -> Any:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        self.questions.append(body)
        cited = self.cites if self.cites is not None else [m["id"] for m in self.memories]
        reply: dict[str, Any] = {
            "model": "qwen2.5:14b",
            "agent": "reasoning",
            "query_type": "question",
            "confidence": 0.82,
            "sources": [{"source": name} for name in cited],
            "actions_taken": [],
            "execution_time_ms": 412,
        }
        if self.answer is not None:
            reply["answer"] = self.answer
        return reply

    async def mcp(self, request: Request) -> Any:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        params = body.get("params") or {}
        if body.get("method") != "tools/call" or params.get("name") != "search_memory":
            return {"jsonrpc": "2.0", "id": body.get("id"), "error": {"code": -32601, "message": "unknown tool"}}
        limit = int((params.get("arguments") or {}).get("limit", 5))
        found = self.memories[:limit]
        if self.memory_shape == "list":
            return found
        if self.memory_shape == "results":
            return {"results": found}
        text = json.dumps(found)
        return {"jsonrpc": "2.0", "id": body.get("id"), "result": {"content": [{"type": "text", "text": text}]}}
