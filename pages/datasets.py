"""Datasets: the review grid of a project's images, filtered and paged, with bulk approve, reject and move,
a detail panel per image, and live updates that change the affected cards in place. Tags and captions live in
components: the detail panel's tag editor, the character's tag frequency list beside the grid (a click filters
by a tag, `?tag=`), and the toolbar's tagging, bulk tag edits and caption rules.

One page of thumbnails is read at a time and the counts come from one GROUP BY, so a dataset of tens of
thousands of images costs the same to show as one of sixty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from nicegui import ui
from starlette.requests import Request

from components.form_errors import explain
from components.image_detail import DetailPanel
from components.project_context import no_project_yet, project_for_page, project_picker
from components.shell import Area, frame, principal_of, studio_page
from components.tag_frequencies import TagFrequencyList
from components.tag_toolbar import TagTools
from components.thumbnail_grid import ThumbnailCard, ask_reassign_target, ask_rejection
from components.undo import offer_undo
from services.datasets import TRIAGE_FLAGS, ImageAdded, ImageDecided, ImagePage, ImageQuery, ImagesReassigned, Verdict
from services.errors import Conflict, Invalid, NotFound
from services.tags.events import ImageTagged, TagsEdited
from services.tags.prompt_tags import normalise_tag
from studio.models import ApprovalState, Character, DatasetImage, Project
from studio.root import Studio

PAGE_SIZE = 60
DATASETS_HEAD = '<link rel="stylesheet" href="/assets/datasets.css">'
# Events only mark what changed; the page reads those images (one query) and the counts at most this often.
REDRAW_SECONDS = 0.3
# A tagging job tags image after image; the frequency list (one GROUP BY over the character) is read at most this often.
TAGS_REDRAW_SECONDS = 2.0
ALL_CHARACTERS = 0
STATES = {
    "all": "All",
    "pending": "Pending",
    "approved": "Approved",
    "rejected": "Rejected",
    "duplicates": "Duplicates",
}
DECIDED_STATES = {state.value for state in ApprovalState}
SOURCES = {
    "upload": "Upload",
    "folder": "Folder",
    "video": "Video frames",
    "url": "Video URL",
    "comfyui_scan": "ComfyUI outputs",
    "generated": "Generated",
}
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "score_high": "Highest score", "score_low": "Lowest score"}


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page("/datasets")
    async def datasets_page(request: Request) -> None:
        async with frame(studio, request, "Datasets", areas, head=DATASETS_HEAD) as content:
            project = await project_for_page(studio, request)
            with content:
                with ui.row().classes("w-full items-center gap-3") as top:
                    await project_picker(studio, project, "/datasets")
                if project is None:
                    no_project_yet()
                    return
                view = DatasetsView(studio, project, principal_of(request).name, GridFilters.of(request.query_params))
                await view.build(top)
            await view.reload()
            wanted = request.query_params.get("image", "")
            if wanted.isdigit():
                await view.detail.show(int(wanted))


@dataclass(frozen=True)
class GridFilters:
    """The grid's filters as the address carries them, so a filtered view can be bookmarked or linked."""

    character_id: int | None = None
    state: str = "all"
    sources: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    needs_human: bool = False
    sort: str = "newest"
    page: int = 1
    tag: str | None = None
    no_caption: bool = False

    @classmethod
    def of(cls, params: Mapping[str, str]) -> GridFilters:
        """Read the address leniently: an unknown value falls back to its default rather than failing."""

        def listed(name: str, allowed: Mapping[str, str] | Sequence[str]) -> tuple[str, ...]:
            return tuple(v for v in params.get(name, "").split(",") if v in allowed)

        character, page = params.get("character", ""), params.get("page", "")
        return cls(
            character_id=int(character) if character.isdigit() else None,
            state=params.get("state", "all") if params.get("state") in STATES else "all",
            sources=listed("source", SOURCES),
            flags=listed("flag", TRIAGE_FLAGS),
            needs_human=params.get("needs_human") in ("1", "true"),
            sort=params.get("sort", "newest") if params.get("sort") in SORTS else "newest",
            page=max(1, int(page)) if page.isdigit() else 1,
            tag=normalise_tag(params.get("tag", "")) or None,
            no_caption=params.get("no_caption") in ("1", "true"),
        )


class DatasetsView:
    """Filters, the paged thumbnail grid with its selection and bulk actions, and the detail panel."""

    def __init__(self, studio: Studio, project: Project, actor: str, filters: GridFilters) -> None:
        self.studio, self.project, self.actor, self.filters = studio, project, actor, filters
        self.project_id: int = project.id  # type: ignore[assignment]
        self.page = filters.page
        self.characters: dict[int, Character] = {}
        self.cards: dict[int, ThumbnailCard] = {}
        self.selected: set[int] = set()
        self.counts: dict[str, int] = {}
        self.changed: set[int] = set()  # image ids an event named, not yet redrawn
        self.counts_dirty = False
        self.new_images = 0
        self.latest = 0  # a reload started later wins over one that finishes later
        self.tag, self.no_caption = filters.tag, filters.no_caption
        self.tags_dirty = False
        self.tags_read = 0.0  # when the frequency list was last read (time.monotonic)

    # --- layout -------------------------------------------------------------------------------------

    async def build(self, top: ui.row) -> None:
        cards = await self.studio.characters.cards(self.project_id)
        self.characters = {card.character.id: card.character for card in cards}  # type: ignore[misc]
        f = self.filters
        with top:
            ui.space()
            self.add_button = ui.button("Add images", icon="add_photo_alternate").mark("add-images")
            self.kiosk_button = ui.button("Review station", icon="fullscreen").props("outline").mark("open-kiosk")
            self.kiosk_button.tooltip("Review pending images one at a time, with keys")
        with ui.row().classes("w-full items-end gap-3"):
            self.character = (
                ui.select(
                    self._character_options(),
                    value=f.character_id if f.character_id in self.characters else ALL_CHARACTERS,
                    label="Character",
                    on_change=self.filters_changed,
                )
                .props("outlined dense")
                .classes("w-56")
                .mark("character-filter")
            )
            self.source = (
                ui.select(SOURCES, value=list(f.sources), multiple=True, label="Source", on_change=self.filters_changed)
                .props("outlined dense use-chips clearable")
                .classes("w-56")
                .mark("source-filter")
            )
            self.flag = (
                ui.select(
                    {flag: flag.replace("_", " ") for flag in TRIAGE_FLAGS},
                    value=list(f.flags),
                    multiple=True,
                    label="Triage flags (any)",
                    on_change=self.filters_changed,
                )
                .props("outlined dense use-chips clearable")
                .classes("w-64")
                .mark("flag-filter")
            )
            self.sort = (
                ui.select(SORTS, value=f.sort, label="Sort", on_change=self.filters_changed)
                .props("outlined dense")
                .classes("w-44")
                .mark("sort")
            )
            self.needs_human = ui.switch("Needs a person", value=f.needs_human, on_change=self.filters_changed)
            self.needs_human.mark("needs-human").tooltip("Only images whose vision review could not be carried out")
        self.state = ui.toggle(self._state_options(), value=f.state, on_change=self.filters_changed)
        self.state.props("no-caps").mark("state-filter")
        with ui.row().classes("w-full items-center gap-2"):
            self.total = ui.label().classes("opacity-80").mark("image-total")
            self.new_button = ui.button(on_click=self.reload_from_start).props("flat dense no-caps color=primary")
            self.new_button.mark("new-images").set_visibility(False)
            ui.space()
            self.selection_label = ui.label().classes("text-sm").mark("selection-count")
            ui.button("Select page", icon="select_all", on_click=self.select_page).props("flat dense").mark(
                "select-page"
            )
            self.clear_button = ui.button("Clear", icon="deselect", on_click=self.clear_selection)
            self.clear_button.props("flat dense").mark("clear-selection")
            self.approve_button = ui.button("Approve", icon="thumb_up", on_click=self.bulk_approve)
            self.approve_button.props("unelevated dense color=positive").mark("bulk-approve")
            self.reject_button = ui.button("Reject", icon="thumb_down", on_click=self.bulk_reject)
            self.reject_button.props("unelevated dense color=negative").mark("bulk-reject")
            self.reassign_button = ui.button("Move to…", icon="drive_file_move", on_click=self.bulk_reassign)
            self.reassign_button.props("outline dense").mark("bulk-reassign")
            self.tag_tools = TagTools(
                self.studio,
                self.actor,
                lambda: self.characters.get(self.character_id or ALL_CHARACTERS),
                lambda: sorted(self.selected),
                lambda: self.side.tag_names(),
                self.tags_changed,
            )
        with ui.row().classes("w-full items-start gap-4 no-wrap"):
            self.side = TagFrequencyList(
                self.studio, self.tag, self.no_caption, self.tag_picked, self.no_caption_picked
            )
            with ui.column().classes("grow min-w-0 gap-2"):
                self.grid_host = ui.element("div").classes("w-full")
                with ui.row().classes("w-full justify-center"):
                    self.pager = ui.pagination(1, 1, direction_links=True, value=1, on_change=self.page_changed)
                    self.pager.props("max-pages=9 boundary-links").mark("pagination")
        # Notices after an undo go here: the undo bar that asked for them is gone by then.
        self.layout = ui.context.client.layout
        self.detail = DetailPanel(self.studio, self.actor, self.image_changed, self.neighbours)
        self._selection_changed()
        self._links()
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(ImageDecided, self.image_decided))
        client.on_delete(self.studio.events.subscribe(ImagesReassigned, self.images_reassigned))
        client.on_delete(self.studio.events.subscribe(ImageAdded, self.image_added))
        client.on_delete(self.studio.events.subscribe(ImageTagged, self.image_tagged))
        client.on_delete(self.studio.events.subscribe(TagsEdited, self.tags_edited))
        ui.timer(REDRAW_SECONDS, self.redraw)

    @property
    def character_id(self) -> int | None:
        value = self.character.value
        return value if value and value in self.characters else None

    def _character_options(self) -> dict[int, str]:
        options = {ALL_CHARACTERS: "All characters"}
        for character_id, character in self.characters.items():
            pending = self.counts.get(f"pending:{character_id}")
            options[character_id] = character.name + (f" ({pending} pending)" if pending else "")
        return options

    def _state_options(self) -> dict[str, str]:
        return {key: f"{label} {self.counts[key]}" if key in self.counts else label for key, label in STATES.items()}

    def _links(self) -> None:
        """Point Add images and the review station at the chosen project and character."""
        params = {"project": self.project_id}
        if self.character_id is not None:
            params["character"] = self.character_id
        self.add_button.props["href"] = f"/datasets/add?{urlencode(params)}"
        self.kiosk_button.props["href"] = f"/kiosk?{urlencode(params)}"

    # --- reading ------------------------------------------------------------------------------------

    def _query(self) -> ImageQuery:
        state = self.state.value
        return ImageQuery(
            project_id=self.project_id,
            character_id=self.character_id,
            states=(ApprovalState(state),) if state in DECIDED_STATES else (),
            sources=tuple(self.source.value or ()),
            flags=tuple(self.flag.value or ()),
            duplicates="only" if state == "duplicates" else "any",
            needs_human=bool(self.needs_human.value),
            tag=self.tag,
            no_caption=self.no_caption,
            sort=self.sort.value,
            offset=(self.page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )

    async def _read_counts(self) -> dict[str, int]:
        counts = await self.studio.datasets.counts(self.project_id)
        character_id = self.character_id
        if character_id is None:
            states = {"pending": counts.pending, "approved": counts.approved, "rejected": counts.rejected}
            duplicates = counts.duplicates
        else:
            states = {s: counts.by_character.get(character_id, {}).get(s, 0) for s in DECIDED_STATES}
            # `counts` has duplicates for the whole project only; a count query of one row covers a character.
            duplicates = (
                await self.studio.datasets.page(
                    ImageQuery(project_id=self.project_id, character_id=character_id, duplicates="only", limit=1)
                )
            ).total
        result = {**states, "all": sum(states.values()), "duplicates": duplicates}
        for other_id, by_state in counts.by_character.items():
            result[f"pending:{other_id}"] = by_state.get("pending", 0)
        result["project"] = counts.pending + counts.approved + counts.rejected
        return result

    def _show_counts(self, counts: dict[str, int]) -> None:
        self.counts = counts
        self.state.set_options(self._state_options(), value=self.state.value)
        self.character.set_options(self._character_options(), value=self.character.value)

    async def reload(self) -> None:
        self.latest += 1
        mine = self.latest
        page = await self.studio.datasets.page(self._query())
        if page.total and not page.items and self.page > 1:  # images moved away under a later page
            self.page = math.ceil(page.total / PAGE_SIZE)
            page = await self.studio.datasets.page(self._query())
        counts = await self._read_counts()
        if mine != self.latest or self.grid_host.is_deleted:
            return
        self.new_images = 0
        self.new_button.set_visibility(False)
        self._show_counts(counts)
        self._render(page)
        self._remember_address()
        if not self.side.shows(self.character_id):
            await self.side.load(self.character_id)

    async def reload_from_start(self) -> None:
        self.page = 1
        self.pager.value = 1
        await self.reload()

    def _render(self, page: ImagePage) -> None:
        self.grid_host.clear()
        self.cards = {}
        pages = max(1, math.ceil(page.total / PAGE_SIZE))
        self.pager.max = pages
        self.pager.value = self.page
        self.pager.set_visibility(pages > 1)
        noun = "image" if page.total == 1 else "images"
        first, last = page.offset + 1, page.offset + len(page.items)
        self.total.text = f"{first}-{last} of {page.total} {noun}" if page.items else f"0 {noun}"
        with self.grid_host:
            if not page.items:
                self._empty()
                return
            owner = self.character_id is None and len(self.characters) > 1
            with ui.element("div").classes("dataset-grid").mark("image-grid"):
                for image in page.items:
                    self.cards[image.id] = ThumbnailCard(  # type: ignore[index]
                        image,
                        selected=image.id in self.selected,
                        owner=self._owner(image) if owner else "",
                        on_open=self.detail.show,
                        on_select=self.select,
                    )
        self._selection_changed()

    def neighbours(self, image_id: int) -> tuple[int | None, int | None]:
        """The images before and after `image_id` on the grid's page (none for an image not on it)."""
        shown = list(self.cards)
        if image_id not in shown:
            return None, None
        at = shown.index(image_id)
        return (shown[at - 1] if at > 0 else None), (shown[at + 1] if at + 1 < len(shown) else None)

    def _empty(self) -> None:
        with ui.card().classes("w-full items-center gap-2 p-8").mark("no-images"):
            ui.icon("photo_library").classes("text-5xl opacity-60")
            character = self.characters.get(self.character_id or ALL_CHARACTERS)
            if not self.characters:
                ui.label(f"{self.project.name} has no characters yet — add one, then add its images.").classes(
                    "text-lg"
                )
                ui.button("Go to Characters", on_click=lambda: ui.navigate.to(f"/characters?project={self.project_id}"))
            elif self.counts.get("project", 0) == 0 or (character is not None and self.counts.get("all", 0) == 0):
                whose = character.name if character is not None else self.project.name
                ui.label(f"No images yet for {whose} — Add images to start its dataset.").classes("text-lg")
                button = ui.button("Add images", icon="add_photo_alternate").mark("empty-add-images")
                button.props["href"] = self.add_button.props["href"]
            else:
                ui.label("No image matches these filters.").classes("text-lg")
                ui.button("Clear filters", icon="filter_alt_off", on_click=self.clear_filters).mark("clear-filters")

    def _owner(self, image: DatasetImage) -> str:
        character = self.characters.get(image.character_id or ALL_CHARACTERS)
        return character.name if character else ""

    def _fits(self, image: DatasetImage) -> bool:
        """Whether the image still matches the character and state filters (the ones a decision changes)."""
        if self.character_id is not None and image.character_id != self.character_id:
            return False
        state = self.state.value
        return state not in DECIDED_STATES or image.approval_state.value == state

    def _show_image(self, image: DatasetImage) -> None:
        card = self.cards.get(image.id)  # type: ignore[arg-type]
        if card is not None and not card.box.is_deleted:
            owner = self._owner(image) if self.character_id is None and len(self.characters) > 1 else ""
            card.show(image, fits=self._fits(image), owner=owner)

    def _remember_address(self) -> None:
        params: dict[str, str | int] = {"project": self.project_id}
        if self.character_id is not None:
            params["character"] = self.character_id
        if self.state.value != "all":
            params["state"] = self.state.value
        if self.source.value:
            params["source"] = ",".join(self.source.value)
        if self.flag.value:
            params["flag"] = ",".join(self.flag.value)
        if self.needs_human.value:
            params["needs_human"] = 1
        if self.sort.value != "newest":
            params["sort"] = self.sort.value
        if self.tag:
            params["tag"] = self.tag
        if self.no_caption:
            params["no_caption"] = 1
        if self.page > 1:
            params["page"] = self.page
        ui.navigate.history.replace(f"/datasets?{urlencode(params)}")

    # --- filters and paging ---------------------------------------------------------------------------

    async def filters_changed(self) -> None:
        # A selection the new filters hide would be acted on unseen: start afresh.
        self.clear_selection()
        self.page = 1
        self._links()
        await self.reload()

    async def page_changed(self) -> None:
        if self.pager.value and self.pager.value != self.page:
            self.page = int(self.pager.value)
            await self.reload()

    async def clear_filters(self) -> None:
        # Each assignment reloads on its own; `latest` lets only the newest of those reloads draw.
        self.source.value, self.flag.value, self.needs_human.value, self.state.value = [], [], False, "all"
        self.tag, self.no_caption = None, False
        self.side.set_filters(None, False)
        await self.filters_changed()

    async def tag_picked(self, tag: str | None) -> None:
        self.tag = tag
        self.side.set_filters(tag, self.no_caption)
        await self.filters_changed()

    async def no_caption_picked(self, on: bool) -> None:
        self.no_caption = on
        await self.filters_changed()

    # --- selection ----------------------------------------------------------------------------------

    def select(self, image_id: int, selected: bool) -> None:
        if selected:
            self.selected.add(image_id)
        else:
            self.selected.discard(image_id)
        self._selection_changed()

    def select_page(self) -> None:
        for image_id, card in self.cards.items():
            self.selected.add(image_id)
            card.select(True)
        self._selection_changed()

    def clear_selection(self) -> None:
        self.selected.clear()
        for card in self.cards.values():
            card.select(False)
        self._selection_changed()

    def _selection_changed(self) -> None:
        count = len(self.selected)
        elsewhere = len(self.selected - self.cards.keys())
        text = f"{count} selected" + (f" ({elsewhere} on other pages)" if elsewhere else "") if count else ""
        self.selection_label.text = text
        for button in (self.clear_button, self.approve_button, self.reject_button, self.reassign_button):
            button.set_enabled(count > 0)
        self.tag_tools.update()

    # --- bulk actions -------------------------------------------------------------------------------

    async def bulk_approve(self) -> None:
        await self._decide_many(Verdict(ApprovalState.APPROVED), "Approved")

    async def bulk_reject(self) -> None:
        count = len(self.selected)
        rejection = await ask_rejection(f"Reject {count} image{'' if count == 1 else 's'}")
        if rejection is not None:
            reasons = (rejection.reason,) if rejection.reason else ()
            await self._decide_many(
                Verdict(ApprovalState.REJECTED, categories=rejection.categories, reasons=reasons), "Rejected"
            )

    async def _decide_many(self, verdict: Verdict, done: str) -> None:
        wanted = sorted(self.selected)
        try:
            changed = await self.studio.decisions.decide_many(wanted, verdict, self.actor)
        except (Invalid, NotFound) as exc:
            ui.notify(explain(exc), type="negative")
            return
        for image, _ in changed:
            self._show_image(image)
        self.counts_dirty = True
        self.clear_selection()
        skipped = len(wanted) - len(changed)
        noun = "image" if len(changed) == 1 else "images"
        note = f"; {skipped} left as they were (already {verdict.state.value}, or decided elsewhere)" if skipped else ""
        if not changed:
            ui.notify(f"Nothing changed{note}", type="info")
            return
        decisions = [decision.id for _, decision in changed]

        async def undo() -> None:
            await self._undo_many(decisions)  # type: ignore[arg-type]

        offer_undo(f"{done} {len(changed)} {noun}{note}", undo)

    async def _undo_many(self, decisions: list[int]) -> None:
        restored, refused = 0, []
        for decision_id in decisions:
            try:
                image = await self.studio.decisions.undo(decision_id, self.actor)
            except (Conflict, NotFound) as exc:
                refused.append(str(exc))
                continue
            restored += 1
            self._show_image(image)
        self.counts_dirty = True
        noun = "image" if restored == 1 else "images"
        with self.layout:
            if refused:
                message = f"Restored {restored} {noun}; {len(refused)} not: {refused[0]}"
                ui.notify(message, type="warning", multi_line=True)
            else:
                ui.notify(f"Restored {restored} {noun}", type="info")

    async def bulk_reassign(self) -> None:
        wanted = sorted(self.selected)
        targets = [c for c in self.characters.values() if c.id != self.character_id and c.deleted_at is None]
        if not targets:
            ui.notify(f"{self.project.name} has no other character to move images to", type="warning")
            return
        target = await ask_reassign_target(len(wanted), targets)
        if target is None:
            return
        try:
            moved = await self.studio.decisions.reassign(wanted, target, self.actor)
        except (Invalid, NotFound) as exc:
            ui.notify(explain(exc), type="negative")
            return
        for image in moved:
            self._show_image(image)
        self.counts_dirty = True
        self.clear_selection()
        name = self.characters[target].name
        skipped = len(wanted) - len(moved)
        note = f"; {skipped} stayed (already there, or {name} has the same file)" if skipped else ""
        noun = "image" if len(moved) == 1 else "images"
        ui.notify(f"Moved {len(moved)} {noun} to {name}; they wait for review there{note}", type="positive")

    async def tags_changed(self) -> None:
        """A bulk edit, its undo or new caption rules: the counts, the grid's filter and the panel change."""
        self.tags_dirty = False
        await self.side.refresh()
        await self.reload()
        await self.detail.refresh()

    async def image_changed(self, image: DatasetImage) -> None:
        """The detail panel decided or restored an image: show it at once, before the event's redraw."""
        self._show_image(image)
        self.counts_dirty = True

    # --- live updates -------------------------------------------------------------------------------

    def image_decided(self, event: ImageDecided) -> None:
        if event.project_id == self.project_id:
            self.changed.add(event.image_id)
            self.counts_dirty = True

    def images_reassigned(self, event: ImagesReassigned) -> None:
        if event.project_id == self.project_id:
            self.changed.update(event.image_ids)
            self.counts_dirty = True

    def image_added(self, event: ImageAdded) -> None:
        if event.project_id == self.project_id:
            self.counts_dirty = True
            if self.character_id in (None, event.character_id):
                self.new_images += 1

    def image_tagged(self, event: ImageTagged) -> None:
        if event.project_id == self.project_id:
            self.tags_dirty = True
            if event.image_id == self.detail.showing:
                self.changed.add(event.image_id)

    def tags_edited(self, event: TagsEdited) -> None:
        if event.project_id == self.project_id:
            self.tags_dirty = True

    async def redraw(self) -> None:
        if self.grid_host.is_deleted:
            return
        if self.tags_dirty and time.monotonic() - self.tags_read >= TAGS_REDRAW_SECONDS:
            self.tags_dirty, self.tags_read = False, time.monotonic()
            await self.side.refresh()
        changed, self.changed = self.changed, set()
        on_page = [image_id for image_id in changed if image_id in self.cards]
        for image in await self.studio.images.images(on_page):
            self._show_image(image)
        if self.detail.showing in changed:
            await self.detail.refresh()
        if self.counts_dirty:
            self.counts_dirty = False
            self._show_counts(await self._read_counts())
        if self.new_images:
            noun = "image" if self.new_images == 1 else "images"
            self.new_button.text = f"{self.new_images} new {noun} — refresh"
            self.new_button.set_visibility(True)
