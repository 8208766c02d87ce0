"""One dataset image in full, in a side panel: the picture, its triage values, the vision review, every
decision (who or what decided, and why), its duplicate group, regenerations and provenance, with
approve, reject, regenerate (with the negatives the rejections taught) and generate-again, and its tags and
caption (components/image_tags.py). The panel steps through the grid with ← → (or its previous/next buttons),
asking first when the tags hold unsaved edits, and the picture opens in a lightbox with zoom.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from nicegui import ui
from nicegui.events import KeyEventArguments
from pydantic import ValidationError

from components.confirm import throwaway_dialog
from components.form_errors import explain
from components.image_tags import ImageTagsPanel
from components.job_progress import image_src
from components.page_level import page_level
from components.provenance import provenance_rows
from components.thumbnail_grid import STATE_COLOR, ask_rejection, category_labels, thumbnail
from components.undo import offer_undo
from services.datasets import LearnedNegatives, Verdict
from services.datasets.categories import negatives_for
from services.errors import Conflict, Invalid, NotFound
from services.generation.images import MAX_BATCH
from studio.models import ApprovalState, DatasetImage, Decider, ReviewDecision, VisionStatus
from studio.root import Studio

Changed = Callable[[DatasetImage], Awaitable[None] | None]
# The images before and after one in the grid the panel was opened from (None: the grid's first or last).
Neighbours = Callable[[int], tuple[int | None, int | None]]
ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0)  # the lightbox's steps beyond fitting the window, in image pixels per pixel
# (key, label) of the triage values people read; width and height show as one size row.
TRIAGE_VALUES = (
    ("sharpness", "Sharpness"),
    ("brightness", "Brightness"),
    ("clipped_dark", "Clipped dark"),
    ("clipped_bright", "Clipped bright"),
    ("faces", "Faces"),
    ("nsfw", "NSFW score"),
)


@dataclass(frozen=True)
class ImageDetail:
    image: DatasetImage
    character: str
    history: list[ReviewDecision]
    duplicate_of: DatasetImage | None
    group: list[DatasetImage]  # the other images that duplicate the same original (or duplicate this one)
    derived_from: DatasetImage | None
    regenerations: list[DatasetImage]
    learned: LearnedNegatives | None  # for a rejected image: what regenerating it adds


async def load_detail(studio: Studio, image_id: int) -> ImageDetail:
    """Everything the panel shows about one image. NotFound: the image is gone."""
    image = await studio.images.image(image_id)
    history = await studio.decisions.history(image_id)
    character = "no character"
    if image.character_id is not None:
        try:
            character = (await studio.characters.get(image.character_id)).name
        except NotFound:
            character = f"character {image.character_id}"
    duplicate_of = await _image_or_none(studio, image.duplicate_of_id)
    derived_from = await _image_or_none(studio, image.derived_from_id)
    original = image.duplicate_of_id or image.id
    group = [i for i in await studio.datasets.duplicates_of(original) if i.id != image.id]
    regenerations = await studio.datasets.regenerations_of(image.id)  # type: ignore[arg-type]
    learned = None
    if image.approval_state == ApprovalState.REJECTED and image.character_id is not None:
        learned = await studio.feedback.learned_negatives(image.character_id)
    return ImageDetail(
        image=image,
        character=character,
        history=history,
        duplicate_of=duplicate_of,
        group=group,
        derived_from=derived_from,
        regenerations=regenerations,
        learned=learned,
    )


async def _image_or_none(studio: Studio, image_id: int | None) -> DatasetImage | None:
    if image_id is None:
        return None
    try:
        return await studio.images.image(image_id)
    except NotFound:
        return None


class DetailPanel:
    """A side panel showing one image at a time; `on_changed` hears of every decision made in it."""

    def __init__(self, studio: Studio, actor: str, on_changed: Changed, neighbours: Neighbours) -> None:
        self.studio, self.actor, self.on_changed, self.neighbours = studio, actor, on_changed, neighbours
        self.image_id: int | None = None
        self.latest = 0  # a load started later wins over one that finishes later
        # Notices and the undo bar go here: the button that asked for them is gone once the panel redraws.
        self.layout = page_level()
        self.dialog: ui.dialog | None = None  # made on opening, gone on closing: no hidden panel lingers
        self.body: ui.card | None = None
        self.lightbox: ui.dialog | None = None
        self.tags = ImageTagsPanel(studio, actor, self.layout, self._hold)
        with self.layout:
            # Not ignoring buttons (NiceGUI's default): after a click on "next" the focus is on that button.
            ui.keyboard(self._key, ignore=["input", "select", "textarea"])

    @property
    def showing(self) -> int | None:
        open_ = self.dialog is not None and not self.dialog.is_deleted and self.dialog.value
        return self.image_id if open_ else None

    async def show(self, image_id: int) -> None:
        # Another image replaces the tag editor's draft: ask first (the same image keeps its draft).
        if image_id != self.showing and not await self.tags.discard_ok():
            return
        self.latest += 1
        mine = self.latest
        stepping = self.showing is not None  # a step or refresh: it must not reopen a panel closed meanwhile
        try:
            detail = await load_detail(self.studio, image_id)
            await self.tags.load(detail.image)
        except NotFound as exc:
            with self.layout:
                ui.notify(explain(exc), type="warning")
            return
        if mine != self.latest or self.layout.is_deleted or (stepping and self.showing is None):
            return
        self.image_id = image_id
        if self.showing is None:
            with self.layout:
                self.dialog = throwaway_dialog().props("position=right full-height")
                self.dialog.on_value_change(lambda e: None if e.value else self.tags.forget())
                with self.dialog:
                    self.body = ui.card().classes("dataset-detail gap-3").mark("image-detail")
            self.dialog.open()
        self._render(detail)

    def close(self) -> Awaitable[None] | None:
        """Close the panel; with unsaved tag edits, the question to ask first (NiceGUI awaits it in the
        button's context). Without edits it closes at once, so a step under way finds the panel closed."""
        if self.dialog is None:
            return None
        if not self.tags.dirty:
            self.dialog.close()
            return None
        return self._close_if_discarded()

    async def _close_if_discarded(self) -> None:
        if self.dialog is not None and await self.tags.discard_ok():
            self.dialog.close()

    def _hold(self, dirty: bool) -> None:
        """While the tags hold edits a click beside the panel must not close it: Esc and the close button ask."""
        if self.dialog is not None and not self.dialog.is_deleted:
            if dirty:
                self.dialog.props(add="persistent")
            else:
                self.dialog.props(remove="persistent")

    async def refresh(self) -> None:
        if self.showing is not None:
            await self.show(self.showing)

    async def step(self, direction: int) -> None:
        """Show the grid's previous (-1) or next (+1) image; nothing at either end."""
        if self.showing is None:
            return
        before, after = self.neighbours(self.showing)
        target = before if direction < 0 else after
        if target is not None:
            await self.show(target)

    async def _key(self, event: KeyEventArguments) -> None:
        lightbox_open = self.lightbox is not None and not self.lightbox.is_deleted and self.lightbox.value
        if not event.action.keydown or lightbox_open:
            return
        if event.key.arrow_left:
            await self.step(-1)
        elif event.key.arrow_right:
            await self.step(1)
        elif event.key.escape and self.showing is not None and self.tags.dirty:
            await self._close_if_discarded()

    # --- actions --------------------------------------------------------------------------------------

    async def _decide(self, image: DatasetImage, verdict: Verdict) -> None:
        try:
            decided, decision = await self.studio.decisions.decide(
                image.id,  # type: ignore[arg-type]
                verdict,
                self.actor,
                expected_version=image.version,
            )
        except (Conflict, Invalid, NotFound) as exc:
            with self.layout:
                ui.notify(explain(exc), type="warning")
            await self.refresh()
            return

        async def undo() -> None:
            try:
                restored = await self.studio.decisions.undo(decision.id, self.actor)  # type: ignore[arg-type]
            except (Conflict, NotFound) as exc:
                with self.layout:
                    ui.notify(explain(exc), type="warning")
                return
            await self._changed(restored)

        with self.layout:
            offer_undo(f"Image {image.id} {decided.approval_state.value}", undo)
        await self._changed(decided)

    async def _approve(self, image: DatasetImage) -> None:
        await self._decide(image, Verdict(ApprovalState.APPROVED))

    async def _reject(self, image: DatasetImage) -> None:
        rejection = await ask_rejection(f"Reject image {image.id}")
        if rejection is not None:
            reasons = (rejection.reason,) if rejection.reason else ()
            await self._decide(image, Verdict(ApprovalState.REJECTED, categories=rejection.categories, reasons=reasons))

    async def _changed(self, image: DatasetImage) -> None:
        result = self.on_changed(image)
        if result is not None:
            await result
        await self.refresh()

    async def _regenerate(self, image: DatasetImage, count: Any, problem: ui.label) -> None:
        problem.text = ""
        try:
            jobs = await self.studio.images.regenerate(image.id, self.actor, int(count or 1))  # type: ignore[arg-type]
        except (Invalid, NotFound, ValidationError) as exc:
            problem.text = explain(exc)
            with self.layout:
                ui.notify(problem.text, type="negative", multi_line=True)
            return
        noun = "image" if len(jobs) == 1 else "images"
        with self.layout:
            ui.notify(f"Queued {len(jobs)} {noun} regenerated from image {image.id}", type="positive")

    async def _again(self, image: DatasetImage) -> None:
        try:
            job = await self.studio.images.again(image.id, self.actor)  # type: ignore[arg-type]
        except (Invalid, NotFound) as exc:
            with self.layout:
                ui.notify(explain(exc), type="negative", multi_line=True)
            return
        with self.layout:
            ui.notify(f"Queued job {job.id}: {job.title}", type="positive")

    def _open_lightbox(self, image: DatasetImage) -> None:
        with self.layout:
            self.lightbox = lightbox(image)

    # --- rendering ------------------------------------------------------------------------------------

    def _render(self, detail: ImageDetail) -> None:
        image = detail.image
        assert self.body is not None and self.dialog is not None
        self.body.clear()
        before, after = self.neighbours(image.id)  # type: ignore[arg-type]
        with self.body:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                ui.label(f"Image {image.id}").classes("text-xl font-semibold").mark("detail-title")
                ui.badge(image.approval_state.value, color=STATE_COLOR[image.approval_state]).mark("detail-state")
                ui.label(detail.character).classes("opacity-70 truncate")
                ui.space()
                previous = ui.button(icon="chevron_left", on_click=lambda: self.step(-1)).props("flat round dense")
                previous.tooltip("Previous image (←)").mark("detail-previous").set_enabled(before is not None)
                following = ui.button(icon="chevron_right", on_click=lambda: self.step(1)).props("flat round dense")
                following.tooltip("Next image (→)").mark("detail-next").set_enabled(after is not None)
                ui.button(icon="close", on_click=self.close).props("flat round dense").mark("close-detail")
            picture = ui.element("img").props(f'src="{image_src(image.id)}" alt="image {image.id}"')  # type: ignore[arg-type]
            picture.classes("w-full max-h-[50vh] object-contain rounded cursor-zoom-in").mark("detail-image")
            picture.on("click", lambda: self._open_lightbox(image))
            picture.tooltip("Click to see it large, with zoom")
            source = f"{image.source}" + (f" · {image.source_ref}" if image.source_ref else "")
            ui.label(f"{image.width}x{image.height} · {source} · added {image.created_at:%Y-%m-%d %H:%M}").classes(
                "text-xs opacity-70 break-all"
            )
            with ui.row().classes("gap-2"):
                approve = ui.button("Approve", icon="thumb_up", on_click=lambda: self._approve(image))
                approve.props("unelevated color=positive").mark("detail-approve")
                approve.set_enabled(image.approval_state != ApprovalState.APPROVED)
                ui.button("Reject", icon="thumb_down", on_click=lambda: self._reject(image)).props(
                    "unelevated color=negative"
                ).mark("detail-reject")
                if "recipe" in (image.provenance or {}):
                    ui.button("Generate again like this", icon="replay", on_click=lambda: self._again(image)).props(
                        "flat"
                    ).mark("detail-again")
            if detail.learned is not None:
                self._regenerate_section(image, detail.learned)
            self.tags.draw()
            _heading("Triage")
            _triage(image)
            _heading("Vision review")
            _review(image)
            _heading("Decisions")
            _history(detail.history)
            if detail.duplicate_of or detail.group or image.duplicate_of_id:
                _heading("Duplicate group")
                self._duplicates(detail)
            if detail.derived_from or detail.regenerations:
                _heading("Regenerations")
                self._regenerations(detail)
            _heading("Provenance")
            _provenance(image)

    def _regenerate_section(self, image: DatasetImage, learned: LearnedNegatives) -> None:
        with ui.column().classes("w-full gap-1 p-2 rounded dataset-regenerate").mark("regenerate-section"):
            ui.label("Regenerate").classes("font-semibold")
            own = ", ".join(negatives_for(image.rejection_categories)) or "nothing (no category teaches terms)"
            ui.label(f"This rejection adds to the negative prompt: {own}").classes("text-sm")
            ui.label(f"Learned from the character's rejections: {learned.text or 'nothing yet'}").classes(
                "text-sm"
            ).mark("learned-negatives")
            ui.label("The new images link back to this one.").classes("text-xs opacity-70")
            with ui.row().classes("items-center gap-2"):
                count = (
                    ui.number("Images", value=2, min=1, max=MAX_BATCH, precision=0)
                    .props("outlined dense")
                    .classes("w-24")
                    .mark("regenerate-count")
                )
                button = ui.button("Regenerate", icon="autorenew").props("unelevated").mark("regenerate")
            problem = ui.label("").classes("text-negative text-sm break-words").mark("regenerate-problem")
            button.on_click(lambda: self._regenerate(image, count.value, problem))

    def _duplicates(self, detail: ImageDetail) -> None:
        image = detail.image
        if image.duplicate_of_id is not None:
            distance = f", {image.duplicate_distance} bits apart" if image.duplicate_distance is not None else ""
            ui.label(f"A {image.duplicate_kind or ''} duplicate of image {image.duplicate_of_id}{distance}").classes(
                "text-sm"
            ).mark("duplicate-of")
            if detail.duplicate_of is not None:
                thumbnail(detail.duplicate_of, self.show, f"open-image-{detail.duplicate_of.id}")
            else:
                ui.label("That image was deleted.").classes("text-sm opacity-70")
        if detail.group:
            what = "Other duplicates of the same image" if image.duplicate_of_id else "Images that duplicate this one"
            ui.label(what).classes("text-sm")
            with ui.row().classes("gap-2 flex-wrap"):
                for other in detail.group:
                    thumbnail(other, self.show, f"open-image-{other.id}")

    def _regenerations(self, detail: ImageDetail) -> None:
        if detail.derived_from is not None:
            ui.label(f"Regenerated from rejected image {detail.derived_from.id}").classes("text-sm")
            thumbnail(detail.derived_from, self.show, f"open-image-{detail.derived_from.id}")
        if detail.regenerations:
            ui.label("Regenerated from this image").classes("text-sm")
            with ui.row().classes("gap-2 flex-wrap"):
                for other in detail.regenerations:
                    thumbnail(other, self.show, f"open-image-{other.id}")


def lightbox(image: DatasetImage) -> ui.dialog:
    """The image over the whole window, fitted; zoom to its own pixels and beyond, scrolling to look around."""
    return picture_lightbox(
        image_src(image.id),  # type: ignore[arg-type]
        f"Image {image.id} · {image.width}x{image.height}",
        f"image {image.id} large",
        image.width,
    )


def picture_lightbox(src: str, title: str, alt: str, width: int) -> ui.dialog:
    """Any picture the studio serves at `src`, `width` pixels wide, in the lightbox (training samples use it too)."""
    dialog = throwaway_dialog().props("maximized")
    with dialog, ui.column().classes("w-full h-full gap-0 no-wrap bg-black text-white").mark("image-lightbox"):
        with ui.row().classes("w-full items-center gap-2 p-2 no-wrap"):
            ui.label(title).classes("text-base")
            ui.space()
            zoom_out = ui.button(icon="zoom_out").props("flat round dense color=white").mark("lightbox-zoom-out")
            shown = ui.label().classes("w-20 text-center").mark("lightbox-zoom")
            zoom_in = ui.button(icon="zoom_in").props("flat round dense color=white").mark("lightbox-zoom-in")
            fit = ui.button("Fit", icon="fit_screen").props("flat dense no-caps color=white").mark("lightbox-fit")
            ui.button(icon="close", on_click=dialog.close).props("flat round dense color=white").mark("lightbox-close")
        with ui.element("div").classes("w-full grow overflow-auto flex"):
            picture = ui.element("img").props(f'src="{src}" alt="{alt}"')
            picture.classes("m-auto").mark("lightbox-image")
    zoom: list[int] = [-1]  # an index into ZOOMS; -1 fits the window

    def show() -> None:
        if zoom[0] < 0:
            picture.style(replace="max-width: 100%; max-height: 100%; object-fit: contain; cursor: zoom-in")
            shown.text = "Fit"
        else:
            factor = ZOOMS[zoom[0]]
            picture.style(replace=f"width: {round(width * factor)}px; max-width: none; cursor: zoom-out")
            shown.text = f"{factor:.0%}"
        zoom_out.set_enabled(zoom[0] >= 0)
        zoom_in.set_enabled(zoom[0] < len(ZOOMS) - 1)

    def to(index: int) -> None:
        zoom[0] = max(-1, min(index, len(ZOOMS) - 1))
        show()

    zoom_in.on_click(lambda: to(zoom[0] + 1))
    zoom_out.on_click(lambda: to(zoom[0] - 1))
    fit.on_click(lambda: to(-1))
    picture.on("click", lambda: to(0 if zoom[0] < 0 else -1))  # a click toggles fitted and actual size
    show()
    dialog.open()
    return dialog


def _heading(text: str) -> None:
    ui.label(text).classes("text-base font-semibold mt-2")


def _rows(rows: list[tuple[str, str, str]]) -> None:
    """(marker, label, text) rows as a two-column grid."""
    with ui.grid(columns="max-content 1fr").classes("gap-x-4 gap-y-1 text-sm w-full"):
        for marker, label, text in rows:
            ui.label(label).classes("opacity-70")
            ui.label(text).classes("break-words whitespace-pre-wrap min-w-0").mark(marker)


def _triage(image: DatasetImage) -> None:
    triage = image.triage or {}
    values = triage.get("values") or {}
    if not values:
        why = "duplicates are rejected before it runs" if image.duplicate_of_id else "it has not run on this image"
        ui.label(f"Not checked: {why}.").classes("text-sm opacity-70")
        return
    rows = [("triage-size", "Size", f"{values.get('width', '?')}x{values.get('height', '?')} px")]
    rows += [(f"triage-{key}", label, str(values[key])) for key, label in TRIAGE_VALUES if key in values]
    if "content_rating" in triage:
        rows.append(("triage-rating", "Checked for rating", str(triage["content_rating"])))
    _rows(rows)
    flags = list(triage.get("flags") or [])
    with ui.row().classes("gap-1 flex-wrap").mark("triage-flags"):
        for flag in flags:
            ui.chip(flag, color="warning").props("dense outline")
        if not flags:
            ui.label("no flags").classes("text-sm opacity-70")
    for failure in triage.get("failures") or []:
        ui.label(failure).classes("text-sm text-negative")


def _review(image: DatasetImage) -> None:
    review = image.review or {}
    if not review:
        queued = image.vision_status == VisionStatus.QUEUED
        text = "Queued for the vision review." if queued else "Not reviewed: no vision model is configured, or not yet."
        ui.label(text).classes("text-sm opacity-70")
        return
    score = review.get("score")
    rows = [
        ("review-status", "Status", str(review.get("status", "?"))),
        ("review-score", "Score", f"{score:.2f}" if isinstance(score, int | float) else "—"),
        ("review-reasons", "Reasons", "\n".join(review.get("reasons") or []) or "—"),
        ("review-categories", "Categories", category_labels(review.get("categories") or []) or "—"),
        ("review-model", "Model", str(review.get("model") or "—")),
    ]
    if review.get("error"):
        rows.append(("review-error", "Error", str(review["error"])))
    _rows(rows)


def _history(history: list[ReviewDecision]) -> None:
    with ui.column().classes("w-full gap-2").mark("decision-history"):
        if not history:
            ui.label("No decision yet: it waits for review.").classes("text-sm opacity-70")
        for decision in reversed(history):  # newest first: the one that counts now
            who = decision.actor if decision.decider == Decider.HUMAN else f"the {decision.decider.value} check"
            undone = " (undone)" if decision.undone_at is not None else ""
            with ui.column().classes("gap-0 text-sm").mark(f"decision-{decision.id}"):
                ui.label(
                    f"{decision.previous_state.value} → {decision.state.value} by {who}{undone}"
                    f" · {decision.created_at:%Y-%m-%d %H:%M}"
                ).classes("font-medium" + (" line-through opacity-60" if undone else ""))
                if decision.categories:
                    ui.label(category_labels(decision.categories)).classes("text-xs")
                if decision.reasons:
                    ui.label("; ".join(decision.reasons)).classes("text-xs opacity-80 break-words")
                if decision.undone_at is not None:
                    ui.label(f"undone {decision.undone_at:%Y-%m-%d %H:%M}").classes("text-xs opacity-60")


def _provenance(image: DatasetImage) -> None:
    provenance = image.provenance or {}
    if not provenance:
        ui.label("No provenance: this image was not generated by the studio.").classes("text-sm opacity-70")
        return
    _rows([(f"detail-provenance-{key}", label, text) for key, label, text in provenance_rows(provenance)])
