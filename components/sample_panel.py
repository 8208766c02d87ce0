"""The sample production's progress card, shared by Home and Projects: it reads `studio.demo`, so a reload or
another page shows the same run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from nicegui import ui

from services.demo import SampleRun
from services.errors import StudioError
from studio.root import Studio

T = TypeVar("T", bound=ui.element)


class SamplePanel:
    """The sample production's progress, read from `studio.demo` (so it survives a reload): a bar and the step,
    then a link to the published episode, or the error."""

    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio = studio
        self.actor = actor
        self.on_project: Callable[[], Awaitable[None]] | None = None  # the project list to refresh
        self.shown: SampleRun | None = None
        self.layout: tuple[float, str] | None = None  # (which run, running/failed/done) the card shows
        self.dismissed: float | None = None  # the run whose outcome was closed
        self.bar: ui.linear_progress | None = None
        self.step: ui.label | None = None
        self.card = tagged(ui.card().classes("w-full gap-2"), "sample-panel")
        self.card.set_visibility(False)
        self.timer_slot = ui.element("div")

    def watch(self) -> None:
        """Follow the sample production: a timer reads its state twice a second."""
        with self.timer_slot:
            ui.timer(0.5, self.tick)

    @property
    def running(self) -> bool:
        state = self.studio.demo.state
        return state is not None and state.running

    async def start(self) -> None:
        try:
            self.studio.demo.start(self.actor)
        except StudioError as exc:
            ui.notify(str(exc), type="warning")
        await self.tick()

    async def tick(self) -> None:
        state = self.studio.demo.state
        if state is self.shown:
            return
        before, self.shown = self.shown, state
        self.show(state)
        project_appeared = state is not None and state.project_id and (before is None or not before.project_id)
        finished = before is not None and before.running and state is not None and not state.running
        if (project_appeared or finished) and self.on_project is not None:
            await self.on_project()

    def show(self, state: SampleRun | None) -> None:
        """Move the bar and change the step text in place; rebuild the card when the run starts or ends."""
        if state is None or state.started_at == self.dismissed:
            self.card.set_visibility(False)
            return
        layout = (state.started_at, "running" if state.running else ("failed" if state.error else "done"))
        if layout != self.layout:
            self.layout = layout
            self.build(state)
        elif self.bar is not None and self.step is not None:
            self.bar.value = state.fraction
            self.step.text = state.message
        self.card.set_visibility(True)

    def build(self, state: SampleRun) -> None:
        self.card.clear()
        self.step = None
        with self.card:
            with ui.row().classes("w-full items-center no-wrap"):
                title = "Making the sample project" if state.running else "The sample project"
                ui.label(title).classes("text-lg font-semibold")
                ui.space()
                if not state.running:
                    ui.button(icon="close", on_click=lambda: self.dismiss(state)).props("flat dense round")
            self.bar = ui.linear_progress(value=state.fraction, show_value=False).props("rounded size=10px")
            tagged(self.bar, "sample-progress")
            if state.error:
                self.bar.props("color=negative")
                tagged(ui.label(f"It failed: {state.error}").classes("text-negative"), "sample-error")
                ui.button("Try again", icon="replay", on_click=self.start).props("outline")
            elif state.result is None:
                self.step = tagged(ui.label(state.message).classes("opacity-80"), "sample-step")
            else:
                result = state.result
                episode = f"/episodes?project={result.project_id}&episode={result.episode_id}"
                tagged(ui.label(f"Episode 1 of '{result.project_name}' is made and published."), "sample-done")
                tagged(ui.link("Watch episode 1", episode).classes("text-lg"), "sample-episode-link")
                published = ui.label(f"Published to {result.episode_file}").classes("text-sm opacity-80 break-all")
                tagged(published, "sample-published")
                tagged(ui.label(f"Keyframes {result.keyframes}.").classes("text-sm opacity-80"), "sample-keyframes")
                ui.label(
                    f"The library folder is {result.library_root}: point a media server such as Jellyfin at it. "
                    f"Made in {result.seconds:.0f} s."
                ).classes("text-xs opacity-70")

    def dismiss(self, state: SampleRun) -> None:
        self.dismissed = state.started_at
        self.card.set_visibility(False)


def tagged(element: T, name: str) -> T:
    """Findable by tests: a marker for the simulated user, a data-testid for the browser."""
    element.mark(name)
    element.props(f'data-testid="{name}"')
    return element
