"""Analytics: what worked, for whom, and how it got there, for one project or across all of them: quality over
time, what to use (with the rejected images behind a ranked value and their lineage), cross-project comparisons,
why images fail, lineage, who appears with whom and screen time, project health and drift; every report filtered
by characters and a range of days and downloadable as CSV.

The frame and the filters paint first and the open tab's reports load after. Decisions and job ends only mark the
reports stale: the open tab reads again at most every REDRAW_SECONDS, the others when they are opened."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlencode

from nicegui import ui
from starlette.datastructures import QueryParams
from starlette.requests import Request

from components.analytics_filters import AnalyticsFilters
from components.analytics_lineage_tab import LineageTab
from components.analytics_production import CoOccurrenceSection, HealthSection, ScreenTimeSection
from components.analytics_quality import DriftSection, QualitySection, RejectionsSection
from components.analytics_rankings import CrossProjectSection, RankingsSection
from components.shell import Area, frame, studio_page
from services.analytics.scope import Scope
from services.datasets import ImageDecided
from services.jobs import JobChanged
from studio.root import Studio

PATH = "/analytics"
# The open tab reads its reports again at most this often while decisions and job ends arrive.
REDRAW_SECONDS = 0.5
# A job counts for the reports (failed jobs, GPU hours) once it has ended.
JOB_ENDS = frozenset({"succeeded", "failed", "cancelled"})
TABS: tuple[tuple[str, str, str], ...] = (
    ("quality", "Quality over time", "show_chart"),
    ("use", "What to use", "leaderboard"),
    ("cross-project", "Cross-project", "compare_arrows"),
    ("rejections", "Why images fail", "report_problem"),
    ("lineage", "Lineage", "account_tree"),
    ("cast", "Who appears with whom", "groups"),
    ("health", "Project health", "monitor_heart"),
    ("drift", "Drift", "trending_down"),
)
FIRST_TAB = TABS[0][0]


class Report(Protocol):
    async def load(self, scope: Scope) -> None: ...


def register(studio: Studio, areas: Sequence[Area]) -> None:
    @studio_page(PATH)
    async def analytics_page(request: Request) -> None:
        async with frame(studio, request, "Analytics", areas) as content:
            with content:
                page = AnalyticsPage(studio)
                await page.build(request.query_params)
                # After the first paint: the page shows its filters while the open tab's reports are read.
                ui.timer(0, page.start, once=True)


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


class AnalyticsPage:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.filters = AnalyticsFilters(studio, self.filters_changed)
        self.scope = Scope()
        self.reports: dict[str, list[Report]] = {}
        self.stale: set[str] = set()  # tabs whose reports are older than the filters or the studio's last change
        self.changed = False  # a decision or a job end since the open tab last read
        self.read_at = 0.0  # when the open tab last read (time.monotonic)
        self.wanted_image: int | None = None
        self.wanted_characters: list[int] = []

    async def build(self, query: QueryParams) -> None:
        self.wanted_characters = [int(c) for c in query.getlist("character") if c.isdigit()]
        await self.filters.build(_number(query.get("project")), query.get("since", ""), query.get("until", ""))
        names = {name for name, _label, _icon in TABS}
        self.wanted_image = _number(query.get("image"))
        opened = "lineage" if self.wanted_image else query.get("tab", FIRST_TAB)
        opened = opened if opened in names else FIRST_TAB
        self.tabs = ui.tabs(value=opened, on_change=self.tab_opened)
        self.tabs.classes("w-full").props("align=left dense inline-label no-caps outside-arrows mobile-arrows")
        with self.tabs:
            for name, label, icon in TABS:
                ui.tab(name, label, icon).mark(f"tab-{name}")
        with ui.tab_panels(self.tabs, value=opened, animated=False).classes("w-full bg-transparent"):
            with ui.tab_panel("quality").classes("p-0 pt-2 gap-4"):
                self.reports["quality"] = [QualitySection(self.studio)]
            with ui.tab_panel("use").classes("p-0 pt-2 gap-4"):
                self.reports["use"] = [RankingsSection(self.studio, self.open_lineage)]
            with ui.tab_panel("cross-project").classes("p-0 pt-2 gap-4"):
                self.reports["cross-project"] = [CrossProjectSection(self.studio)]
            with ui.tab_panel("rejections").classes("p-0 pt-2 gap-4"):
                self.reports["rejections"] = [RejectionsSection(self.studio)]
            with ui.tab_panel("lineage").classes("p-0 pt-2 gap-4"):
                self.lineage = LineageTab(self.studio, self.lineage_shown)
                self.reports["lineage"] = [self.lineage]
            with ui.tab_panel("cast").classes("p-0 pt-2 gap-4"):
                self.reports["cast"] = [CoOccurrenceSection(self.studio), ScreenTimeSection(self.studio)]
            with ui.tab_panel("health").classes("p-0 pt-2 gap-4"):
                self.reports["health"] = [HealthSection(self.studio)]
            with ui.tab_panel("drift").classes("p-0 pt-2 gap-4"):
                self.reports["drift"] = [DriftSection(self.studio)]
        self.stale = set(self.reports)
        client = ui.context.client
        client.on_delete(self.studio.events.subscribe(ImageDecided, self.image_decided))
        client.on_delete(self.studio.events.subscribe(JobChanged, self.job_changed))
        ui.timer(REDRAW_SECONDS, self.redraw)

    async def start(self) -> None:
        await self.filters.fill_characters(self.wanted_characters)
        # Taken before the next await: the character select's change, heard after it, then finds nothing new.
        self.scope = self.filters.scope() or Scope(project_id=self.filters.project_id)
        if self.wanted_image is not None:  # the address named an image: its lineage is the open tab
            await self.open_lineage(self.wanted_image)
        else:
            await self.load_open_tab()

    async def load_open_tab(self) -> None:
        tab = str(self.tabs.value)
        self.stale.discard(tab)
        self.read_at = time.monotonic()
        for report in self.reports[tab]:
            await report.load(self.scope)

    # --- what the user does ---------------------------------------------------------------------------

    async def filters_changed(self) -> None:
        scope = self.filters.scope()  # None: the filters show why they name no range
        if scope is None or scope == self.scope:
            return
        self.scope = scope
        self.stale = set(self.reports)
        self.remember()
        await self.load_open_tab()

    async def tab_opened(self) -> None:
        self.remember()
        if self.tabs.value in self.stale:
            await self.load_open_tab()

    async def open_lineage(self, image_id: int) -> None:
        """The last of the three clicks: a ranked value, one of its rejected images, where that image came from."""
        self.stale.discard("lineage")  # shown here: opening the tab need not read it again
        self.tabs.value = "lineage"
        await self.lineage.show(image_id)

    def lineage_shown(self, image_id: int) -> None:
        self.wanted_image = image_id
        self.remember()

    def remember(self) -> None:
        """Keep the filters, the tab and the image in the address, so a reload or a shared link shows the same."""
        query = self.filters.query()
        if self.tabs.value != FIRST_TAB:
            query["tab"] = str(self.tabs.value)
        if self.tabs.value == "lineage" and self.wanted_image is not None:
            query["image"] = str(self.wanted_image)
        ui.navigate.history.replace(f"{PATH}?{urlencode(query, doseq=True)}" if query else PATH)

    # --- live updates ---------------------------------------------------------------------------------

    def _ours(self, project_id: int | None) -> bool:
        return self.scope.project_id is None or project_id == self.scope.project_id

    def image_decided(self, event: ImageDecided) -> None:
        if self._ours(event.project_id) and (
            not self.scope.character_ids or event.character_id in self.scope.character_ids
        ):
            self.changed = True

    def job_changed(self, event: JobChanged) -> None:
        if event.change in JOB_ENDS and self._ours(event.project_id):
            self.changed = True

    async def redraw(self) -> None:
        if not self.changed or time.monotonic() - self.read_at < REDRAW_SECONDS:
            return
        self.changed = False
        self.stale = set(self.reports)
        await self.load_open_tab()
