"""Unsaved edits, one convention for every form that saves on a button.

While a form differs from what was saved it shows an "unsaved changes" marker, and anything that would throw
the edits away asks first: another page or project (`leave_to`), closing the tab (the browser's own
beforeunload question), closing an editor or showing another record in the form (`discard_ok`). Esc closes
an editor, asking the same question when it holds edits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import app, events, ui
from nicegui.elements.mixins.value_element import ValueElement

from components.confirm import confirm

EDITS_KEY = "unsaved_edits"
# Installed once per page, then only the flag changes; the browser asks with its own words (it allows no others).
BEFOREUNLOAD_JS = """
if (!window.studioUnsavedGuard) {
  window.studioUnsavedGuard = true;
  window.addEventListener("beforeunload", (e) => {
    if (window.studioUnsaved) { e.preventDefault(); e.returnValue = ""; }
  });
}
window.studioUnsaved = %s;
"""


class PageEdits:
    """The forms of one open page that hold unsaved edits: form → what it edits ("the storyline")."""

    def __init__(self) -> None:
        self.pending: dict[UnsavedMarker, str] = {}

    def set(self, form: UnsavedMarker, dirty: bool) -> None:
        before = bool(self.pending)
        if dirty:
            self.pending[form] = form.what
        else:
            self.pending.pop(form, None)
        if bool(self.pending) != before:
            ui.run_javascript(BEFOREUNLOAD_JS % ("true" if self.pending else "false"))

    async def discard_ok(self, *forms: UnsavedMarker) -> bool:
        """True when nothing of `forms` (every form of the page when none are named) is unsaved, or the person
        agreed to lose it."""
        keys = list(forms) if forms else list(self.pending)
        lost = [self.pending[key] for key in keys if key in self.pending]
        if not lost:
            return True
        if not await confirm("Discard unsaved changes?", f"Your edits to {' and '.join(lost)} are lost.", "Discard"):
            return False
        for key in keys:
            self.pending.pop(key, None)
        if not self.pending:
            ui.run_javascript(BEFOREUNLOAD_JS % "false")
        return True

    def discard(self) -> None:
        """The page's forms are replaced without asking: what they edited is gone (deleted, say)."""
        if self.pending:
            self.pending.clear()
            ui.run_javascript(BEFOREUNLOAD_JS % "false")


def page_edits() -> PageEdits:
    """The current page's unsaved edits (kept with the page's connection: a new page starts with none)."""
    storage = app.storage.client
    if EDITS_KEY not in storage:
        storage[EDITS_KEY] = PageEdits()
    return storage[EDITS_KEY]


class UnsavedMarker:
    """The "unsaved changes" badge of one form, which also tells the page the form holds edits."""

    def __init__(self, what: str, marker: str) -> None:
        self.what = what
        self.edits = page_edits()
        self.badge = ui.badge("unsaved changes", color="warning").props("outline").mark(marker)
        self.badge.visible = False
        self._fields: tuple[ValueElement, ...] = ()
        self._saved: list[Any] = []

    def watch(self, *fields: ValueElement) -> None:
        """For a plain form: compare `fields` after every edit with their values now, which are the saved ones."""
        self._fields = fields
        self._saved = self._values()
        for field in fields:
            field.on_value_change(lambda: self.show(self._values() != self._saved))

    def saved(self) -> None:
        """The watched fields were just saved: what they hold now is the saved form."""
        self._saved = self._values()
        self.show(False)

    def _values(self) -> list[Any]:
        return [field.value for field in self._fields]

    @property
    def dirty(self) -> bool:
        return self.badge.visible

    def show(self, dirty: bool) -> None:
        self.badge.visible = dirty
        self.edits.set(self, dirty)

    def forget(self) -> None:
        """The form is gone (its record replaced or removed): its edits no longer hold the page."""
        self.edits.set(self, False)

    async def discard_ok(self) -> bool:
        """True when the form holds no edits or the person agreed to lose them."""
        return await self.edits.discard_ok(self)


class EditorGuard:
    """An editing dialog that saves on a button: its unsaved marker (`watch` its fields), and Cancel and Esc
    that ask before throwing its edits away."""

    def __init__(self, dialog: ui.dialog, what: str, marker: str) -> None:
        self.dialog = dialog
        self.unsaved = UnsavedMarker(what, marker)
        close_on_escape(self.close)

    async def close(self) -> None:
        if await self.unsaved.discard_ok():
            self.dialog.close()

    def saved(self) -> None:
        """Saved: the dialog closes without a question."""
        self.unsaved.saved()
        self.dialog.close()


async def leave_to(path: str) -> None:
    """Open `path` once the page's unsaved edits are saved or the person agreed to lose them."""
    edits = page_edits()
    if await edits.discard_ok():
        ui.navigate.to(path)


def close_on_escape(close: Callable[[], Awaitable[None] | None]) -> ui.keyboard:
    """Esc runs `close` (which asks when there are edits); place it inside the editor so it lives as long."""

    async def pressed(event: events.KeyEventArguments) -> None:
        if event.key.escape and event.action.keydown and not event.action.repeat:
            result = close()
            if result is not None:
                await result

    # Esc counts in a text field too: that is where a person is when they decide to leave.
    return ui.keyboard(on_key=pressed, ignore=[])
