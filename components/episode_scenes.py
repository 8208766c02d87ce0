"""An episode's scenes in order, with the transition at each boundary: reorder by dragging a row's handle or
with ↑ ↓ (keyboard and touch), remove a scene (Undo puts it back), add one of the project's other scenes.

Dragging reuses the scene timeline's helper (assets/timeline.js): each row is a `.timeline-card` whose
`data-shot-id` holds the scene id, in a `.timeline-track` whose `data-scene-id` holds the episode id, so a drop
arrives as `timeline-order` {"scene_id": episode id, "shot_ids": scene ids}. Only the handle is draggable,
which keeps the transition inputs in a row usable. Every change is saved at once through `set_scenes`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlencode

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.page_level import page_level
from components.undo import offer_undo
from services.episodes import EpisodeSceneEntry
from services.errors import Conflict, Invalid, NotFound, StudioError
from studio.models import Episode, Scene
from studio.root import Studio

TRANSITION_LABELS = {
    "fadeblack": "Fade through black",
    "cut": "Cut",
    "dissolve": "Dissolve",
    "fade": "Fade",
    "wipeleft": "Wipe left",
}
# What the page shows: a scene list is redrawn only when this changed, so typing in a row is never cut off.
Shown = tuple[tuple[object, ...], ...]


def scene_name(scene: Scene) -> str:
    return f"{scene.scene_number}. {scene.title or 'untitled'}"


def scene_address(scene: Scene) -> str:
    return "/scenes?" + urlencode({"project": scene.project_id, "scene": str(scene.id)})


class EpisodeSceneList:
    """The scene list of one episode; `load` redraws it from the database when what it shows changed."""

    def __init__(
        self,
        studio: Studio,
        episode: Episode,
        actor: str,
        notify: Callable[..., None],
        on_saved: Callable[[], Awaitable[None]],
    ) -> None:
        self.studio, self.episode, self.actor, self.notify, self.on_saved = studio, episode, actor, notify, on_saved
        self.order: list[EpisodeSceneEntry] = []
        self.known: dict[uuid.UUID, Scene] = {}  # the episode's scenes and the project's others
        self.shown: Shown | None = None
        self.page = page_level()  # undo bars outlive the row that asked for them
        # One save at a time: set_scenes replaces the whole list, so two at once would collide.
        self.saving = asyncio.Lock()
        self.saves = 0  # counts saves, so a read that a save overtook is not shown
        with ui.card().classes("w-full gap-2").mark("episode-scenes-card"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Scenes").classes("text-lg font-semibold")
                self.total = ui.label().classes("text-sm opacity-70").mark("episode-scenes-total")
            self.problem = (
                ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("episode-scenes-problem")
            )
            self.host = ui.column().classes("w-full gap-2").mark("episode-scenes")

    # --- reading --------------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the episode's scenes and the project's scenes again; redraw only what changed.

        While a save runs this waits for the next call (a save asks for one when it is done): a list read
        half way through would redraw the row being typed in."""
        saves = self.saves
        if self.saving.locked():
            return
        entries = await self.studio.episodes.entries(self.episode.id)
        summaries = await self.studio.scenes.list(self.episode.project_id)
        if self.host.is_deleted or self.saving.locked() or saves != self.saves:
            return
        order = [
            EpisodeSceneEntry(
                scene_id=e.scene.id, transition=e.link.transition, transition_duration=e.link.transition_duration
            )
            for e in entries
        ]
        known = {s.scene.id: s.scene for s in summaries} | {e.scene.id: e.scene for e in entries}
        if _shown(order, known) != self.shown:
            self.order, self.known = order, known
            self.render()

    @property
    def addable(self) -> list[Scene]:
        """The project's live scenes not in the episode, by number."""
        listed = {e.scene_id for e in self.order}
        live = [s for s in self.known.values() if s.id not in listed and s.deleted_at is None]
        return sorted(live, key=lambda s: s.scene_number)

    def render(self) -> None:
        self.shown = _shown(self.order, self.known)
        self.host.clear()
        count = len(self.order)
        scenes = [self.known[e.scene_id] for e in self.order]
        ready = [s for s in scenes if s.final_video_path and s.deleted_at is None]
        seconds = sum(s.actual_duration_seconds or 0 for s in ready)
        noun = "scene" if count == 1 else "scenes"
        facts = [f"{count} {noun}"] if count else []
        facts += [f"{seconds:.1f} s assembled"] if ready else []
        facts += [f"{count - len(ready)} not assembled yet"] if len(ready) < count else []
        self.total.text = " · ".join(facts)
        with self.host:
            if not self.order:
                ui.label("No scenes yet: add the project's scenes below, in the order they play.").classes(
                    "text-sm opacity-70"
                ).mark("episode-no-scenes")
            else:
                ui.label("Drag a scene by its handle onto another to take its place, or use ↑ ↓.").classes(
                    "text-xs opacity-60"
                )
            track = ui.element("div").classes("timeline-track").style("flex-direction: column; overflow-x: visible")
            with track.props(f'data-scene-id="{self.episode.id}"'):
                for index, entry in enumerate(self.order):
                    self._row(index, entry)
            self._add_row()

    def _row(self, index: int, entry: EpisodeSceneEntry) -> None:
        scene = self.known[entry.scene_id]
        scene_id, last = scene.id, index == len(self.order) - 1
        with (
            ui.element("div")
            .classes("timeline-card w-full")
            .style("flex: 0 0 auto; cursor: default")
            .props(f'data-shot-id="{scene_id}"')
            .mark(f"episode-scene-{scene_id}")
        ):
            with ui.row().classes("w-full items-center gap-2 no-wrap px-2 py-1"):
                ui.icon("drag_indicator").classes("cursor-grab opacity-70").props(
                    'draggable=true aria-hidden="true"'
                ).tooltip("Drag onto another scene to take its place")
                ui.label(f"{index + 1}.").classes("w-6 text-right opacity-70")
                with ui.column().classes("gap-0 min-w-0 flex-grow"):
                    ui.link(f"Scene {scene_name(scene)}", scene_address(scene)).classes("font-medium truncate").mark(
                        f"episode-scene-title-{scene_id}"
                    )
                    self._video_state(scene)
                up = ui.button(icon="arrow_upward", on_click=lambda: self.move(scene_id, -1))
                up.props('flat dense round size=sm aria-label="Play earlier"').mark(f"episode-scene-up-{scene_id}")
                up.set_enabled(index > 0)
                down = ui.button(icon="arrow_downward", on_click=lambda: self.move(scene_id, 1))
                down.props('flat dense round size=sm aria-label="Play later"').mark(f"episode-scene-down-{scene_id}")
                down.set_enabled(not last)
                ui.button(icon="close", on_click=lambda: self.remove(scene_id)).props(
                    'flat dense round size=sm aria-label="Remove from the episode"'
                ).mark(f"episode-scene-remove-{scene_id}").tooltip("Remove from the episode (Undo puts it back)")
            if not last:
                self._transition(index, entry)

    def _video_state(self, scene: Scene) -> None:
        scene_id = scene.id
        if scene.deleted_at is not None:
            ui.label("This scene is deleted: restore it on the Scenes page, or remove it here.").classes(
                "text-sm text-negative"
            ).mark(f"episode-scene-deleted-{scene_id}")
        elif scene.final_video_path:
            ui.label(f"{scene.actual_duration_seconds or 0:.1f} s · assembled").classes("text-sm opacity-80").mark(
                f"episode-scene-duration-{scene_id}"
            )
        else:
            with (
                ui.row()
                .classes("items-center gap-1 text-sm text-warning")
                .mark(f"episode-scene-unassembled-{scene_id}")
            ):
                ui.icon("warning", size="xs")
                ui.label("Not assembled yet: the episode needs its video.")
                ui.link("Assemble it on the Scenes page", scene_address(scene)).mark(f"episode-scene-link-{scene_id}")

    def _transition(self, index: int, entry: EpisodeSceneEntry) -> None:
        scene_id = entry.scene_id
        with ui.row().classes("w-full items-center gap-2 px-2 pb-2 text-sm").mark(f"episode-transition-row-{scene_id}"):
            ui.icon("south", size="xs").classes("opacity-60")
            ui.label("Into the next scene:").classes("opacity-80")
            kind = ui.select(TRANSITION_LABELS, value=entry.transition).props("outlined dense options-dense")
            kind.classes("w-48").mark(f"episode-transition-{scene_id}")
            seconds = ui.number("Seconds", value=entry.transition_duration, min=0, max=3, step=0.1, format="%.1f")
            seconds.props("outlined dense").classes("w-28").mark(f"episode-transition-seconds-{scene_id}")
            seconds.set_enabled(entry.transition != "cut")

            async def changed() -> None:
                seconds.set_enabled(kind.value != "cut")
                await self.change_transition(scene_id, kind.value, seconds.value)

            kind.on_value_change(changed)
            seconds.on_value_change(changed)

    def _add_row(self) -> None:
        live = self.addable
        with ui.row().classes("w-full items-center gap-2"):
            if not live:
                text = (
                    "Every scene of the project is in this episode." if self.order else "The project has no scenes yet."
                )
                ui.label(text).classes("text-sm opacity-70").mark("episode-no-addable")
                if not self.order:
                    ui.link("Create scenes on the Scenes page", f"/scenes?project={self.episode.project_id}")
                return
            options = {
                str(s.id): f"Scene {scene_name(s)}" + ("" if s.final_video_path else " (not assembled)") for s in live
            }
            choice = ui.select(options, value=next(iter(options)), label="Add a scene").props("outlined dense")
            choice.classes("min-w-[280px]").mark("episode-add-scene-select")
            ui.button("Add", icon="playlist_add", on_click=lambda: self.add(uuid.UUID(choice.value))).props(
                "outline"
            ).mark("episode-add-scene")

    # --- changes --------------------------------------------------------------------------------------

    async def move(self, scene_id: uuid.UUID, step: int) -> None:
        order = list(self.order)
        at = next((i for i, e in enumerate(order) if e.scene_id == scene_id), None)
        if at is None or not 0 <= at + step < len(order):
            return
        order[at], order[at + step] = order[at + step], order[at]
        await self.save(order, redraw=True)

    async def dropped(self, scene_ids: Sequence[uuid.UUID]) -> None:
        """A drop from the drag helper: the episode's scene ids in their new order."""
        by_id = {e.scene_id: e for e in self.order}
        if sorted(scene_ids) != sorted(by_id):
            self.notify("The scene list changed meanwhile: it is shown again as saved; drag once more", type="warning")
            self.shown = None
            await self.load()
            return
        await self.save([by_id[i] for i in scene_ids], redraw=True)

    async def remove(self, scene_id: uuid.UUID) -> None:
        before = list(self.order)
        scene = self.known.get(scene_id)
        if not await self.save([e for e in before if e.scene_id != scene_id], redraw=True) or scene is None:
            return

        async def undo() -> None:
            if await self.save(before, redraw=True):
                self.notify(f"Scene {scene_name(scene)} is back in the episode", type="info")

        with self.page:
            offer_undo(f"Scene {scene_name(scene)} removed from the episode", undo)

    async def add(self, scene_id: uuid.UUID) -> None:
        if await self.save([*self.order, EpisodeSceneEntry(scene_id=scene_id)], redraw=True):
            self.notify("Scene added at the end: assemble the episode again to see it", type="positive")

    async def change_transition(self, scene_id: uuid.UUID, transition: object, seconds: object) -> None:
        self.problem.text = ""
        try:
            entry = EpisodeSceneEntry.model_validate(
                {"scene_id": scene_id, "transition": transition, "transition_duration": seconds}
            )
        except ValidationError as exc:
            self.problem.text = explain(exc)
            return
        order = [entry if e.scene_id == scene_id else e for e in self.order]
        await self.save(order, redraw=False)

    async def save(self, order: list[EpisodeSceneEntry], *, redraw: bool) -> bool:
        """Save this order; on a refusal say why and show the list as it is saved. False when refused."""
        self.problem.text = ""
        refusal: StudioError | None = None
        async with self.saving:
            self.saves += 1
            try:
                await self.studio.episodes.set_scenes(self.episode.id, order, self.actor)
            except (Invalid, Conflict, NotFound) as exc:
                refusal = exc
            if self.host.is_deleted:
                return refusal is None
            if refusal is None:
                self.order = order
                self.shown = None if redraw else _shown(self.order, self.known)
        if refusal is not None:
            self.problem.text = explain(refusal)
            self.shown = None
            await self.load()
            return False
        if redraw:
            with self.host:
                self.render()
        await self.on_saved()
        return True


def _shown(order: list[EpisodeSceneEntry], known: dict[uuid.UUID, Scene]) -> Shown:
    """Everything a redraw would show: the order with its transitions, and each scene's name and video."""
    scenes = sorted(known.values(), key=lambda s: str(s.id))
    facts = tuple(
        (s.id, s.scene_number, s.title, s.final_video_path, s.actual_duration_seconds, s.deleted_at) for s in scenes
    )
    return (tuple((e.scene_id, e.transition, e.transition_duration) for e in order), facts)
