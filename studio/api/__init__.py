"""The REST API: a FastAPI app mounted at /api on the studio's NiceGUI app."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from studio.api.assistant import assistant_router
from studio.api.bible import bible_router
from studio.api.datasets import datasets_router
from studio.api.episodes import episodes_router
from studio.api.errors import install_error_handlers
from studio.api.jobs import jobs_router
from studio.api.music import music_router
from studio.api.scenes import scenes_router
from studio.api.system import system_router
from studio.api.voices import voices_router
from studio.root import Studio

API_PREFIX = "/api"


def build_api(studio: Studio) -> FastAPI:
    api = FastAPI(
        title="Anime Studio API",
        version=studio.version,
        description=(
            "Everything the pages can do. Clients on loopback or a trusted network need no login; "
            "others send `Authorization: Bearer <token>` from `POST /api/auth/token`."
        ),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    install_error_handlers(api)
    api.include_router(system_router(studio))
    api.include_router(bible_router(studio))
    api.include_router(jobs_router(studio))
    api.include_router(datasets_router(studio))
    api.include_router(scenes_router(studio))
    api.include_router(episodes_router(studio))
    api.include_router(music_router(studio))
    api.include_router(voices_router(studio))
    api.include_router(assistant_router(studio))
    _declare_bearer_scheme(api)
    return api


def _declare_bearer_scheme(api: FastAPI) -> None:
    """The guard checks tokens before routing; declare the scheme so /api/docs offers 'Authorize'."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            schema["security"] = [{"bearer": []}, {}]
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
