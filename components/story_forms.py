"""The storyline and world settings forms: edit, see what is unsaved, save through the project service."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.story_widgets import ArcRows, KeyValueRows, SaveBar, chips, show_error
from services.bible.schemas import StorylineDraft, WorldDraft
from services.errors import StudioError
from studio.models import Storyline, WorldSettings
from studio.root import Studio


def _text(element: ui.input) -> str:
    return (element.value or "").strip()


class _Form(ABC):
    """Shared save/discard/dirty logic; subclasses build widgets and say what their values are."""

    noun = "form"
    bar: SaveBar

    def __init__(self, studio: Studio, project_id: int, actor: str) -> None:
        self.studio = studio
        self.project_id = project_id
        self.actor = actor
        self.loaded: dict[str, Any] = {}

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """What the form shows now, comparable with what was loaded."""

    @abstractmethod
    def fill(self, values: dict[str, Any]) -> None:
        """Show `values` in the form's fields."""

    @abstractmethod
    async def store(self) -> dict[str, Any]:
        """Validate and save what the form shows; returns the saved values."""

    def changed(self) -> None:
        if hasattr(self, "bar"):
            self.bar.dirty(self.snapshot() != self.loaded)

    def discard(self) -> None:
        self.fill(self.loaded)
        show_error(self.bar.error, None)
        self.changed()

    async def save(self) -> None:
        try:
            saved = await self.store()
        except (ValidationError, StudioError, ValueError) as exc:
            show_error(self.bar.error, explain(exc))
            return
        show_error(self.bar.error, None)
        self.loaded = saved
        self.fill(saved)
        self.changed()
        ui.notify(f"{self.noun} saved", type="positive")


class StorylineForm(_Form):
    noun = "Storyline"

    def __init__(self, studio: Studio, project_id: int, actor: str, row: Storyline) -> None:
        super().__init__(studio, project_id, actor)
        self.loaded = self.values_of(row)
        with ui.card().props("flat bordered").classes("w-full gap-3").mark("storyline-form"):
            with ui.grid(columns="2fr 1fr 1fr").classes("w-full gap-3"):
                self.title = self._input("Title", "story-title", "The series or film title")
                self.tone = self._input("Tone", "story-tone", "e.g. bittersweet, hopeful")
                self.humor = self._input("Humor style", "story-humor", "e.g. deadpan, slapstick")
            self.summary = ui.textarea(
                "Summary", placeholder="What the story is about, in a few sentences", on_change=self.changed
            )
            self.summary.props("outlined autogrow stack-label").classes("w-full")
            self.summary.props("input-style='min-height: 5em'").mark("story-summary")
            self.themes = chips("Themes", [], "story-themes", self.changed)
            self.arcs = ArcRows("story-arc", [], self.changed)
            self.bar = SaveBar("storyline", "the storyline", self.save, self.discard)
        self.fill(self.loaded)
        self.changed()

    def _input(self, label: str, marker: str, placeholder: str) -> ui.input:
        element = ui.input(label, placeholder=placeholder, on_change=self.changed).props("outlined dense stack-label")
        return element.mark(marker)

    @staticmethod
    def values_of(row: Storyline) -> dict[str, Any]:
        return {
            "title": row.title,
            "summary": row.summary,
            "tone": row.tone,
            "themes": list(row.themes),
            "humor_style": row.humor_style,
            "story_arcs": [{"title": a.get("title", ""), "summary": a.get("summary", "")} for a in row.story_arcs],
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "title": _text(self.title),
            "summary": self.summary.value or "",
            "tone": _text(self.tone),
            "themes": list(self.themes.value or []),
            "humor_style": _text(self.humor),
            "story_arcs": self.arcs.snapshot(),
        }

    def fill(self, values: dict[str, Any]) -> None:
        self.title.value = values["title"]
        self.summary.value = values["summary"]
        self.tone.value = values["tone"]
        self.themes.value = list(values["themes"])
        self.humor.value = values["humor_style"]
        self.arcs.set(values["story_arcs"])

    async def store(self) -> dict[str, Any]:
        draft = StorylineDraft(**self.snapshot())
        row = await self.studio.projects.save_storyline(self.project_id, draft, self.actor)
        return self.values_of(row)


class WorldForm(_Form):
    noun = "World settings"

    def __init__(self, studio: Studio, project_id: int, actor: str, row: WorldSettings) -> None:
        super().__init__(studio, project_id, actor)
        self.loaded = self.values_of(row)
        with ui.card().props("flat bordered").classes("w-full gap-3").mark("world-form"):
            self.preamble = self._area(
                "Style preamble", "world-preamble", "Opens every image prompt, e.g. 'anime key visual, cel shaded'"
            )
            with ui.grid(columns=3).classes("w-full gap-3"):
                self.art_style = self._input("Art style", "world-art-style", "e.g. 90s cel anime")
                self.aesthetic = self._input("Aesthetic", "world-aesthetic", "e.g. neon noir, pastoral")
                self.time_period = self._input("Time period", "world-time-period", "e.g. near future, Edo period")
            with ui.grid(columns="repeat(auto-fit, minmax(360px, 1fr))").classes("w-full gap-4"):
                self.palette = KeyValueRows(
                    "Colour palette", "what → colour", "world-palette", {}, self.changed, "what"
                )
                self.camera = KeyValueRows(
                    "Cinematography", "aspect → how it is shot", "world-camera", {}, self.changed, "aspect"
                )
                self.location = KeyValueRows(
                    "World location", "place → description", "world-location", {}, self.changed, "place"
                )
            with ui.grid(columns=2).classes("w-full gap-3"):
                self.notes = self._area("Production notes", "world-notes", "Anything the team should keep in mind")
                self.negative = self._area(
                    "Negative prompt guidance", "world-negative", "What images of this world must never show"
                )
            self.issues = chips("Known issues", [], "world-issues", self.changed)
            self.bar = SaveBar("world", "the world settings", self.save, self.discard)
        self.fill(self.loaded)
        self.changed()

    def _input(self, label: str, marker: str, placeholder: str) -> ui.input:
        element = ui.input(label, placeholder=placeholder, on_change=self.changed).props("outlined dense stack-label")
        return element.mark(marker)

    def _area(self, label: str, marker: str, placeholder: str) -> ui.textarea:
        element = ui.textarea(label, placeholder=placeholder, on_change=self.changed).props(
            "outlined autogrow stack-label"
        )
        return element.classes("w-full").mark(marker)

    @staticmethod
    def values_of(row: WorldSettings) -> dict[str, Any]:
        return {
            "style_preamble": row.style_preamble,
            "art_style": row.art_style,
            "aesthetic": row.aesthetic,
            "color_palette": [(str(k), str(v)) for k, v in row.color_palette.items()],
            "cinematography": [(str(k), str(v)) for k, v in row.cinematography.items()],
            "world_location": [(str(k), str(v)) for k, v in row.world_location.items()],
            "time_period": row.time_period,
            "production_notes": row.production_notes,
            "known_issues": list(row.known_issues),
            "negative_prompt_guidance": row.negative_prompt_guidance,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "style_preamble": self.preamble.value or "",
            "art_style": _text(self.art_style),
            "aesthetic": _text(self.aesthetic),
            "color_palette": self.palette.snapshot(),
            "cinematography": self.camera.snapshot(),
            "world_location": self.location.snapshot(),
            "time_period": _text(self.time_period),
            "production_notes": self.notes.value or "",
            "known_issues": list(self.issues.value or []),
            "negative_prompt_guidance": self.negative.value or "",
        }

    def fill(self, values: dict[str, Any]) -> None:
        self.preamble.value = values["style_preamble"]
        self.art_style.value = values["art_style"]
        self.aesthetic.value = values["aesthetic"]
        self.palette.set(dict(values["color_palette"]))
        self.camera.set(dict(values["cinematography"]))
        self.location.set(dict(values["world_location"]))
        self.time_period.value = values["time_period"]
        self.notes.value = values["production_notes"]
        self.issues.value = list(values["known_issues"])
        self.negative.value = values["negative_prompt_guidance"]

    async def store(self) -> dict[str, Any]:
        draft = WorldDraft(
            **{
                **self.snapshot(),
                "color_palette": self.palette.value("Colour palette"),
                "cinematography": self.camera.value("Cinematography"),
                "world_location": self.location.value("World location"),
            }
        )
        row = await self.studio.projects.save_world(self.project_id, draft, self.actor)
        return self.values_of(row)
