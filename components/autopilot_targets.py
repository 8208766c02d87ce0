"""The approved-image targets: the project's default and each character's own (blank: the default), saved on a
button with the unsaved-edits convention. A change made elsewhere shows only while the form holds no edits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.unsaved import UnsavedMarker
from services.autonomy import AutopilotChanges, AutopilotView
from services.autonomy.config import MAX_TARGET
from services.errors import StudioError
from studio.root import Studio

Saved = Callable[[AutopilotView], Awaitable[None]]


class TargetsForm:
    def __init__(self, studio: Studio, project_id: int, actor: str, on_saved: Saved) -> None:
        self.studio, self.project_id, self.actor, self.on_saved = studio, project_id, actor, on_saved
        self.fields: dict[int, ui.number] = {}
        self.default: ui.number | None = None
        with ui.card().classes("w-full gap-2").mark("targets"):
            with ui.row().classes("w-full items-center gap-3"):
                ui.label("Approved-image targets").classes("text-base font-semibold")
                ui.label("Replenishment tops a character up to its target; training waits for it.").classes(
                    "text-sm opacity-70"
                )
                ui.space()
                self.unsaved = UnsavedMarker("the approved-image targets", "targets-unsaved")
                ui.button("Save targets", icon="save", on_click=self.save).props("unelevated dense").mark(
                    "targets-save"
                )
            self.host = ui.row().classes("w-full items-end gap-3")

    def show(self, view: AutopilotView, names: dict[int, str]) -> None:
        """Fill the form with what is saved, unless a person is editing it."""
        if self.unsaved.dirty:
            return
        self.host.clear()
        self.fields = {}
        with self.host:
            self.default = _number("Project default", view.settings.default_target, None, "target-default")
            for character_id, name in names.items():
                own = view.own_targets.get(character_id)
                placeholder = f"default ({view.settings.default_target})"
                self.fields[character_id] = _number(name, own, placeholder, f"target-{character_id}")
        self.unsaved.watch(self.default, *self.fields.values())

    async def save(self) -> None:
        try:
            changes = AutopilotChanges(
                default_target=_whole(self.default.value if self.default else None),
                targets={cid: _whole(field.value) for cid, field in self.fields.items()},
            )
            view = await self.studio.autonomy.config.update(self.project_id, changes, self.actor)
        except (ValidationError, StudioError, ValueError) as exc:
            ui.notify(explain(exc), type="negative", multi_line=True)
            return
        self.unsaved.saved()
        ui.notify("Targets saved", type="positive")
        self.studio.autonomy.runner.wake()
        await self.on_saved(view)


def _number(label: str, value: int | None, placeholder: str | None, marker: str) -> ui.number:
    field = ui.number(label, value=value, min=1, max=MAX_TARGET, precision=0, placeholder=placeholder)
    return field.props("outlined dense").classes("w-40").mark(marker)


def _whole(value: float | None) -> int | None:
    """A number box's value as a whole number of images; blank means unset."""
    if value is None:
        return None
    if value != int(value):
        raise ValueError("a target is a whole number of approved images")
    return int(value)
