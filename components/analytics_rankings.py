"""What to use: checkpoints, samplers, steps, cfg and LoRAs ranked by the lower bound of their approval rate, each
row opening the images that value made and the studio rejected (each opening its lineage), and the same comparison
across projects for characters of one species."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import events, ui

from components.analytics_widgets import (
    CONFIDENCE_SORT,
    PERCENT_FORMAT,
    SCORE_FORMAT,
    Section,
    column,
    csv_button,
    empty_state,
)
from components.sample_panel import tagged
from components.thumbnail_grid import category_labels
from services.analytics.reports import CrossProject, CsvTable, Dimension, ImageRef, Rankings, images_table
from services.analytics.scope import Scope
from services.datasets import thumbnail_url
from studio.root import Studio

DIMENSION_LABELS: dict[Dimension, str] = {
    "checkpoint": "Checkpoint",
    "sampler": "Sampler",
    "steps": "Steps",
    "cfg": "CFG",
    "lora": "LoRA",
}
NO_RANKING = (
    "No reviewed generated images in this range: the ranking compares the settings generated images were made "
    "with, so generate images on the Create page and approve or reject them on the Datasets page."
)
NO_COMPARISON = (
    "Nothing to compare across projects: characters of the same species (set on the Characters page) need reviewed "
    "generated images in more than one project."
)
RANKING_COLUMNS = [
    column("value", "Value", align="left"),
    column("approved", "Approved"),
    column("total", "Reviewed"),
    column("rate", "Approval rate", fmt=PERCENT_FORMAT),
    column("lower_bound", "Lower bound", fmt=PERCENT_FORMAT),
    column("confidence", "Confidence", align="left", sort=CONFIDENCE_SORT),
    column("mean_score", "Mean score", fmt=SCORE_FORMAT),
]

OpenLineage = Callable[[int], Awaitable[None]]


class RankingsSection(Section[Rankings]):
    title = "What to use"
    name = "rankings"

    def __init__(self, studio: Studio, open_lineage: OpenLineage) -> None:
        self.open_lineage = open_lineage
        self.chosen: str | None = None  # the ranked value whose rejected images are listed
        self.shown: list[ImageRef] = []  # the chosen value's rejected images, as listed
        super().__init__(studio)
        with ui.row().classes("w-full items-center gap-2"):
            self.images_title = ui.label().classes("text-base font-semibold")
            ui.space()
            self.images_csv = csv_button("rejected-images.csv", self._images_table, "ranked-images-csv")
        self.images = tagged(ui.row().classes("w-full gap-2"), "ranked-images")
        self._clear_images()

    def controls(self) -> None:
        self.by = ui.toggle(dict(DIMENSION_LABELS), value="checkpoint", on_change=self._dimension_changed)
        self.by.props("dense no-caps").mark("rankings-by")

    async def read(self, scope: Scope) -> Rankings:
        return await self.studio.analytics.rankings(scope, self.by.value)

    def draw(self, report: Rankings) -> None:
        if not report.values:
            empty_state(NO_RANKING, "rankings-empty")
        else:
            ui.label(
                f"{report.reviewed} reviewed generated images, best first by the lower bound of the approval rate "
                "(95% Wilson): a value with few reviews ranks low until more back it. Click a row for the images "
                "it made that were rejected."
            ).classes("text-sm opacity-70")
            rows = [
                {
                    "value": v.value,
                    "approved": v.approved,
                    "total": v.total,
                    "rate": v.rate,
                    "lower_bound": v.lower_bound,
                    "confidence": v.confidence,
                    "mean_score": v.mean_score,
                }
                for v in report.values
            ]
            table = ui.table(columns=RANKING_COLUMNS, rows=rows, row_key="value", pagination=25)
            table.classes("w-full").props("dense flat").mark("rankings-table")
            table.classes("cursor-pointer").on("rowClick", self._row_clicked)

    async def load(self, scope: Scope) -> None:
        await super().load(scope)
        # The chosen value's rejected images follow the ranking (a new rejection, another range).
        if self.report is not None and any(v.value == self.chosen for v in self.report.values):
            await self._show_images()
        else:
            self.chosen = None
            self._clear_images()

    async def _dimension_changed(self) -> None:
        self.chosen = None
        self._clear_images()
        await self.reload()

    async def _row_clicked(self, event: events.GenericEventArguments) -> None:
        self.chosen = str(event.args[1]["value"])
        await self._show_images()

    async def _show_images(self) -> None:
        value, by, scope = self.chosen, self.by.value, self.scope
        if value is None or scope is None:
            return
        found = await self.studio.analytics.ranked_images(scope, by, value)
        if self.images.is_deleted or (value, by, scope) != (self.chosen, self.by.value, self.scope):
            return
        self.shown = found
        self.images_title.text = (
            f"Rejected images made with {DIMENSION_LABELS[by].lower()} {value}: click one for where it came from"
        )
        self.images_csv.visible = True
        self.images.clear()
        with self.images:
            if not found:
                empty_state(f"No rejected images made with {value} in this range.", "ranked-images-empty")
            for image in found:
                _thumbnail(image, self.open_lineage)

    def _clear_images(self) -> None:
        if self.images.is_deleted:
            return
        self.shown = []
        self.images_title.text = ""
        self.images_csv.visible = False
        self.images.clear()

    async def _images_table(self) -> CsvTable | None:
        return images_table(self.shown) if self.chosen is not None else None


def _thumbnail(image: ImageRef, open_lineage: OpenLineage) -> None:
    with ui.column().classes("gap-0 items-center w-28"):
        ui.element("img").props(
            f'src="{thumbnail_url(image.content_hash)}" loading=lazy alt="image {image.id}"'
        ).classes("w-28 h-28 object-cover rounded cursor-pointer").on("click", lambda: open_lineage(image.id)).mark(
            f"ranked-image-{image.id}"
        )
        score = "" if image.quality_score is None else f" · {image.quality_score:.2f}"
        ui.label(f"#{image.id}{score}").classes("text-xs opacity-70")
        if image.categories:
            ui.label(category_labels(image.categories)).classes("text-xs text-negative text-center")


CROSS_COLUMNS = [
    column("species", "Species", align="left"),
    column("project", "Project", align="left"),
    column("character", "Character", align="left"),
    column("checkpoint", "Checkpoint", align="left"),
    column("approved", "Approved"),
    column("total", "Reviewed"),
    column("rate", "Approval rate", fmt=PERCENT_FORMAT),
    column("lower_bound", "Lower bound", fmt=PERCENT_FORMAT),
    column("confidence", "Confidence", align="left", sort=CONFIDENCE_SORT),
]


class CrossProjectSection(Section[CrossProject]):
    title = "Across projects"
    name = "cross-project"

    async def read(self, scope: Scope) -> CrossProject:
        return await self.studio.analytics.cross_project(scope)

    def draw(self, report: CrossProject) -> None:
        if not report.rows:
            empty_state(NO_COMPARISON, "cross-project-empty")
            return
        ui.label(f"Checkpoints for characters of the same species ({', '.join(report.species)}), per project.").classes(
            "text-sm opacity-70"
        )
        rows = [
            {
                "id": n,
                "species": r.species,
                "project": r.project_name,
                "character": r.character.name,
                "checkpoint": r.checkpoint,
                "approved": r.approved,
                "total": r.total,
                "rate": r.rate,
                "lower_bound": r.lower_bound,
                "confidence": r.confidence,
            }
            for n, r in enumerate(report.rows)
        ]
        table = ui.table(columns=CROSS_COLUMNS, rows=rows, pagination=25).classes("w-full").props("dense flat")
        table.mark("cross-project-table")
