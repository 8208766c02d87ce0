"""One character on the Characters page: primary reference, name, species, colours, dataset counts."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from nicegui import ui

from services.bible.characters import CharacterCard

Action = Callable[[], Awaitable[None] | None]

# Dataset states in the order a person reads them; any other state follows alphabetically.
STATE_ORDER = ("approved", "pending", "rejected")

# Colour words that are not CSS colour names but common in character sheets.
COLOUR_WORDS = {
    "blonde": "#f0d58c",
    "blond": "#f0d58c",
    "golden": "#d4a017",
    "auburn": "#a52a2a",
    "platinum": "#e5e4e2",
    "emerald": "#50c878",
    "crimson": "#dc143c",
    "amber": "#ffbf00",
    "cream": "#fffdd0",
    "rose": "#ff66a3",
    "copper": "#b87333",
    "bronze": "#cd7f32",
}
CSS_NAMES = frozenset(
    "black white gray grey silver red maroon purple fuchsia magenta green lime olive yellow navy blue teal aqua "
    "cyan orange pink brown gold beige violet indigo turquoise coral salmon khaki lavender tan chocolate ivory "
    "plum orchid crimson tomato peru sienna wheat azure mint".split()
)
HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")


def swatch_colour(colour: str) -> str | None:
    """A CSS colour for a free-text colour ("dark green" -> green), or None when it names no colour."""
    text = colour.strip().lower()
    if HEX.match(text):
        return text
    for word in reversed(re.findall(r"[a-z]+", text)):
        if word in COLOUR_WORDS:
            return COLOUR_WORDS[word]
        if word in CSS_NAMES:
            return word
    return None


def dataset_summary(counts: dict[str, int]) -> str:
    """'12 approved · 3 pending', or '' while the character has no dataset images."""
    states = sorted(counts, key=lambda s: (STATE_ORDER.index(s) if s in STATE_ORDER else len(STATE_ORDER), s))
    return " · ".join(f"{counts[s]} {s}" for s in states if counts[s])


def reference_src(reference_id: int | None) -> str:
    return f"/api/references/{reference_id}/image"


def colour_chips(key_colors: dict[str, str]) -> None:
    with ui.row().classes("gap-1 flex-wrap"):
        for part, colour in key_colors.items():
            with ui.element("div").classes("flex items-center gap-1 rounded-full px-2 py-0.5 text-xs border"):
                css = swatch_colour(str(colour))
                if css:
                    ui.element("span").classes("inline-block w-3 h-3 rounded-full border").style(
                        f"background-color: {css}"
                    )
                ui.label(f"{part}: {colour}")


def no_reference_tile() -> None:
    tile = ui.column().classes("w-full h-56 items-center justify-center gap-1")
    with tile.style("background: rgba(127, 127, 127, 0.12)"):
        ui.icon("add_photo_alternate").classes("text-4xl opacity-50")
        ui.label("No reference yet").classes("text-sm opacity-70")


def character_card(card: CharacterCard, on_edit: Action, on_delete: Action, on_restore: Action) -> None:
    character = card.character
    appearance = character.appearance_data or {}
    deleted = character.deleted_at is not None
    with ui.card().tight().classes("w-full h-full").mark(f"character-{character.slug}"):
        picture = ui.element("div").classes("w-full cursor-pointer" if not deleted else "w-full")
        with picture:
            if card.references:
                ui.image(reference_src(card.references[0].id)).classes("w-full h-56").props(
                    f'fit=cover alt="{character.name}"'
                )
            else:
                no_reference_tile()
        if not deleted:
            picture.on("click", on_edit)
        with ui.card_section().classes("w-full gap-1 flex flex-col"):
            with ui.row().classes("items-center gap-2 w-full"):
                ui.label(character.name).classes("text-lg font-semibold")
                if card.non_human:
                    ui.badge("non-human", color="deep-purple").props("outline")
                if deleted:
                    ui.badge("deleted", color="negative")
            species = str(appearance.get("species") or "")
            ui.label(species or "species not set").classes("text-sm" if species else "text-sm opacity-60 italic")
            colours = appearance.get("key_colors") or {}
            if colours:
                colour_chips(colours)
            summary = dataset_summary(card.dataset)
            if summary:
                ui.label(summary).classes("text-sm opacity-80").mark("dataset-counts")
        with ui.card_actions().classes("w-full justify-end mt-auto"):
            if deleted:
                ui.button("Restore", icon="restore_from_trash", on_click=on_restore).props("flat").mark(
                    f"restore-{character.slug}"
                )
            else:
                ui.button("Delete", icon="delete", on_click=on_delete).props("flat color=negative").mark(
                    f"delete-{character.slug}"
                )
                ui.button("Edit", icon="edit", on_click=on_edit).props("flat").mark(f"edit-{character.slug}")
