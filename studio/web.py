"""Binds a Studio to the NiceGUI app: the access guard, the REST API at /api, pages and lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from nicegui import Client, app
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pages import register_pages
from pages.login import SESSION_GENERATION, SESSION_PRINCIPAL
from services.datasets import THUMBS_FOLDER, THUMBS_URL
from studio.api import API_PREFIX, build_api
from studio.api.deps import IMMUTABLE_CACHE
from studio.auth import AccessGuard, Claims, is_public
from studio.page_sockets import PageSockets
from studio.root import Studio

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def _session_principal(scope: Scope) -> Claims | None:
    # The login page keeps the account in NiceGUI's server-side user storage, keyed by the id in
    # the signed session cookie. Starlette's SessionMiddleware reads that cookie before the guard for
    # pages and sockets alike; NiceGUI's own request middleware, which `app.storage.user` relies on,
    # never sees a websocket, so the storage is looked up by the id here (as that middleware does).
    session_id = scope.get("session", {}).get("id")
    storage = app.storage._users.get(session_id) if session_id else None
    if storage is None:
        return None
    name, generation = storage.get(SESSION_PRINCIPAL), storage.get(SESSION_GENERATION)
    if not isinstance(name, str) or not isinstance(generation, int):
        return None  # never logged in, logged out, or a session from before sessions had a generation
    return Claims(name, generation)


def _socket_of_public_page(scope: Scope) -> bool:
    # A socket names the page client it drives in its query (every polling request and the upgrade
    # carry it); only a login page's client may be driven without a session.
    client_id = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("client_id", [None])[0]
    client = Client.instances.get(client_id) if client_id else None
    return client is not None and is_public(client.page.path)


def mount(studio: Studio) -> None:
    PageSockets(studio.accounts).bind()
    app.add_middleware(
        AccessGuard,
        policy=studio.access,
        tokens=studio.tokens,
        accounts=studio.accounts,
        session_principal=_session_principal,
        socket_of_public_page=_socket_of_public_page,
    )
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
