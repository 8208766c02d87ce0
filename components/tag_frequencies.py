"""The selected character's tag frequency list beside the review grid: tag, how many images carry it and what
share of the character's images that is. A click on a tag filters the grid to it (again clears), and a chip
filters to the images without any tag or caption.

The list is read in one query (TagStore.frequencies) and only the first rows matching the filter box are drawn,
so a character with thousands of distinct tags costs what one with fifty does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from services.errors import NotFound
from services.tags.store import TagFrequencies
from studio.root import Studio

SHOWN = 150  # rows drawn at most; the filter box finds the others
SUGGESTIONS = 500  # tags offered while typing in a tag field; more only slows the field

Pick = Callable[[str | None], Awaitable[None]]
NoCaption = Callable[[bool], Awaitable[None]]


class TagFrequencyList:
    """The side list. `on_tag` hears the tag to filter by (None: no tag filter); `on_no_caption` the chip."""

    def __init__(self, studio: Studio, tag: str | None, no_caption: bool, on_tag: Pick, on_no_caption: NoCaption):
        self.studio, self.on_tag, self.on_no_caption = studio, on_tag, on_no_caption
        self.tag = tag
        self.character_id: int | None = None
        self.frequencies: TagFrequencies | None = None
        self.latest = 0  # a load started later wins over one that finishes later
        self.loaded = False
        with ui.column().classes("dataset-tag-side gap-2").mark("tag-frequencies") as self.box:
            ui.label("Tags").classes("text-base font-semibold")
            self.search = (
                ui.input("Filter tags", on_change=self._draw)
                .props("outlined dense clearable")
                .classes("w-full")
                .mark("tag-search")
            )
            with ui.row().classes("gap-1 items-center"):
                self.no_caption = ui.chip(
                    "No caption",
                    icon="subtitles_off",
                    selectable=True,
                    selected=no_caption,
                    on_selection_change=lambda e: self.on_no_caption(bool(e.value)),
                ).props("dense outline")
                self.no_caption.mark("no-caption-filter").tooltip("Only images with neither tags nor a caption")
                # Removing the chip clears the filter; showing it again (value True) must not.
                self.active = ui.chip(
                    "", icon="sell", removable=True, on_value_change=lambda e: None if e.value else self.on_tag(None)
                ).props("dense")
                self.active.mark("active-tag").tooltip("The grid shows only images with this tag; its cross clears it")
            self.summary = ui.label().classes("text-xs opacity-70").mark("tag-summary")
            self.rows = ui.column().classes("w-full gap-0").mark("tag-rows")
        self._show_active()

    def set_filters(self, tag: str | None, no_caption: bool) -> None:
        """Show the grid's tag and no-caption filters as the page set them."""
        self.tag = tag
        self.no_caption.selected = no_caption
        self._show_active()
        self._draw()

    def shows(self, character_id: int | None) -> bool:
        """Whether the list already counts `character_id`'s tags (or says to choose one, for None)."""
        return self.loaded and self.character_id == character_id

    def tag_names(self) -> list[str]:
        """The character's tags, most frequent first: what the tag fields offer while typing."""
        return [t.tag for t in self.frequencies.tags[:SUGGESTIONS]] if self.frequencies is not None else []

    def _show_active(self) -> None:
        self.active.text = self.tag or ""
        self.active.value = True  # removing it hides it; the next filter shows it again
        self.active.set_visibility(bool(self.tag))

    async def load(self, character_id: int | None) -> None:
        """Read the character's frequencies (None: no character chosen, nothing to count)."""
        self.latest += 1
        mine = self.latest
        try:
            frequencies = await self.studio.tags.frequencies(character_id) if character_id is not None else None
        except NotFound:  # deleted in another tab: nothing to count
            frequencies = None
        if mine != self.latest or self.box.is_deleted:
            return
        self.character_id, self.frequencies, self.loaded = character_id, frequencies, True
        self._draw()

    async def refresh(self) -> None:
        await self.load(self.character_id)

    def _draw(self) -> None:
        if self.rows.is_deleted:
            return
        self.rows.clear()
        frequencies = self.frequencies
        if frequencies is None:
            self.summary.text = "Choose a character to see how often each tag occurs in its images."
            return
        wanted = (self.search.value or "").strip().lower()
        matching = [t for t in frequencies.tags if wanted in t.tag] if wanted else frequencies.tags
        noun = "image" if frequencies.images == 1 else "images"
        more = f"; the first {SHOWN} shown" if len(matching) > SHOWN else ""
        self.summary.text = f"{len(frequencies.tags)} tags on {frequencies.images} {noun}{more}"
        with self.rows:
            if not frequencies.tags:
                ui.label("No tags yet: use Tag… to tag this character's images.").classes("text-sm opacity-70")
            for count in matching[:SHOWN]:
                chosen = count.tag == self.tag
                with (
                    ui.row()
                    .classes(
                        "dataset-tag-row w-full items-center gap-2 no-wrap" + (" dataset-tag-row--on" if chosen else "")
                    )
                    .on("click", lambda _, tag=count.tag: self._picked(tag))
                    .mark(f"tag-row-{count.tag}")
                ):
                    ui.label(count.tag).classes("grow truncate text-sm")
                    ui.label(str(count.count)).classes("text-sm font-medium").mark(f"tag-count-{count.tag}")
                    ui.label(f"{count.share:.0%}").classes("text-xs opacity-70 w-10 text-right")

    async def _picked(self, tag: str) -> None:
        await self.on_tag(None if tag == self.tag else tag)
