"""The studio's frame: header, left navigation, dark mode toggle and the signed-in identity."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nicegui import app, ui
from starlette.requests import Request

from components.assistant_panel import assistant_panel
from components.principal import principal_of
from studio.auth import Principal
from studio.root import Studio

DARK_MODE_KEY = "dark_mode"


@dataclass(frozen=True)
class Area:
    """A navigation entry. An area is listed only once its page works."""

    label: str
    icon: str
    path: str


async def frame(studio: Studio, request: Request, title: str, areas: Sequence[Area]) -> ui.column:
    """Build the shared layout around a page; returns the column the page fills."""
    principal = principal_of(request)
    ui.page_title(f"{title} · Anime Studio")
    ui.add_css(studio_css(), shared=True)
    dark = ui.dark_mode(await studio.preferences.get(principal.name, DARK_MODE_KEY, None))

    async def toggle_dark() -> None:
        # Saved first, then shown: what the user sees is always what the next page will load.
        wanted = not bool(dark.value)
        await studio.preferences.set(principal.name, DARK_MODE_KEY, wanted)
        dark.value = wanted

    with ui.header(elevated=True).classes("items-center gap-3 px-4 py-2 studio-header"):
        ui.button(icon="menu", on_click=lambda: drawer.toggle()).props("flat round dense color=white").tooltip(
            "Show or hide navigation"
        )
        ui.label("Anime Studio").classes("text-lg font-semibold")
        ui.label(title).classes("text-lg opacity-80").props('data-testid="page-title"')
        ui.space()
        ui.button(icon="dark_mode", on_click=toggle_dark).props(
            'flat round dense color=white aria-label="Toggle dark mode"'
        ).tooltip("Toggle dark mode").mark("dark-toggle")
        _identity(principal)

    with ui.left_drawer(value=True, bordered=True).classes("studio-nav").props("width=220") as drawer:
        with ui.list().props("dense padding").classes("w-full"):
            for area in areas:
                active = request.url.path == area.path
                with (
                    ui.item(on_click=lambda a=area: ui.navigate.to(a.path))
                    .props(f'clickable active={"true" if active else "false"} active-class="studio-nav-active"')
                    .classes("rounded-lg")
                    .mark("nav-" + re.sub(r"[^a-z0-9]+", "-", area.label.lower()))
                ):
                    with ui.item_section().props("avatar"):
                        ui.icon(area.icon)
                    with ui.item_section():
                        ui.item_label(area.label)
    await assistant_panel(studio, request, principal)
    return ui.column().classes("w-full max-w-screen-xl mx-auto p-4 gap-4")


def _identity(principal: Principal) -> None:
    if principal.is_local:
        ui.chip("local", icon="computer").props("outline color=white").tooltip("Trusted network: no login needed")
        return

    def logout() -> None:
        app.storage.user.pop("principal", None)
        ui.navigate.to("/login")

    with ui.button(principal.name, icon="account_circle").props("flat color=white no-caps"):
        with ui.menu():
            ui.menu_item("Log out", on_click=logout).mark("log-out")


def studio_css() -> str:
    return """
    .studio-header { background: #3b2a5c; }
    .body--dark .studio-header { background: #1f1733; }
    .studio-nav-active { color: #7c4dff; background: rgba(124, 77, 255, 0.10); font-weight: 600; }
    .state-ok { color: #2e7d32; } .state-down { color: #c62828; } .state-not_configured { color: #757575; }
    """
