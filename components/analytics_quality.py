"""The reviewed-image sections of the Analytics page: quality over time (approvals, rejections and mean score per
day, in total and per character), why images fail (rejection categories by character and per day) and drift
(each character's recent reviews against its history)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.analytics_widgets import PERCENT_FORMAT, SCORE_FORMAT, Section, column, empty_state
from components.sample_panel import tagged
from services.analytics.reports import Drift, QualityTrend, Rejections
from services.analytics.scope import Scope

NO_REVIEWS = "No reviewed images in this range: approve or reject generated images on the Datasets page."
NO_REJECTIONS = (
    "No rejected images in this range: images rejected with a reason, on the Datasets page or the review station, "
    "are counted here by category."
)
CHART = "w-full h-72"


def _day_axis(days: list[Any]) -> dict[str, Any]:
    return {"type": "category", "data": [d.isoformat() for d in days]}


def trend_options(trend: QualityTrend) -> dict[str, Any]:
    """Approved and rejected per day as stacked bars, the mean score as a line on its own axis."""
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {},
        "xAxis": _day_axis(trend.days),
        "yAxis": [
            {"type": "value", "name": "images", "minInterval": 1},
            {"type": "value", "name": "mean score", "min": 0, "max": 1},
        ],
        "series": [
            {"name": "approved", "type": "bar", "stack": "decided", "data": [d.approved for d in trend.total]},
            {"name": "rejected", "type": "bar", "stack": "decided", "data": [d.rejected for d in trend.total]},
            {
                "name": "mean score",
                "type": "line",
                "yAxisIndex": 1,
                "connectNulls": True,
                "data": [d.mean_score for d in trend.total],
            },
        ],
    }


def character_trend_options(trend: QualityTrend) -> dict[str, Any]:
    """Each character's approvals per day as a line, its rejections as a dashed one."""
    series: list[dict[str, Any]] = []
    for entry in trend.characters:
        name = entry.character.name
        series.append({"name": f"{name} approved", "type": "line", "data": [d.approved for d in entry.days]})
        series.append(
            {
                "name": f"{name} rejected",
                "type": "line",
                "lineStyle": {"type": "dashed"},
                "data": [d.rejected for d in entry.days],
            }
        )
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"type": "scroll"},
        "xAxis": _day_axis(trend.days),
        "yAxis": {"type": "value", "name": "images", "minInterval": 1},
        "series": series,
    }


class QualitySection(Section[QualityTrend]):
    title = "Quality over time"
    name = "quality-trend"

    async def read(self, scope: Scope) -> QualityTrend:
        return await self.studio.analytics.quality_trend(scope)

    def draw(self, report: QualityTrend) -> None:
        approved = sum(d.approved for d in report.total)
        rejected = sum(d.rejected for d in report.total)
        if not approved + rejected:
            empty_state(NO_REVIEWS, "quality-trend-empty")
            return
        first, last = report.days[0], report.days[-1]
        tagged(ui.label(), "trend-summary").text = (
            f"{approved} approved, {rejected} rejected ({approved / (approved + rejected):.0%} approved) "
            f"from {first} to {last}"
        )
        ui.echart(trend_options(report)).classes(CHART).mark("trend-chart")
        ui.label("Per character").classes("text-base font-semibold")
        ui.echart(character_trend_options(report)).classes(CHART).mark("trend-by-character-chart")


def _stacked(categories: list[tuple[str, str]], axis: list[str], counts: list[dict[str, int]]) -> dict[str, Any]:
    """A bar per axis entry, one stacked series per rejection category."""
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"type": "scroll"},
        "xAxis": {"type": "category", "data": axis},
        "yAxis": {"type": "value", "name": "rejections", "minInterval": 1},
        "series": [
            {"name": label, "type": "bar", "stack": "rejected", "data": [c.get(name, 0) for c in counts]}
            for name, label in categories
        ],
    }


def rejections_by_character_options(report: Rejections) -> dict[str, Any]:
    categories = [(c.category, c.label) for c in report.categories]
    counts = [{c.category: c.count for c in entry.categories} for entry in report.characters]
    return _stacked(categories, [entry.character.name for entry in report.characters], counts)


def rejections_by_day_options(report: Rejections) -> dict[str, Any]:
    categories = [(c.category, c.label) for c in report.categories]
    return _stacked(categories, [d.day.isoformat() for d in report.days], [d.categories for d in report.days])


class RejectionsSection(Section[Rejections]):
    title = "Why images fail"
    name = "rejections"

    async def read(self, scope: Scope) -> Rejections:
        return await self.studio.analytics.rejections(scope)

    def draw(self, report: Rejections) -> None:
        if not report.rejected:
            empty_state(NO_REJECTIONS, "rejections-empty")
            return
        most = ", ".join(f"{c.label} {c.count}" for c in report.categories[:3])
        tagged(ui.label(), "rejections-summary").text = f"{report.rejected} rejected images; most for {most}"
        ui.label("By character").classes("text-base font-semibold")
        ui.echart(rejections_by_character_options(report)).classes(CHART).mark("rejections-by-character-chart")
        ui.label("Per day").classes("text-base font-semibold")
        ui.echart(rejections_by_day_options(report)).classes(CHART).mark("rejections-by-day-chart")


DRIFT_COLUMNS = [
    column("character", "Character", align="left"),
    column("recent_samples", "Recent reviews"),
    column("recent_approval", "Recent approval", fmt=PERCENT_FORMAT),
    column("recent_score", "Recent score", fmt=SCORE_FORMAT),
    column("history_samples", "Earlier reviews"),
    column("history_approval", "Earlier approval", fmt=PERCENT_FORMAT),
    column("history_score", "Earlier score", fmt=SCORE_FORMAT),
    column("alert", "Drift alert", align="left"),
]


class DriftSection(Section[Drift]):
    title = "Drift"
    name = "drift"

    async def read(self, scope: Scope) -> Drift:
        return await self.studio.analytics.drift(scope)

    def draw(self, report: Drift) -> None:
        if not report.rows:
            empty_state(
                f"No character has two windows of {report.window} reviewed images yet: drift compares each "
                "character's latest reviews with the ones before, so keep approving and rejecting on the Datasets "
                "page.",
                "drift-empty",
            )
        else:
            rows = [
                {
                    "id": r.character.id,
                    "character": r.character.name,
                    "recent_samples": r.recent_samples,
                    "recent_approval": r.recent_approval,
                    "recent_score": r.recent_score,
                    "history_samples": r.history_samples,
                    "history_approval": r.history_approval,
                    "history_score": r.history_score,
                    "alert": r.alert or "",
                }
                for r in report.rows
            ]
            ui.label(f"The last {report.window} reviews of each character against the ones before them.").classes(
                "text-sm opacity-70"
            )
            ui.table(columns=DRIFT_COLUMNS, rows=rows).classes("w-full").props("dense flat").mark("drift-table")
            for r in report.rows:
                if r.alert:
                    with ui.row().classes("items-center gap-2 text-sm").mark(f"drift-alert-{r.character.id}"):
                        ui.icon("trending_down", color="warning")
                        ui.label(f"{r.character.name}: {r.alert}").classes("text-warning")
        if report.too_few:
            names = ", ".join(c.name for c in report.too_few)
            ui.label(f"Too few reviews to compare yet: {names}.").classes("text-sm opacity-70").mark("drift-too-few")
