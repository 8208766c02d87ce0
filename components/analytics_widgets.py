"""What every section of the Analytics page shares: reading its report for a scope and drawing it (again only when
it changed), a CSV download of the numbers it shows, and the empty state that says what would fill it."""

from __future__ import annotations

import csv
import io
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from nicegui import ui

from components.form_errors import explain
from components.sample_panel import tagged
from services.analytics.reports import CsvTable
from services.analytics.scope import Scope
from services.errors import StudioError
from studio.root import Studio


class Report(Protocol):
    def csv_table(self) -> CsvTable: ...


R = TypeVar("R", bound=Report)
TableSource = Callable[[], Awaitable[CsvTable | None]]


def csv_bytes(table: CsvTable) -> bytes:
    header, rows = table
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([["" if value is None else value for value in row] for row in rows])
    return out.getvalue().encode()


def csv_button(filename: str, source: TableSource, marker: str) -> ui.button:
    """A download of `source`'s table as `filename`; nothing to download says so instead."""

    async def download() -> None:
        table = await source()
        if table is None:
            ui.notify("Nothing to download yet: no numbers are shown here.")
            return
        ui.download.content(csv_bytes(table), filename, "text/csv")

    button = ui.button("CSV", icon="download", on_click=download).props("flat dense no-caps")
    return tagged(button.tooltip(f"Download these numbers as {filename}"), marker)


def empty_state(text: str, marker: str) -> None:
    with ui.row().classes("w-full items-center gap-2 p-4 opacity-70").mark(marker):
        ui.icon("insights").classes("text-2xl")
        ui.label(text)


class Section(ABC, Generic[R]):
    """One report on the page: a title with its CSV button over a body drawn from the report.

    The page calls `load` when its tab opens, when the filters change and (throttled) when the studio decides an
    image or ends a job; a load the page started later supersedes one still reading."""

    title: ClassVar[str]
    name: ClassVar[str]  # markers and the CSV's file name

    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.report: R | None = None
        self.scope: Scope | None = None  # the scope last asked for
        self._reads = 0  # a read that finds a later one started draws nothing
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(self.title).classes("text-lg font-semibold")
            ui.space()
            self.controls()
            csv_button(f"{self.name}.csv", self.table, f"{self.name}-csv")
        self.body = tagged(ui.column().classes("w-full gap-2"), self.name)

    def controls(self) -> None:
        """What a section lets the user choose beside its title (the ranking's dimension)."""

    @abstractmethod
    async def read(self, scope: Scope) -> R: ...

    @abstractmethod
    def draw(self, report: R) -> None: ...

    async def table(self) -> CsvTable | None:
        return None if self.report is None else self.report.csv_table()

    async def load(self, scope: Scope) -> None:
        self.scope = scope
        self._reads += 1
        read = self._reads
        try:
            report = await self.read(scope)
        except StudioError as exc:  # a character deleted since the filter was drawn, a range too long to draw
            if read == self._reads and not self.body.is_deleted:
                self.report = None
                self._problem(explain(exc))
            return
        if read != self._reads or self.body.is_deleted:
            return
        if report == self.report:  # unchanged: a redraw would only flicker the charts
            return
        self.report = report
        self.body.clear()
        with self.body:
            self.draw(report)

    async def reload(self) -> None:
        """Read again for the scope last asked for (after a control beside the title changed)."""
        if self.scope is not None:
            await self.load(self.scope)

    def _problem(self, text: str) -> None:
        self.body.clear()
        with self.body:
            ui.label(text).classes("text-negative").mark(f"{self.name}-problem")


# Quasar formats a column in the browser, so the table still sorts by the number.
PERCENT_FORMAT = "v => v == null ? '-' : Math.round(v * 100) + '%'"
SCORE_FORMAT = "v => v == null ? '-' : v.toFixed(2)"
# Confidence sorts low, medium, high rather than by its letters.
CONFIDENCE_SORT = "(a, b) => ['low', 'medium', 'high'].indexOf(a) - ['low', 'medium', 'high'].indexOf(b)"


def column(
    name: str, label: str, *, align: str = "right", fmt: str | None = None, sort: str | None = None
) -> dict[str, Any]:
    """A sortable table column; `fmt` and `sort` are JavaScript functions Quasar runs in the browser."""
    found: dict[str, Any] = {"name": name, "label": label, "field": name, "sortable": True, "align": align}
    if fmt:
        found[":format"] = fmt
    if sort:
        found[":sort"] = sort
    return found
