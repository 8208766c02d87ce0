"""The studio's frame: header, left navigation, dark mode toggle and the signed-in identity."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from nicegui import app, ui
from starlette.requests import Request

from components.assistant_panel import assistant_panel
from components.job_indicator import JobIndicator
from components.principal import principal_of
from components.project_context import project_for_page, project_switcher
from components.unsaved import leave_to
from services.errors import StudioError, report_unexpected
from studio.auth import Principal
from studio.root import Studio

DARK_MODE_KEY = "dark_mode"
# NiceGUI answers 500 when a page function has not returned its first paint in time (3 s by default). Pages
# paint without waiting on anything, so only a starved event loop could be that late: wait for it.
PAGE_RESPONSE_SECONDS = 60.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Area:
    """A navigation entry. An area is listed only once its page works."""

    label: str
    icon: str
    path: str

    def covers(self, path: str) -> bool:
        """Whether the page at `path` belongs to this area (the Scenes area holds /scenes/…/monitor)."""
        return path == self.path or (self.path != "/" and path.startswith(self.path.rstrip("/") + "/"))


def studio_page(path: str) -> ui.page:
    """NiceGUI's page decorator with the studio's patience: a page slow to build is slow, not a 500."""
    return ui.page(path, response_timeout=PAGE_RESPONSE_SECONDS)


@asynccontextmanager
async def frame(
    studio: Studio,
    request: Request,
    title: str,
    areas: Sequence[Area],
    *,
    full_width: bool = False,
    head: str = "",
) -> AsyncIterator[ui.column]:
    """The shared layout around a page: `async with frame(...) as content:` builds the page into `content`.

    Nothing before the first paint waits on the database or a backend: the page answers at once with its
    frame and a loading line, and the body runs once the browser is connected, so a busy machine makes a
    page slow to fill, never a failed page load. The loading line gives way to the content when the body
    is done. `full_width` gives the page the whole window with the navigation closed (the review station);
    `head` is what the page needs in its <head>, sent with the first paint: a <script> added later never runs.
    """
    principal = principal_of(request)
    client = ui.context.client
    ui.page_title(f"{title} · Anime Studio")
    ui.add_css(studio_css(), shared=True)
    if head:
        ui.add_head_html(head)
    dark = ui.dark_mode(_remembered_dark_mode(principal))

    async def toggle_dark() -> None:
        # Saved first, then shown: what the user sees is always what the next page will load.
        wanted = not bool(dark.value)
        await studio.preferences.set(principal.name, DARK_MODE_KEY, wanted)
        _remember_dark_mode(principal, wanted)
        dark.value = wanted

    panel = assistant_panel(studio, request, principal)
    jobs = JobIndicator(studio, principal.name)
    with ui.header(elevated=True).classes("items-center gap-3 px-4 py-2 studio-header no-wrap"):
        ui.button(icon="menu", on_click=lambda: drawer.toggle()).props("flat round dense color=white").tooltip(
            "Show or hide navigation"
        )
        ui.label("Anime Studio").classes("text-lg font-semibold gt-xs")
        ui.label(title).classes("text-lg opacity-80 ellipsis").props('data-testid="page-title"')
        ui.space()
        # Filled once the page has its content: which project is current is read from the database.
        project_slot = ui.element("div").classes("gt-xs")
        if studio.settings_editor.restart_needed():  # a small file read, no database
            ui.button(icon="restart_alt", on_click=lambda: ui.navigate.to("/settings")).props(
                'flat round dense color=amber aria-label="Restart needed"'
            ).tooltip("Restart needed: settings changed in the app apply at the next start").mark(
                "header-restart-needed"
            )
        jobs.build()
        panel.button()
        ui.button(icon="dark_mode", on_click=toggle_dark).props(
            'flat round dense color=white aria-label="Toggle dark mode"'
        ).tooltip("Toggle dark mode").mark("dark-toggle")
        _identity(principal)

    with ui.left_drawer(value=not full_width, bordered=True).classes("studio-nav").props("width=220") as drawer:
        with ui.list().props("dense padding").classes("w-full"):
            for area in areas:
                # A boolean, not the string "true": Quasar highlights an item only when `active === true`.
                active = area.covers(request.url.path)
                with (
                    ui.item(on_click=lambda a=area: leave_to(a.path))  # asks first when a form holds edits
                    .props("clickable active-class=studio-nav-active" + (" active" if active else ""))
                    .classes("rounded-lg")
                    .mark("nav-" + re.sub(r"[^a-z0-9]+", "-", area.label.lower()))
                ):
                    with ui.item_section().props("avatar"):
                        ui.icon(area.icon)
                    with ui.item_section():
                        ui.item_label(area.label)
    loading = ui.row().classes("w-full justify-center items-center gap-3 p-8")
    with loading.props('data-testid="page-loading"').mark("page-loading"):
        ui.spinner(size="lg")
        ui.label(f"Loading {title}…").classes("opacity-70")
    content = ui.column().classes("w-full p-2 gap-2" if full_width else "w-full max-w-screen-xl mx-auto p-4 gap-4")
    content.set_visibility(False)

    # A browser that never connects (a prefetch, a script) gets the frame and nothing is read for it: NiceGUI
    # prunes its client after a minute, which ends the wait, and the rest of the build is cancelled.
    await client.connected()
    if client.is_deleted:
        raise asyncio.CancelledError
    try:
        yield content
    except Exception as exc:
        if client.is_deleted:  # the browser left while the page loaded: nobody to tell
            log.debug("%s stopped loading: its browser left (%s)", request.url.path, exc)
            return
        # The page is already on screen: say what went wrong where its content would be, not a blank page.
        if isinstance(exc, StudioError):
            log.warning("%s could not load: %s", request.url.path, exc)
            reason = str(exc)
        else:
            reason = report_unexpected(log, exc, f"loading {request.url.path}")
        with content:
            _load_failed(reason)
    finally:
        if not client.is_deleted:
            loading.delete()
            content.set_visibility(True)
    if client.is_deleted:
        return
    # After the page's own content: the current project, the jobs in flight, the theme this browser had not seen
    # yet, the panel left open.
    with project_slot:
        await _header_project(studio, request)
    await jobs.load()
    saved_dark = await studio.preferences.get(principal.name, DARK_MODE_KEY, None)
    if saved_dark != dark.value:  # chosen in another browser
        _remember_dark_mode(principal, saved_dark)
        dark.value = saved_dark
    if panel.drawer.value:
        await panel.open()


async def _header_project(studio: Studio, request: Request) -> None:
    """The current project (the one the page's address names, else the remembered one) and a switcher that opens
    this page for another."""
    current = await project_for_page(studio, request)
    switcher = await project_switcher(studio, current, request.url.path, label="Project")
    switcher.classes("w-56").props('dark dense standout data-testid="header-project"').mark("header-project")


def _load_failed(reason: str) -> None:
    with ui.card().classes("w-full items-center gap-2 p-8").mark("page-load-failed"):
        ui.icon("error_outline").classes("text-5xl text-negative")
        ui.label("This page could not load.").classes("text-lg")
        ui.label(reason).classes("opacity-70 break-all")
        ui.button("Reload", icon="refresh", on_click=lambda: ui.navigate.reload())


def _remembered_dark_mode(principal: Principal) -> bool | None:
    """The principal's dark mode as this browser last saw it, so the first paint has the right colours."""
    return app.storage.user.get(DARK_MODE_KEY, {}).get(principal.name)


def _remember_dark_mode(principal: Principal, value: bool | None) -> None:
    app.storage.user[DARK_MODE_KEY] = {**app.storage.user.get(DARK_MODE_KEY, {}), principal.name: value}


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
    .studio-wrap { overflow-wrap: anywhere; }  /* instructions with long tokens (JSON, addresses) wrap, not clip */
    .studio-nav-active { color: #7c4dff; background: rgba(124, 77, 255, 0.10); font-weight: 600; }
    .body--dark .studio-nav-active { color: #b39ddb; background: rgba(179, 157, 219, 0.16); }
    /* Warning banners are pale amber cards with dark text: in dark mode, a dim amber with light text. Quasar's
       colour classes are !important in NiceGUI's last layer; an earlier layer's !important outranks them. */
    @layer overrides {
      .body--dark .bg-amber-1 { background: rgba(255, 179, 0, 0.14) !important; }
      .body--dark .bg-amber-1, .body--dark .bg-amber-1 .text-black, .body--dark .bg-amber-1.text-black,
      .body--dark .bg-amber-1 .text-amber-10, .body--dark .bg-amber-1.text-amber-10 { color: #ffe0a3 !important; }
    }
    .state-ok { color: #2e7d32; } .state-down { color: #c62828; } .state-not_configured { color: #757575; }
    """
