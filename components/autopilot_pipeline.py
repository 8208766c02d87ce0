"""One pipeline (the project's or a character's) as the Autopilot page shows it: the phases in a row with the
current one highlighted, what it is doing or why it waits (with its job), and every phase's gate with the
override buttons (skip, mark complete, reset), each asked for first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.confirm import confirm
from components.sample_panel import tagged
from services.autonomy.pipeline import PHASE_LABELS, EntityPipeline, OverrideMode, PhaseView

Override = Callable[[EntityPipeline, PhaseView, OverrideMode], Awaitable[None]]

STATUS_COLOR = {
    "acting": "primary",
    "waiting": "warning",
    "blocked": "orange",
    "failed": "negative",
    "done": "positive",
    "off": "grey",
}
PHASE_COLOR = {"done": "positive", "current": "primary", "pending": "grey-5", "skipped": "grey-7"}
PHASE_ICON = {"done": "check", "current": "play_arrow", "pending": "schedule", "skipped": "redo"}
# What each override does to a phase, for the question asked before it.
MEANING: dict[OverrideMode, str] = {
    "skip": "The orchestrator passes over it and goes on with the next phase, whatever its gate says.",
    "complete": "Its gate counts as passed: the orchestrator goes on as if the phase had finished.",
    "reset": "Skips and mark-completes of this phase and the ones after it are dropped and its attempts start "
    "again: the gates decide at the next pass.",
}
ACTION_LABEL: dict[OverrideMode, str] = {"skip": "Skip", "complete": "Mark complete", "reset": "Reset"}


def entity_key(pipeline: EntityPipeline) -> str:
    return f"{pipeline.entity}-{pipeline.entity_id}"


def status_line(pipeline: EntityPipeline) -> None:
    """The entity's status chip, what it does or why it waits, and a link to its job."""
    key = entity_key(pipeline)
    with ui.row().classes("w-full items-center gap-2"):
        tagged(ui.badge(pipeline.status, color=STATUS_COLOR.get(pipeline.status, "grey")), f"status-{key}")
        ui.label(PHASE_LABELS.get(pipeline.phase, pipeline.phase)).classes("font-medium").mark(f"phase-{key}")
        tagged(ui.label(pipeline.detail or "nothing to report yet").classes("text-sm"), f"detail-{key}")
        if pipeline.job_id is not None:
            # The Jobs page lists it (newest first) with its progress, error, cancel and retry.
            ui.link(f"job {pipeline.job_id}", "/jobs").classes("text-sm").mark(f"job-{key}")
        if pipeline.updated_at is not None:
            ui.label(f"checked {pipeline.updated_at:%H:%M:%S} UTC").classes("text-xs opacity-60")


def phase_chips(pipeline: EntityPipeline) -> None:
    """The phases in order, the current one filled, done ones ticked, skipped ones struck through."""
    key = entity_key(pipeline)
    with ui.row().classes("w-full items-center gap-1").mark(f"phases-{key}"):
        for index, phase in enumerate(pipeline.phases):
            if index:
                ui.icon("chevron_right").classes("opacity-40")
            chip = ui.chip(phase.label, icon=PHASE_ICON[phase.status], color=PHASE_COLOR[phase.status])
            chip.props("dense" + ("" if phase.status == "current" else " outline"))
            if phase.status == "skipped":
                chip.classes("line-through")
            chip.props(f'data-status="{phase.status}"').tooltip(f"{phase.status}: {phase.gate}")
            tagged(chip, f"chip-{key}-{phase.phase}")


def phase_gates(pipeline: EntityPipeline, on_override: Override) -> None:
    """Every phase's gate sentence, whether it holds, a person's override, and the override buttons."""
    key = entity_key(pipeline)
    with ui.column().classes("w-full gap-0"):
        for index, phase in enumerate(pipeline.phases):
            with ui.row().classes("w-full items-center gap-2 no-wrap py-0.5").mark(f"gate-row-{key}-{phase.phase}"):
                icon, color = _verdict(phase)
                ui.icon(icon, color=color).classes("shrink-0")
                ui.label(phase.label).classes("w-36 shrink-0 text-sm font-medium")
                gate = ui.label(phase.gate or "no gate").classes("text-sm grow min-w-0")
                tagged(gate, f"gate-{key}-{phase.phase}")
                if phase.override:
                    badge = ui.badge(f"{phase.override} by a person", color="grey-7").props("outline")
                    tagged(badge, f"override-{key}-{phase.phase}")
                for mode in _modes(phase, index == len(pipeline.phases) - 1):
                    button = ui.button(
                        ACTION_LABEL[mode], on_click=lambda p=phase, m=mode: _ask(pipeline, p, m, on_override)
                    ).props("flat dense no-caps size=sm")
                    tagged(button, f"{mode}-{key}-{phase.phase}")


def _verdict(phase: PhaseView) -> tuple[str, str]:
    if phase.status == "skipped":
        return "redo", "grey"
    if phase.passed is None:
        return "radio_button_unchecked", "grey"
    return ("check_circle", "positive") if phase.passed else ("block", "warning")


def _modes(phase: PhaseView, last: bool) -> list[OverrideMode]:
    """The overrides that would change something. The last phase has nothing after it to go on to; a reset undoes
    a person's override, or starts the current phase's attempts again (video QC's regeneration cap)."""
    if last:
        return []
    if phase.override:
        return ["reset"]
    if phase.status == "current":
        return ["skip", "complete", "reset"]
    return ["skip", "complete"] if phase.status == "pending" else []


async def _ask(pipeline: EntityPipeline, phase: PhaseView, mode: OverrideMode, on_override: Override) -> None:
    title = f"{ACTION_LABEL[mode]} {phase.label} for {pipeline.name}?"
    if await confirm(title, MEANING[mode], ACTION_LABEL[mode], danger=mode != "reset"):
        await on_override(pipeline, phase, mode)
