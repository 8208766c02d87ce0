"""The Lineage tab of the Analytics page: which image (typed in, or clicked in a ranking's rejected images), the
tree of regenerations and corrections it came from and led to, and that tree's CSV."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from components.analytics_lineage import LineageView
from components.analytics_widgets import csv_button
from components.sample_panel import tagged
from services.analytics.reports import CsvTable
from services.analytics.scope import Scope
from studio.root import Studio

NO_IMAGE = (
    "Type an image's number, or click a rejected image under What to use, to see the regenerations, corrections "
    "and variants it came from and led to, with each step's decision."
)


class LineageTab:
    def __init__(self, studio: Studio, on_shown: Callable[[int], None]) -> None:
        self.studio, self.on_shown = studio, on_shown
        self.image_id: int | None = None
        with ui.row().classes("w-full items-center gap-2"):
            ui.label("Lineage").classes("text-lg font-semibold")
            self.wanted = ui.number("Image", min=1, step=1, format="%d").props("outlined dense").classes("w-36")
            self.wanted.mark("lineage-image").on("keydown.enter", self._typed)
            ui.button("Show", icon="account_tree", on_click=self._typed).props("flat dense no-caps").mark(
                "lineage-show"
            )
            ui.space()
            csv_button("lineage.csv", self.table, "lineage-csv")
        self.message = tagged(ui.label(NO_IMAGE).classes("text-sm opacity-70"), "lineage-message")
        self.view = LineageView(studio, on_focus=on_shown)  # the address follows the image looked at

    async def show(self, image_id: int) -> None:
        self.wanted.value = image_id
        self.image_id = image_id
        self.message.set_visibility(False)
        self.on_shown(image_id)
        await self.view.show(image_id)  # an image that does not exist: the view says so

    async def load(self, _scope: Scope) -> None:
        """Draw the shown image's tree again (its images were decided since): a lineage is whole, whatever the
        filters."""
        if self.image_id is not None:
            await self.view.show(self.image_id)

    async def table(self) -> CsvTable | None:
        shown = self.view.lineage  # None: no image asked for yet, or one that does not exist (the view says so)
        return shown.csv_table() if shown is not None else None

    async def _typed(self) -> None:
        if self.wanted.value:
            await self.show(int(self.wanted.value))
