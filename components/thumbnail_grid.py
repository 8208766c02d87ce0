"""The review grid's pieces: a thumbnail card that updates in place, and the dialogs of the bulk actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from nicegui import ui

from components.confirm import throwaway_dialog
from services.datasets import CATEGORY_BY_KEY, DUPLICATE, REJECTION_CATEGORIES, thumbnail_url
from studio.models import ApprovalState, Character, DatasetImage

STATE_COLOR = {ApprovalState.PENDING: "grey-7", ApprovalState.APPROVED: "positive", ApprovalState.REJECTED: "negative"}
CATEGORY_LABEL = {c.name: c.label for c in CATEGORY_BY_KEY.values()} | {DUPLICATE: "Duplicate"}

OpenImage = Callable[[int], Awaitable[None] | None]
SelectImage = Callable[[int, bool], None]


def flags_of(image: DatasetImage) -> list[str]:
    """The triage flags stored as ",blurry,small," as a list."""
    return [flag for flag in image.triage_flags.split(",") if flag]


def category_labels(names: Sequence[str]) -> str:
    return ", ".join(CATEGORY_LABEL.get(name, name) for name in names)


def thumbnail(image: DatasetImage, on_open: OpenImage, marker: str, size: str = "w-20 h-20") -> None:
    """A small clickable thumbnail (for duplicate groups and regenerations) that opens `image`."""
    image_id: int = image.id  # type: ignore[assignment]
    with ui.column().classes("gap-0 items-center"):
        ui.element("img").props(
            f'src="{thumbnail_url(image.content_hash)}" loading=lazy alt="image {image_id}"'
        ).classes(f"{size} object-cover rounded cursor-pointer").on("click", lambda: on_open(image_id)).mark(marker)
        ui.label(f"#{image_id} · {image.approval_state.value}").classes("text-xs opacity-70")


class ThumbnailCard:
    """One image of the grid. `show` updates the card in place after a decision or a move."""

    def __init__(
        self, image: DatasetImage, *, selected: bool, owner: str, on_open: OpenImage, on_select: SelectImage
    ) -> None:
        image_id: int = image.id  # type: ignore[assignment]
        self.image_id = image_id
        with ui.element("div").classes("dataset-card").mark(f"image-card-{image_id}") as self.box:
            # A plain lazy <img> rather than q-img: 60-200 of them per page, each a cached static WebP.
            ui.element("img").props(
                f'src="{thumbnail_url(image.content_hash)}" loading=lazy alt="image {image_id}"'
            ).classes("dataset-thumb").on("click", lambda: on_open(image_id)).mark(f"thumb-{image_id}")
            with ui.element("div").classes("dataset-card-top"):
                self.checkbox = (
                    ui.checkbox(value=selected, on_change=lambda e: on_select(image_id, bool(e.value)))
                    .props("dense")
                    .classes("dataset-check")
                    .mark(f"select-{image_id}")
                )
                self.state = ui.badge("").mark(f"state-{image_id}")
            self.meta = ui.element("div").classes("dataset-card-meta")
        self.show(image, owner=owner)

    def show(self, image: DatasetImage, *, fits: bool = True, owner: str = "") -> None:
        """Show the image's current state and `owner` (its character); `fits` False dims a card the filters
        no longer match (it stays until the next reload, so the grid does not jump under the pointer)."""
        image_id = self.image_id
        self.state.text = image.approval_state.value
        self.state.props(f"color={STATE_COLOR[image.approval_state]}")
        if fits:
            self.box.classes(remove="dataset-card--elsewhere")
        else:
            self.box.classes(add="dataset-card--elsewhere")
        self.meta.clear()
        with self.meta:
            if owner:
                ui.label(owner).classes("dataset-owner").mark(f"owner-{image_id}")
            if image.quality_score is not None:
                ui.label(f"{image.quality_score:.2f}").classes("dataset-score").mark(f"score-{image_id}").tooltip(
                    "Quality score from the vision review"
                )
            if image.duplicate_of_id is not None:
                ui.label(f"dup of #{image.duplicate_of_id}").classes("dataset-dup").mark(f"duplicate-{image_id}")
            for flag in flags_of(image):
                ui.label(flag.replace("_", " ")).classes("dataset-flag")
            if image.approval_state == ApprovalState.REJECTED and image.rejection_categories:
                ui.label(category_labels(image.rejection_categories)).classes("dataset-why").mark(
                    f"categories-{image_id}"
                )

    def select(self, selected: bool) -> None:
        if self.checkbox.value != selected:
            self.checkbox.value = selected  # its on_change keeps the page's selection in step


@dataclass(frozen=True)
class Rejection:
    categories: tuple[str, ...]
    reason: str


async def ask_rejection(title: str) -> Rejection | None:
    """Ask which rejection categories apply (they teach the character's negative prompt); None on cancel."""
    with throwaway_dialog() as dialog, ui.card().classes("w-[460px] max-w-full gap-2").mark("reject-dialog"):
        ui.label(title).classes("text-lg font-semibold")
        ui.label("Why? Each category adds negative prompt terms to the character's next generations.").classes(
            "text-sm opacity-70"
        )
        boxes = {}
        for category in REJECTION_CATEGORIES:
            box = ui.checkbox(f"{category.key} · {category.label}").mark(f"reject-category-{category.name}")
            if category.negatives:
                box.tooltip("Teaches: " + ", ".join(category.negatives))
            boxes[category.name] = box
        reason = ui.input("Note (optional)").props("outlined dense").classes("w-full").mark("reject-reason")
        problem = ui.label("").classes("text-negative text-sm")

        def submit() -> None:
            chosen = tuple(name for name, box in boxes.items() if box.value)
            if not chosen:
                problem.text = "Choose at least one category"
                return
            dialog.submit(Rejection(chosen, (reason.value or "").strip()))

        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
            ui.button("Reject", icon="thumb_down", on_click=submit).props("unelevated color=negative").mark(
                "confirm-reject"
            )
    return await dialog


async def ask_reassign_target(count: int, characters: Sequence[Character]) -> int | None:
    """Ask which character the images move to; None on cancel."""
    noun = "image" if count == 1 else "images"
    with throwaway_dialog() as dialog, ui.card().classes("w-[420px] max-w-full gap-3").mark("reassign-dialog"):
        ui.label(f"Move {count} {noun} to another character").classes("text-lg font-semibold")
        ui.label("They wait for review there; an image the character already has stays where it is.").classes(
            "text-sm opacity-70"
        )
        target = (
            ui.select({c.id: c.name for c in characters}, label="Character")
            .props("outlined dense")
            .classes("w-full")
            .mark("reassign-target")
        )
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat")
            move = ui.button("Move", icon="drive_file_move", on_click=lambda: dialog.submit(target.value))
            move.props("unelevated").mark("confirm-reassign").bind_enabled_from(target, "value", backward=bool)
    return await dialog
