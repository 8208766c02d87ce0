"""The production sections of the Analytics page: who appears with whom in shots (a matrix), screen time per
character per episode, and each project's health (datasets against targets, LoRAs, scenes, episodes, failed
jobs, GPU hours per device)."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.analytics_widgets import PERCENT_FORMAT, Section, column, empty_state
from components.sample_panel import tagged
from services.analytics.reports import CoOccurrence, Health, ProjectHealth, ScreenTime
from services.analytics.scope import Scope

NO_SHOTS = (
    "No shots with characters in this range: plan scenes on the Scenes page and give their shots characters; "
    "the matrix counts the shots each pair shares."
)
NO_SCREEN_TIME = (
    "No screen time yet: it adds up the shots each character is in, per episode, so put scenes with characters in "
    "their shots into an episode on the Episodes page."
)
NO_PROJECTS = "No projects yet: create one on the Projects page and its datasets, scenes and jobs are counted here."


def co_occurrence_options(report: CoOccurrence) -> dict[str, Any]:
    """A heatmap: a cell per pair of characters, the diagonal each character's own shots."""
    names = [c.name for c in report.characters]
    cells = [[x, y, count] for y, row in enumerate(report.counts) for x, count in enumerate(row)]
    return {
        "tooltip": {"position": "top"},
        "grid": {"left": 120, "bottom": 90},
        "xAxis": {"type": "category", "data": names, "axisLabel": {"rotate": 45}, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "data": names, "splitArea": {"show": True}},
        "visualMap": {
            "min": 0,
            "max": max((count for _x, _y, count in cells), default=1) or 1,
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
        },
        "series": [{"name": "shots together", "type": "heatmap", "data": cells, "label": {"show": True}}],
    }


class CoOccurrenceSection(Section[CoOccurrence]):
    title = "Who appears with whom"
    name = "co-occurrence"

    async def read(self, scope: Scope) -> CoOccurrence:
        return await self.studio.analytics.co_occurrence(scope)

    def draw(self, report: CoOccurrence) -> None:
        if not report.characters:
            empty_state(NO_SHOTS, "co-occurrence-empty")
            return
        ui.label(
            f"Shots two characters share, of {report.shots} shots; the diagonal is each character's own shots."
        ).classes("text-sm opacity-70")
        side = max(18, 6 + 2 * len(report.characters))  # rem: room for every name, however many characters
        ui.echart(co_occurrence_options(report)).classes("w-full").style(f"height: {min(side, 48)}rem").mark(
            "co-occurrence-chart"
        )


def screen_time_options(report: ScreenTime) -> dict[str, Any]:
    """A group of bars per episode, one per character, in seconds."""
    episodes: dict[Any, str] = {}
    characters: dict[int, str] = {}
    for row in report.rows:
        episodes.setdefault(row.episode_id, f"{row.episode_number}. {row.episode_title}")
        characters.setdefault(row.character.id, row.character.name)
    seconds = {(row.episode_id, row.character.id): row.seconds for row in report.rows}
    return {
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"type": "scroll"},
        "xAxis": {"type": "category", "data": list(episodes.values())},
        "yAxis": {"type": "value", "name": "seconds"},
        "series": [
            {"name": name, "type": "bar", "data": [seconds.get((episode, cid), 0) for episode in episodes]}
            for cid, name in characters.items()
        ],
    }


class ScreenTimeSection(Section[ScreenTime]):
    title = "Screen time"
    name = "screen-time"

    async def read(self, scope: Scope) -> ScreenTime:
        return await self.studio.analytics.screen_time(scope)

    def draw(self, report: ScreenTime) -> None:
        if not report.rows:
            empty_state(NO_SCREEN_TIME, "screen-time-empty")
            return
        ui.echart(screen_time_options(report)).classes("w-full h-72").mark("screen-time-chart")


DATASET_COLUMNS = [
    column("character", "Character", align="left"),
    column("approved", "Approved"),
    column("target", "Target"),
    column("progress", "Of target", fmt=PERCENT_FORMAT),
    column("pending", "Waiting for review"),
    column("rejected", "Rejected"),
]
DEVICE_COLUMNS = [
    column("device", "Device", align="left"),
    column("gpu_hours", "GPU hours"),
    column("jobs", "Jobs"),
    column("failed", "Failed"),
]


class HealthSection(Section[Health]):
    title = "Project health"
    name = "project-health"

    async def read(self, scope: Scope) -> Health:
        return await self.studio.analytics.project_health(scope)

    def draw(self, report: Health) -> None:
        if not report.projects:
            empty_state(NO_PROJECTS, "project-health-empty")
        for project in report.projects:
            _project_card(project)


def _project_card(project: ProjectHealth) -> None:
    with tagged(ui.card().classes("w-full gap-2"), f"health-{project.project_id}"):
        ui.label(project.name).classes("text-base font-semibold")
        with ui.row().classes("w-full gap-2"):
            _stat("LoRAs trained", str(project.loras_trained), "model_training")
            _stat("Training runs failed", str(project.training_runs_failed), "error_outline")
            _stat(
                "Scenes generated · assembled",
                f"{project.scenes_generated} · {project.scenes_assembled} of {project.scenes}",
                "movie",
            )
            _stat("Episodes published", f"{project.episodes_published} of {project.episodes}", "live_tv")
            _stat("Failed jobs", str(project.jobs_failed), "report")
        if project.characters:
            rows = [
                {
                    "id": c.character.id,
                    "character": c.character.name,
                    "approved": c.approved,
                    "target": c.target,
                    "progress": min(c.approved / c.target, 1) if c.target else None,
                    "pending": c.pending,
                    "rejected": c.rejected,
                }
                for c in project.characters
            ]
            ui.table(columns=DATASET_COLUMNS, rows=rows).classes("w-full").props("dense flat").mark(
                f"health-datasets-{project.project_id}"
            )
        else:
            ui.label("No characters yet: add them on the Characters page.").classes("text-sm opacity-70")
        if project.devices:
            rows = [
                {
                    "id": d.device,
                    "device": d.device,
                    "gpu_hours": round(d.gpu_hours, 2),
                    "jobs": d.jobs,
                    "failed": d.failed,
                }
                for d in project.devices
            ]
            ui.table(columns=DEVICE_COLUMNS, rows=rows).classes("w-full").props("dense flat").mark(
                f"health-devices-{project.project_id}"
            )
        else:
            ui.label("No jobs have run for this project yet.").classes("text-sm opacity-70")


def _stat(label: str, value: str, icon: str) -> None:
    with ui.card().classes("gap-0 px-3 py-2").props("flat bordered"):
        with ui.row().classes("items-center gap-1 text-sm opacity-70"):
            ui.icon(icon)
            ui.label(label)
        ui.label(value).classes("text-lg font-semibold")
