"""A project's autopilot switches, each with what it does in a sentence, and the pause a failed job set with its
reason and a Resume button. A switch saves at once (like a light switch); the targets form has its own Save."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import events, ui

from components.form_errors import explain
from services.autonomy import AutopilotChanges, AutopilotView
from services.errors import StudioError
from studio.root import Studio

Changed = Callable[[AutopilotView], Awaitable[None]]

# (field, label, what it does when on). The riskier two say what they spend: they are off until switched on.
SWITCHES = (
    (
        "enabled",
        "Autonomy",
        "Keeps each character at its approved-image target: small background batches with a cooldown, a daily "
        "limit and a stop after repeated rejections; learns which parameters get approved; warns when approvals "
        "drift.",
    ),
    (
        "auto_correction",
        "Auto-correction",
        "Regenerates each image you reject with a recipe corrected for the rejection's reason (within a daily "
        "limit). Off by default: every rejection spends GPU time.",
    ),
    (
        "orchestrator",
        "Orchestrator",
        "Walks each character from training data to a trained LoRA, then the project from scene planning to a "
        "published episode, launching the next job whenever a phase's gate passes. Off by default: it trains "
        "LoRAs, renders video and publishes on its own.",
    ),
)


class AutopilotSwitches:
    def __init__(self, studio: Studio, project_id: int, actor: str, on_change: Changed) -> None:
        self.studio, self.project_id, self.actor, self.on_change = studio, project_id, actor, on_change
        self.showing = False  # a redraw setting the switches is not a person flipping them
        self.switches: dict[str, ui.switch] = {}
        with ui.card().classes("w-full gap-2").mark("autopilot-switches"):
            for field, label, sentence in SWITCHES:
                with ui.row().classes("w-full items-start gap-3 no-wrap"):
                    switch = ui.switch(label, on_change=lambda e, f=field: self.flip(f, e)).mark(f"switch-{field}")
                    switch.classes("w-44 shrink-0 font-medium")
                    ui.label(sentence).classes("text-sm opacity-80").mark(f"about-{field}")
                self.switches[field] = switch
            self.pause_host = ui.row().classes("w-full items-center gap-3").mark("pause")

    def show(self, view: AutopilotView) -> None:
        self.showing = True
        try:
            for field, switch in self.switches.items():
                switch.set_value(getattr(view.settings, field))
        finally:
            self.showing = False
        self.pause_host.clear()
        with self.pause_host:
            row = view.settings
            if view.paused and row.paused_until is not None:
                ui.icon("pause_circle", color="warning").classes("text-2xl")
                ui.label(
                    f"Paused until {row.paused_until:%H:%M} UTC: {row.paused_reason or 'no reason given'}"
                ).classes("text-warning").mark("pause-reason")
                ui.button("Resume", icon="play_arrow", on_click=self.resume).props("unelevated dense").mark("resume")
        self.pause_host.visible = view.paused

    async def flip(self, field: str, event: events.ValueChangeEventArguments) -> None:
        if self.showing:
            return
        await self._save(AutopilotChanges.model_validate({field: bool(event.value)}))

    async def resume(self) -> None:
        await self._save(AutopilotChanges(resume=True), "Resumed: the loops run again at their next pass")

    async def _save(self, changes: AutopilotChanges, message: str | None = None) -> None:
        try:
            view = await self.studio.autonomy.config.update(self.project_id, changes, self.actor)
        except StudioError as exc:
            ui.notify(explain(exc), type="negative", multi_line=True)
            self.show(await self.studio.autonomy.config.get(self.project_id))  # the switches show what holds
            return
        if message:
            ui.notify(message, type="positive")
        self.studio.autonomy.runner.wake()  # a switch turned on acts at once, not at the next tick
        await self.on_change(view)
