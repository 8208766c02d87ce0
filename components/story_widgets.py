"""Small building blocks the Story & World page shares: tables, confirmations, save bars, row lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any

from nicegui import ui

from components.unsaved import UnsavedMarker

Changed = Callable[[], None]


@contextmanager
def markup_table(headers: Sequence[str], marker: str):
    """A dense Quasar markup table; the body is the context, filled with `table_row` and `ui.element('td')`."""
    with ui.element("q-markup-table").props("flat bordered dense wrap-cells").classes("w-full").mark(marker):
        with ui.element("thead"), ui.element("tr"):
            for header in headers:
                with ui.element("th").classes("text-left"):
                    ui.label(header)
        with ui.element("tbody") as body:
            yield body


def marker_name(name: str) -> str:
    """A name usable in a test marker (markers are split at spaces)."""
    return name.replace(" ", "_")


def cell(text: str = "", classes: str = "") -> ui.element:
    td = ui.element("td").classes(classes)
    if text:
        with td:
            ui.label(text)
    return td


def editor_dialog(title: str, marker: str, width: str = "760px") -> tuple[ui.dialog, ui.column]:
    """An editing dialog that removes itself when closed (so every opening starts from fresh values)."""
    with ui.dialog().props("persistent") as dialog:
        with ui.card().classes("gap-3 p-5").style(f"width: {width}; max-width: 95vw").mark(marker):
            ui.label(title).classes("text-lg font-semibold")
            body = ui.column().classes("w-full gap-3")
    dialog.on_value_change(lambda e: None if e.value or dialog.is_deleted else dialog.delete())
    dialog.open()
    return dialog, body


def error_label(marker: str) -> ui.label:
    """Where a form says, in plain words, what it could not save."""
    label = ui.label().classes("text-negative whitespace-pre-line text-sm").mark(marker)
    label.visible = False
    return label


def show_error(label: ui.label, message: str | None) -> None:
    label.text = message or ""
    label.visible = bool(message)


def chips(label: str, value: Sequence[str], marker: str, on_change: Changed | None = None) -> ui.input_chips:
    """A list of short phrases: type and press Enter to add, click a chip's cross to remove."""
    element = ui.input_chips(label, value=list(value), new_value_mode="add-unique").classes("w-full").mark(marker)
    element.props("dense outlined hint='Type and press Enter to add'")
    if on_change is not None:
        element.on_value_change(lambda _e: on_change())
    return element


def optional(text: str | None) -> str | None:
    """Blank text means 'not set'."""
    text = (text or "").strip()
    return text or None


class SaveBar:
    """Save, discard, the 'unsaved changes' marker and the error of the last attempt, for one form."""

    def __init__(self, marker: str, what: str, save: Callable[[], Any], discard: Callable[[], Any]) -> None:
        with ui.row().classes("w-full items-center gap-3"):
            self.error = error_label(f"{marker}-error")
            ui.space()
            self.unsaved = UnsavedMarker(what, f"{marker}-unsaved")
            self.discard = ui.button("Discard changes", icon="undo", on_click=discard).props("flat dense")
            self.discard.mark(f"{marker}-discard")
            self.save = ui.button("Save", icon="save", on_click=save).props("unelevated").mark(f"{marker}-save")
        self.dirty(False)

    def dirty(self, changed: bool) -> None:
        self.unsaved.show(changed)
        self.discard.enabled = changed


class KeyValueRows:
    """Editable `name → value` pairs (a colour palette, camera notes...) with add and remove."""

    def __init__(
        self, title: str, caption: str, marker: str, value: dict[str, Any], on_change: Changed, key_label: str
    ) -> None:
        self.marker = marker
        self.key_label = key_label
        self.on_change = on_change
        self.pairs: list[list[str]] = [[str(k), str(v)] for k, v in value.items()]
        with ui.column().classes("w-full gap-1"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(title).classes("font-medium")
                ui.label(caption).classes("text-xs opacity-60")
                ui.space()
                ui.button(icon="add", on_click=self.add).props("flat dense round size=sm").tooltip(
                    f"Add a {title.lower()} entry"
                ).mark(f"{marker}-add")
            self.rows = ui.column().classes("w-full gap-1")
        self.render()

    def set(self, value: dict[str, Any]) -> None:
        self.pairs = [[str(k), str(v)] for k, v in value.items()]
        self.render()

    def add(self) -> None:
        self.pairs.append(["", ""])
        self.render()
        self.on_change()

    def remove(self, index: int) -> None:
        del self.pairs[index]
        self.render()
        self.on_change()

    def edit(self, index: int, slot: int, text: str | None) -> None:
        self.pairs[index][slot] = text or ""
        self.on_change()

    def render(self) -> None:
        self.rows.clear()
        with self.rows:
            if not self.pairs:
                ui.label("None yet.").classes("text-xs opacity-60")
            for i, (key, value) in enumerate(self.pairs):
                with ui.row().classes("w-full items-center gap-2 no-wrap"):
                    ui.input(
                        placeholder=self.key_label, value=key, on_change=lambda e, i=i: self.edit(i, 0, e.value)
                    ).props("dense outlined").classes("w-48").mark(f"{self.marker}-key-{i}")
                    ui.input(placeholder="value", value=value, on_change=lambda e, i=i: self.edit(i, 1, e.value)).props(
                        "dense outlined"
                    ).classes("grow").mark(f"{self.marker}-value-{i}")
                    ui.button(icon="close", on_click=lambda i=i: self.remove(i)).props(
                        "flat dense round size=sm"
                    ).tooltip("Remove").mark(f"{self.marker}-remove-{i}")

    def snapshot(self) -> list[tuple[str, str]]:
        """The entered pairs without blank rows (what the dirty check compares)."""
        return [(k.strip(), v.strip()) for k, v in self.pairs if k.strip() or v.strip()]

    def value(self, label: str) -> dict[str, str]:
        """The pairs as a mapping; ValueError in plain words for a half-filled row or a repeated name."""
        result: dict[str, str] = {}
        for key, value in self.snapshot():
            if not key:
                raise ValueError(f"{label}: the entry with value '{value}' needs a {self.key_label}")
            if not value:
                raise ValueError(f"{label}: '{key}' needs a value")
            if key in result:
                raise ValueError(f"{label}: '{key}' is listed twice")
            result[key] = value
        return result


class ArcRows:
    """The story arcs: title and summary rows that can be added, removed and reordered."""

    def __init__(self, marker: str, arcs: Sequence[dict[str, Any]], on_change: Changed) -> None:
        self.marker = marker
        self.on_change = on_change
        self.arcs = [self._arc(a) for a in arcs]
        with ui.column().classes("w-full gap-1"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label("Story arcs").classes("font-medium")
                ui.label("in the order they unfold").classes("text-xs opacity-60")
                ui.space()
                ui.button("Add arc", icon="add", on_click=self.add).props("flat dense no-caps").mark(f"{marker}-add")
            self.rows = ui.column().classes("w-full gap-2")
        self.render()

    @staticmethod
    def _arc(arc: dict[str, Any]) -> dict[str, str]:
        return {"title": str(arc.get("title", "")), "summary": str(arc.get("summary", ""))}

    def set(self, arcs: Sequence[dict[str, Any]]) -> None:
        self.arcs = [self._arc(a) for a in arcs]
        self.render()

    def add(self) -> None:
        self.arcs.append({"title": "", "summary": ""})
        self.render()
        self.on_change()

    def remove(self, index: int) -> None:
        del self.arcs[index]
        self.render()
        self.on_change()

    def move(self, index: int, step: int) -> None:
        other = index + step
        self.arcs[index], self.arcs[other] = self.arcs[other], self.arcs[index]
        self.render()
        self.on_change()

    def edit(self, index: int, key: str, text: str | None) -> None:
        self.arcs[index][key] = text or ""
        self.on_change()

    def render(self) -> None:
        self.rows.clear()
        with self.rows:
            if not self.arcs:
                ui.label("No arcs yet: add one for each major movement of the story.").classes("text-xs opacity-60")
            last = len(self.arcs) - 1
            for i, arc in enumerate(self.arcs):
                with ui.row().classes("w-full items-start gap-2 no-wrap"):
                    ui.label(f"{i + 1}.").classes("pt-2 w-6 text-right opacity-60")
                    ui.input(
                        "Arc title", value=arc["title"], on_change=lambda e, i=i: self.edit(i, "title", e.value)
                    ).props("dense outlined").classes("w-64").mark(f"{self.marker}-title-{i}")
                    ui.textarea(
                        "What happens", value=arc["summary"], on_change=lambda e, i=i: self.edit(i, "summary", e.value)
                    ).props("dense outlined autogrow").classes("grow").mark(f"{self.marker}-summary-{i}")
                    with ui.column().classes("gap-0"):
                        up = ui.button(icon="arrow_upward", on_click=lambda i=i: self.move(i, -1))
                        up.props("flat dense round size=sm").tooltip("Move up").set_enabled(i > 0)
                        down = ui.button(icon="arrow_downward", on_click=lambda i=i: self.move(i, 1))
                        down.props("flat dense round size=sm").tooltip("Move down").set_enabled(i < last)
                    ui.button(icon="delete", on_click=lambda i=i: self.remove(i)).props(
                        "flat dense round size=sm color=negative"
                    ).tooltip("Remove this arc").mark(f"{self.marker}-remove-{i}")

    def snapshot(self) -> list[dict[str, str]]:
        return [{"title": a["title"].strip(), "summary": a["summary"]} for a in self.arcs]
