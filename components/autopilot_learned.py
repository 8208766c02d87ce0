"""What the studio has learned from the review history of a project: per character the recommended parameters
for each checkpoint it was drawn with (with confidence and how many reviewed images back them, and whether
generation trusts them yet), its most frequent rejection reasons, and the project's open drift alerts."""

from __future__ import annotations

from nicegui import ui

from services.autonomy.drift import DriftAlertView
from services.autonomy.learning import ParameterSet, Recommendations, RejectionPattern
from services.errors import NotFound
from studio.root import Studio

CONFIDENCE_ORDER = ("low", "medium", "high")
CHECKPOINTS_SHOWN = 3
PATTERNS_SHOWN = 5


class LearnedPanel:
    def __init__(self, studio: Studio, project_id: int, names: dict[int, str]) -> None:
        self.studio, self.project_id, self.names = studio, project_id, names
        ui.label("Learned").classes("text-lg font-semibold")
        self.drift_host = ui.column().classes("w-full gap-1").mark("drift-alerts")
        self.host = ui.column().classes("w-full gap-2").mark("learned")

    async def load(self) -> None:
        learned: list[tuple[int, Recommendations, list[RejectionPattern]]] = []
        for character_id in list(self.names):
            try:
                recommendations = await self.studio.autonomy.learning.recommendations(character_id)
                patterns = await self.studio.autonomy.learning.rejection_patterns(
                    character_id=character_id, limit=PATTERNS_SHOWN
                )
            except NotFound:  # deleted since the names were read: the next read drops it
                continue
            learned.append((character_id, recommendations, patterns))
        alerts = await self.studio.autonomy.drift.alerts(self.project_id)
        if self.host.is_deleted:
            return
        self._drift(alerts)
        self.host.clear()
        with self.host:
            if not learned:
                ui.label("No characters to learn about yet.").classes("opacity-70")
            for character_id, recommendations, patterns in learned:
                self._character(character_id, recommendations, patterns)

    def _drift(self, alerts: list[DriftAlertView]) -> None:
        self.drift_host.clear()
        with self.drift_host:
            if not alerts:
                ui.label("No drift: every character's recent approvals hold up against its history.").classes(
                    "text-sm opacity-70"
                ).mark("no-drift")
            for alert in alerts:
                with ui.row().classes("w-full items-center gap-2 text-sm").mark(f"drift-{alert.character_id}"):
                    ui.icon("trending_down", color="warning")
                    ui.label(f"{alert.character_name}: {alert.reason}").classes("text-warning")
                    ui.label(f"since {alert.detected_at:%Y-%m-%d %H:%M} UTC").classes("opacity-60")

    def _character(self, character_id: int, found: Recommendations, patterns: list[RejectionPattern]) -> None:
        name = self.names.get(character_id, f"character {character_id}")
        trusted = CONFIDENCE_ORDER.index(self.studio.autonomy.learning.min_confidence)
        with ui.card().classes("w-full gap-1 p-3").mark(f"learned-{character_id}"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(name).classes("text-base font-semibold")
                ui.label(f"{found.reviewed} reviewed generated images").classes("text-sm opacity-70")
            best = _best_per_checkpoint(found.sets)
            if not best:
                ui.label("Nothing to recommend yet: no reviewed generated images with an approval.").classes(
                    "text-sm opacity-70"
                ).mark(f"no-recommendation-{character_id}")
            for item in best:
                used = CONFIDENCE_ORDER.index(item.confidence) >= trusted
                with (
                    ui.row()
                    .classes("w-full items-center gap-2 text-sm")
                    .mark(f"recommendation-{character_id}-{item.checkpoint}")
                ):
                    ui.label(item.checkpoint).classes("font-medium")
                    ui.label(_params(item))
                    ui.badge(f"{item.confidence} confidence", color="positive" if used else "grey").props("outline")
                    ui.label(f"{item.approved} of {item.total} approved ({item.rate:.0%})").classes("opacity-80")
                    if not used:
                        ui.label("not used yet: below the learning_min_confidence setting").classes("opacity-60")
            if patterns:
                text = ", ".join(f"{p.label} {p.count} ({p.share:.0%})" for p in patterns)
                ui.label(f"Rejected most for: {text}").classes("text-sm").mark(f"patterns-{character_id}")
            else:
                ui.label("No rejection patterns yet.").classes("text-sm opacity-70").mark(f"patterns-{character_id}")


def _best_per_checkpoint(sets: list[ParameterSet]) -> list[ParameterSet]:
    """The best-ranked approved set of each checkpoint (the sets come best first)."""
    best: dict[str, ParameterSet] = {}
    for item in sets:
        if item.approved and item.checkpoint not in best:
            best[item.checkpoint] = item
    return list(best.values())[:CHECKPOINTS_SHOWN]


def _params(item: ParameterSet) -> str:
    parts = [
        f"cfg {item.cfg:g}" if item.cfg is not None else "",
        f"{item.steps} steps" if item.steps is not None else "",
        item.sampler or "",
        item.scheduler or "",
    ]
    return " · ".join(p for p in parts if p) or "default parameters"
