"""Where dialogs and notices belong: the page itself, not the card or menu that opened them.

A dialog created inside a card dies with the card when a list re-renders; created here, it lives
as long as the page.
"""

from __future__ import annotations

from nicegui import ui
from nicegui.element import Element


def page_level() -> Element:
    """Use as `with page_level(), ui.dialog() as dialog: ...`."""
    return ui.context.client.layout
