"""The login page, for clients that are not on a trusted network."""

from __future__ import annotations

from urllib.parse import urlsplit

from nicegui import app, ui
from starlette.requests import Request

from services.accounts import LoginThrottled
from studio.root import Studio

# What a logged-in page session keeps in NiceGUI's user storage (the access guard reads both; logging
# out removes the name).
SESSION_PRINCIPAL = "principal"
SESSION_GENERATION = "access_generation"


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never let ?next= send a user to another host after logging in.
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def register(studio: Studio) -> None:
    @ui.page("/login", title="Log in · Anime Studio")
    async def login_page(request: Request, next: str | None = None) -> None:
        destination = _safe_next(next)
        principal = getattr(request.state, "principal", None)
        client = str(getattr(request.state, "client_address", "unknown"))
        with ui.card().classes("absolute-center w-96 gap-3"):
            ui.label("Anime Studio").classes("text-2xl font-semibold")
            if principal is not None:
                ui.label(f"You are signed in as {principal.name}.")
                ui.button("Open the studio", on_click=lambda: ui.navigate.to(destination))
                return
            ui.label("Log in to use this studio from another machine.").classes("opacity-80")
            name = ui.input("User name").props("autofocus autocomplete=username").classes("w-full")
            password = (
                ui.input("Password", password=True, password_toggle_button=True)
                .props("autocomplete=current-password")
                .classes("w-full")
            )
            message = ui.label().classes("text-negative")

            async def attempt() -> None:
                message.text = ""
                if not name.value or not password.value:
                    message.text = "Enter your user name and password."
                    return
                try:
                    account = await studio.accounts.authenticate(name.value, password.value, client, via="page")
                except LoginThrottled as exc:
                    message.text = str(exc).capitalize()
                    return
                if account is None:
                    message.text = "Wrong user name or password."
                    password.value = ""
                    return
                app.storage.user[SESSION_PRINCIPAL] = account.name
                app.storage.user[SESSION_GENERATION] = account.access_generation
                ui.navigate.to(destination)

            password.on("keydown.enter", attempt)
            ui.button("Log in", on_click=attempt).classes("w-full")
            ui.label("No account? An administrator creates one with `python -m studio user add NAME`.").classes(
                "text-xs opacity-60"
            )
