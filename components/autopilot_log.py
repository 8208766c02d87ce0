"""The decision log of one project: every decision of the autonomous loops with its reason, newest first,
filtered by loop and outcome, paged back with "Older", and followed live (the page marks it stale on each
AutonomyDecided event and `refresh` reads it again at its next redraw)."""

from __future__ import annotations

from nicegui import ui

from components.sample_panel import tagged
from services.autonomy.log import LOOPS, OUTCOMES
from studio.models import AutonomyDecision
from studio.root import Studio

PAGE = 50
# A refresh rereads what is shown, up to this many (the log's own page limit).
MOST_SHOWN = 500
OUTCOME_COLOR = {
    "acted": "primary",
    "waiting": "warning",
    "blocked": "orange",
    "failed": "negative",
    "done": "positive",
}
COLUMNS = "max-content max-content max-content max-content minmax(200px, 1fr)"


class DecisionLogPanel:
    def __init__(self, studio: Studio, project_id: int, names: dict[int, str]) -> None:
        self.studio, self.project_id, self.names = studio, project_id, names
        self.decisions: list[AutonomyDecision] = []
        self.exhausted = False  # no older decisions than those shown
        with ui.row().classes("w-full items-end gap-3"):
            ui.label("Decisions").classes("text-lg font-semibold")
            ui.space()
            self.loops = ui.select(list(LOOPS), value=[], multiple=True, label="Loop", on_change=self.refresh)
            self.loops.props("outlined dense use-chips clearable").classes("w-64").mark("log-loop")
            self.outcomes = ui.select(list(OUTCOMES), value=[], multiple=True, label="Outcome", on_change=self.refresh)
            self.outcomes.props("outlined dense use-chips clearable").classes("w-64").mark("log-outcome")
        self.host = tagged(ui.column().classes("w-full gap-0"), "decisions")
        self.older = ui.button("Older", icon="expand_more", on_click=self.more).props("flat dense no-caps")
        self.older.mark("log-older")

    async def _read(self, before_id: int | None, limit: int) -> list[AutonomyDecision]:
        return await self.studio.autonomy.log.list(
            project_id=self.project_id,
            loops=self.loops.value or (),
            outcomes=self.outcomes.value or (),
            before_id=before_id,
            limit=limit,
        )

    async def refresh(self) -> None:
        """Read the newest decisions again (as many as are shown, at least a page)."""
        limit = min(max(PAGE, len(self.decisions)), MOST_SHOWN)
        found = await self._read(None, limit)
        self.exhausted = len(found) < limit
        self.decisions = found
        self._render()

    async def more(self) -> None:
        if not self.decisions:
            return
        found = await self._read(self.decisions[-1].id, PAGE)
        self.exhausted = len(found) < PAGE
        self.decisions += found
        self._render()

    def _render(self) -> None:
        if self.host.is_deleted:
            return
        self.host.clear()
        with self.host:
            if not self.decisions:
                text = (
                    "No decisions match these filters."
                    if self.loops.value or self.outcomes.value
                    else "No decisions yet: once a switch above is on, the autopilot logs here why it acts, waits "
                    "or stops."
                )
                ui.label(text).classes("opacity-70").mark("no-decisions")
            else:
                with (
                    ui.element("div")
                    .classes("w-full gap-x-3 gap-y-1 items-baseline text-sm")
                    .style(f"display: grid; grid-template-columns: {COLUMNS}")
                ):
                    for decision in self.decisions:
                        self._row(decision)
        self.older.visible = bool(self.decisions) and not self.exhausted

    def _row(self, decision: AutonomyDecision) -> None:
        ui.label(f"{decision.at:%Y-%m-%d %H:%M:%S}").classes("opacity-70 whitespace-nowrap")
        ui.label(decision.loop).classes("opacity-80")
        ui.label(self._subject(decision)).classes("font-medium")
        ui.badge(f"{decision.action}: {decision.outcome}", color=OUTCOME_COLOR.get(decision.outcome, "grey")).props(
            "outline"
        ).classes("justify-self-start")
        with tagged(ui.row().classes("gap-2 items-baseline min-w-0"), f"decision-{decision.id}"):
            ui.label(decision.reason).classes("break-words min-w-0")
            if decision.job_id is not None:
                ui.link(f"job {decision.job_id}", "/jobs").classes("whitespace-nowrap")

    def _subject(self, decision: AutonomyDecision) -> str:
        if decision.character_id is None:
            return "project"
        return self.names.get(decision.character_id, f"character {decision.character_id}")
