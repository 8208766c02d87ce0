"""Binds a Studio to the NiceGUI app: the access guard, the REST API at /api, pages and lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import app
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pages import register_pages
from services.datasets import THUMBS_FOLDER, THUMBS_URL
from studio.api import API_PREFIX, build_api
from studio.api.deps import IMMUTABLE_CACHE
from studio.auth import AccessGuard
from studio.root import Studio

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def _session_principal(_scope: Scope) -> str | None:
    # The login page stores the account name in NiceGUI's server-side user storage, which is keyed
    # by the signed session cookie; it is only readable inside an HTTP request.
    try:
        name = app.storage.user.get("principal")
    except (RuntimeError, KeyError):
        return None
    return str(name) if name else None


def mount(studio: Studio) -> None:
    app.add_middleware(AccessGuard, policy=studio.access, tokens=studio.tokens, session_principal=_session_principal)
    app.mount(API_PREFIX, build_api(studio))
    app.add_static_files("/assets", ASSETS_DIR)
    thumbs = studio.settings.data_dir / THUMBS_FOLDER
    thumbs.mkdir(parents=True, exist_ok=True)
    app.mount(THUMBS_URL, ImmutableFiles(directory=thumbs), name="thumbs")
    register_pages(studio)
    app.on_startup(studio.start)
    app.on_shutdown(studio.stop)


class ImmutableFiles(StaticFiles):
    """Thumbnails are named by the content they show, so a browser may cache each one for good."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(IMMUTABLE_CACHE)
        return response
