"""Review station: a full-screen kiosk that reviews a project's pending images one at a time, keyboard first
(or by touch on a phone: swipe right approves, swipe left asks for the reason).

`/kiosk?project=ID&character=ID` (character optional: every character of the project). The station runs
in the browser (components/kiosk_station.py explains why); this page picks what it reviews, shows the empty
state, and keeps the station told about what happens elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui
from starlette.requests import Request

from components.kiosk_station import KioskStation, StationCharacter
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from services.bible.characters import CharacterCard
from services.datasets import ImageAdded, ImageDecided, ImagesReassigned, StateCounts
from studio.models import ApprovalState, Project
from studio.root import Studio

PATH = "/kiosk"
ALL = 0  # the character picker's "all characters" (ids start at 1)
# Events only mark what changed; the pending count and "new images" reach the browser at most this often,
# so a burst of decisions from other stations costs one count query, not one per decision.
PUSH_SECONDS = 0.5


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def kiosk_page(request: Request) -> None:
        # The station wants the whole width; while it shows, the whole window (assets/kiosk.css).
        async with frame(studio, request, "Review station", areas, full_width=True) as content:
            project = await project_for_page(studio, request)
            with content:
                header = ui.row().classes("w-full items-center gap-3 kiosk-header no-wrap").mark("kiosk-header")
                with header:
                    await project_picker(studio, project, PATH)
                if project is None:
                    no_project_yet()
                    return
                view = KioskView(studio, project, principal_of(request).name)
                await view.build(header, request.query_params.get("character"))


def kiosk_address(project_id: int, character_id: int | None) -> str:
    return f"{PATH}?project={project_id}" + (f"&character={character_id}" if character_id else "")


class KioskView:
    """The character picker, then either the station or the all-caught-up card, and the live pushes."""

    def __init__(self, studio: Studio, project: Project, actor: str) -> None:
        self.studio, self.project, self.actor = studio, project, actor
        self.project_id: int = project.id  # type: ignore[assignment]
        self.character_id: int | None = None
        self.station: KioskStation | None = None
        self.recount = False  # some image in scope changed state since the last push
        self.arrived = False  # new pending images may have joined the scope

    async def build(self, header: ui.row, wanted: str | None) -> None:
        cards = await self.studio.characters.cards(self.project_id, include_deleted=True)
        counts = await self.studio.datasets.counts(self.project_id)
        active = [card for card in cards if card.character.deleted_at is None]
        chosen = next((c for c in active if wanted and str(c.character.id) == wanted), None)
        self.character_id = chosen.character.id if chosen else None
        pending = self._pending(counts)
        with header:
            self._character_picker(active, counts)
            if pending:
                ui.space()
                ui.label("A approve · 1-9 reject · S skip · Z undo · ←/→ browse · F full screen").classes(
                    "text-sm opacity-70 kiosk-keys"
                )
                # The studio header is hidden while the station shows: this is the way out.
                ui.button(icon="close", on_click=lambda: ui.navigate.to(self._datasets_address())).props(
                    'flat round dense aria-label="Leave the review station"'
                ).tooltip("Leave the review station").mark("kiosk-leave")
        if wanted and chosen is None:
            ui.label(
                f"Character {wanted} is not an active character of {self.project.name}: reviewing all its characters."
            ).classes("text-warning").mark("unknown-character")
        client = ui.context.client
        if pending == 0:
            self._all_caught_up()
        else:
            self.station = KioskStation(
                project_id=self.project_id,
                character_id=self.character_id,
                characters={card.character.id: _station_character(card) for card in cards},  # type: ignore[misc]
                pending=pending,
                actor=self.actor,
            ).mark("kiosk-station")
            ui.query("body").classes("kiosk-page")
            client.on_delete(self.studio.events.subscribe(ImageDecided, self.image_decided))
        client.on_delete(self.studio.events.subscribe(ImageAdded, self.image_added))
        client.on_delete(self.studio.events.subscribe(ImagesReassigned, self.images_reassigned))
        ui.timer(PUSH_SECONDS, self.push)

    def _character_picker(self, active: list[CharacterCard], counts: StateCounts) -> None:
        options = {ALL: f"All characters · {counts.pending:,} pending"}
        for card in active:
            waiting = counts.by_character.get(card.character.id, {}).get(ApprovalState.PENDING.value, 0)  # type: ignore[arg-type]
            options[card.character.id] = f"{card.character.name} · {waiting:,} pending"  # type: ignore[index]
        ui.select(
            options,
            value=self.character_id or ALL,
            label="Character",
            on_change=lambda e: ui.navigate.to(kiosk_address(self.project_id, e.value or None)),
        ).classes("w-72").props("outlined dense").mark("character-picker")

    def _pending(self, counts: StateCounts) -> int:
        if self.character_id is None:
            return counts.pending
        return counts.by_character.get(self.character_id, {}).get(ApprovalState.PENDING.value, 0)

    def _all_caught_up(self) -> None:
        with ui.card().classes("w-full items-center gap-3 p-10").mark("kiosk-empty"):
            ui.icon("task_alt").classes("text-6xl text-positive")
            ui.label("Nothing to review — all caught up").classes("text-xl")
            ui.link("Open the dataset", self._datasets_address()).mark("to-datasets")
            ui.label("New images appear here as soon as they arrive.").classes("text-sm opacity-70")

    def _datasets_address(self) -> str:
        return f"/datasets?project={self.project_id}" + (f"&character={self.character_id}" if self.character_id else "")

    def _covers(self, project_id: int, character_id: int | None) -> bool:
        return project_id == self.project_id and (self.character_id is None or character_id == self.character_id)

    # --- what happens elsewhere -------------------------------------------------------------------------

    def image_decided(self, event: ImageDecided) -> None:
        if self.station is not None and self._covers(event.project_id, event.character_id):
            self.station.image_decided(event)
            self.recount = True

    def image_added(self, event: ImageAdded) -> None:
        if self._covers(event.project_id, event.character_id):
            self.arrived = self.recount = True

    def images_reassigned(self, event: ImagesReassigned) -> None:
        if event.project_id == self.project_id:
            # Images may have left this character as well as joined it.
            self.recount = True
            self.arrived = self.arrived or self._covers(event.project_id, event.character_id)

    async def push(self) -> None:
        if not (self.recount or self.arrived):
            return
        arrived, self.arrived, self.recount = self.arrived, False, False
        if self.station is None:
            if arrived:  # the empty page becomes a station once there is something to review
                ui.navigate.reload()
            return
        if arrived:
            self.station.images_arrived()
        self.station.show_pending(self._pending(await self.studio.datasets.counts(self.project_id)))


def _station_character(card: CharacterCard) -> StationCharacter:
    primary = card.references[0].id if card.references else None
    return StationCharacter(card.character.name, primary)
