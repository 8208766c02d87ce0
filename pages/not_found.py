"""The page for an address the studio does not have: it says so and offers the way home."""

from __future__ import annotations

from fastapi.exception_handlers import http_exception_handler
from nicegui import Client, app, ui
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pages.home import PATH as HOME


def register() -> None:
    # Replaces NiceGUI's own 404 page, which has no way back into the studio.
    app.add_exception_handler(404, not_found)


async def not_found(request: Request, exception: Exception) -> Response:
    endpoint = request.scope.get("endpoint")
    if (
        endpoint is not None
        and endpoint is not app
        and not request.scope.get("nicegui_page_path")
        and isinstance(exception, HTTPException)
    ):
        # A route that is not a page (a file, a NiceGUI resource) answered 404: JSON, as NiceGUI's own handler does.
        return await http_exception_handler(request, exception)
    with Client(ui.page(""), request=request) as client:
        ui.page_title("Not found · Anime Studio")
        with ui.column().classes("w-full items-center gap-3 py-20").mark("not-found"):
            ui.icon("explore_off").classes("text-7xl opacity-50")
            ui.label("This page doesn't exist").classes("text-2xl")
            ui.label(f"Nothing is at {request.url.path}.").classes("opacity-70 break-all")
            with ui.row().classes("gap-3"):
                # Links, not buttons: they work before (and without) the page's connection.
                ui.link("Go to the home page", HOME).classes("text-lg").mark("not-found-home")
                ui.link("Projects", "/projects").classes("text-lg")
    return client.build_response(request, 404)
