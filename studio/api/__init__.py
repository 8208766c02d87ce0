"""The REST API: a FastAPI app mounted at /api on the studio's NiceGUI app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from studio.api.analytics import analytics_router
from studio.api.assistant import assistant_router
from studio.api.autonomy import autonomy_router
from studio.api.bible import bible_router
from studio.api.connections import connections_router
from studio.api.datasets import datasets_router
from studio.api.deps import refuse_unstorable_text
from studio.api.episodes import episodes_router
from studio.api.errors import document_errors, errors, install_error_handlers
from studio.api.jobs import jobs_router
from studio.api.learning import learning_router
from studio.api.loras import loras_router
from studio.api.music import music_router
from studio.api.scenes import scenes_router
from studio.api.system import system_router
from studio.api.tagging import tagging_router
from studio.api.tags import tags_router
from studio.api.training import training_router
from studio.api.voice_samples import voice_samples_router
from studio.api.voices import voices_router
from studio.root import Studio

API_PREFIX = "/api"
# Swagger UI's script and styles ship in the swagger-ui-py package (Apache-2.0, its LICENSE beside them): the
# studio serves them itself, so /api/docs works without a network (FastAPI's default loads them from a CDN).
SWAGGER_UI_ASSETS = Path(swagger_ui.__file__).parent / "static"
DOCS_ASSETS = "/docs/assets"


def build_api(studio: Studio) -> FastAPI:
    api = FastAPI(
        title="Anime Studio API",
        version=studio.version,
        description=(
            "Everything the pages can do. Clients on loopback or a trusted network need no login; "
            "others send `Authorization: Bearer <token>` from `POST /api/auth/token`."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served by _serve_docs, from the studio's own copy of Swagger UI
        redoc_url=None,
        dependencies=[Depends(refuse_unstorable_text)],
    )
    install_error_handlers(api)
    api.include_router(system_router(studio))
    # Every route but health and the token endpoint is behind the guard, which answers 401 off the trusted networks.
    for router in (
        bible_router(studio),
        jobs_router(studio),
        analytics_router(studio),
        datasets_router(studio),
        scenes_router(studio),
        episodes_router(studio),
        music_router(studio),
        voices_router(studio),
        voice_samples_router(studio),
        assistant_router(studio),
        connections_router(studio),
        tagging_router(studio),
        tags_router(studio),
        training_router(studio),
        loras_router(studio),
        autonomy_router(studio),
        learning_router(studio),
    ):
        api.include_router(router, responses=errors(401))
    _complete_document(api)
    _serve_docs(api)
    return api


def _serve_docs(api: FastAPI) -> None:
    api.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI_ASSETS), name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")  # /api: the app is mounted there
        assets = root + DOCS_ASSETS
        return get_swagger_ui_html(
            openapi_url=root + (api.openapi_url or ""),
            title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )


def _complete_document(api: FastAPI) -> None:
    """The guard checks tokens before routing: declare the scheme so /api/docs offers 'Authorize'. And the
    error bodies are the studio's own, not FastAPI's defaults."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            }
            schema["security"] = [{"bearer": []}, {}]
            document_errors(schema)
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
