"""One image's tags and caption in the detail panel: its effective tags as chips (where each came from and how
sure the source was), a person's edits (remove a chip, add a tag, rewrite the caption) saved on a button with
Undo, and the caption file a training set would get for it.

The panel keeps its draft across redraws of the same image (a decision elsewhere redraws the detail panel),
so only showing another image or leaving the page can lose edits, and both ask first.
"""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

from components.form_errors import explain
from components.tag_frequencies import SUGGESTIONS
from components.undo import offer_undo
from components.unsaved import UnsavedMarker
from services.errors import Conflict, Invalid, NotFound
from services.tags.captions import CaptionPreview
from services.tags.prompt_tags import normalise_tag
from services.tags.store import EffectiveTag, ImageTags
from studio.models import DatasetImage, TagCategory
from studio.root import Studio

PERSON = "person"
CATEGORY_COLOR = {TagCategory.CHARACTER: "purple-7", TagCategory.RATING: "orange-8"}


def normalised(text: str) -> list[str]:
    """The tags a person typed (one, or a comma list), written the way the store keeps tags. Brackets stay:
    a person means "hatsune miku (cosplay)" literally, unlike a prompt's weights."""
    return list(dict.fromkeys(tag for tag in map(normalise_tag, text.split(",")) if tag))


def tag_tooltip(tag: EffectiveTag) -> str:
    sources = ", ".join(tag.sources) or "unsaved"
    sure = f" · confidence {tag.confidence:.2f}" if tag.confidence is not None and PERSON not in tag.sources else ""
    kind = f" · {tag.category}" if tag.category != TagCategory.GENERAL else ""
    return f"from {sources}{sure}{kind}"


class ImageTagsPanel:
    """The tags-and-caption section of the detail panel; `on_dirty` hears when it starts or stops holding edits."""

    def __init__(self, studio: Studio, actor: str, layout: ui.element, on_dirty: Callable[[bool], None]) -> None:
        self.studio, self.actor, self.layout, self.on_dirty = studio, actor, layout, on_dirty
        self.image_id: int | None = None
        self.saved: ImageTags | None = None
        self.preview: CaptionPreview | None = None
        self.problem = ""  # why the tags could not be read, shown in place of the editor
        self.tags: list[str] = []  # the draft
        self.caption = ""
        self.suggestions: tuple[int | None, list[str]] = (None, [])  # (character, its tags by frequency)
        self.marker: UnsavedMarker | None = None
        self.chips: ui.row | None = None
        self.entry: ui.input | None = None
        self.caption_field: ui.textarea | None = None
        self.preview_host: ui.column | None = None

    # --- state --------------------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        if self.saved is None:
            return False
        # A set: the store keeps which tags an image has; their order comes from confidence, not from the editor.
        return set(self.tags) != {t.tag for t in self.saved.tags} or self.caption != self.saved.caption

    async def discard_ok(self) -> bool:
        """True when the panel holds no edits or the person agreed to lose them."""
        if self.marker is None or not self.dirty:
            return True
        if not await self.marker.discard_ok():
            return False
        self._take(self.saved)  # type: ignore[arg-type]
        self._changed()
        return True

    def forget(self) -> None:
        """The panel closed: its edits no longer hold the page."""
        if self.marker is not None:
            self.marker.forget()
        self.on_dirty(False)

    async def load(self, image: DatasetImage) -> None:
        """Read the image's tags, caption preview and the character's frequent tags; a draft of the same image
        stays as it is (only the saved state and preview are read again)."""
        same = image.id == self.image_id and self.dirty
        self.image_id = image.id
        try:
            saved = await self.studio.tags.tags_of(image.id)  # type: ignore[arg-type]
            preview = await self.studio.captions.preview(image.id)  # type: ignore[arg-type]
        except (Invalid, NotFound) as exc:
            self.saved, self.preview, self.problem = None, None, explain(exc)
            return
        self.saved, self.preview, self.problem = saved, preview, ""
        if not same:
            self._take(saved)
        if image.character_id is not None and self.suggestions[0] != image.character_id:
            try:
                frequencies = await self.studio.tags.frequencies(image.character_id)
            except NotFound:  # the character is being deleted: no suggestions, the editor still works
                return
            self.suggestions = (image.character_id, [t.tag for t in frequencies.tags[:SUGGESTIONS]])

    def _take(self, saved: ImageTags) -> None:
        self.tags = [t.tag for t in saved.tags]
        self.caption = saved.caption

    def _changed(self) -> None:
        dirty = self.dirty
        if self.marker is not None:
            self.marker.show(dirty)
        self.on_dirty(dirty)
        field = self.caption_field
        if field is not None and not field.is_deleted and (field.value or "") != self.caption:
            field.value = self.caption  # reverted, discarded or undone: the field shows it too
        self._draw_chips()
        self._draw_preview()

    # --- rendering ----------------------------------------------------------------------------------

    def draw(self) -> None:
        """The section, in the current context (the detail panel's body)."""
        with ui.row().classes("w-full items-center gap-2 mt-2"):
            ui.label("Tags and caption").classes("text-base font-semibold")
            if self.marker is not None:
                self.marker.forget()
            self.marker = UnsavedMarker(f"the tags of image {self.image_id}", "tags-unsaved")
        if self.saved is None:
            ui.label(self.problem or "No tags to show.").classes("text-sm text-negative").mark("tags-problem")
            self.marker.show(False)
            return
        self.chips = ui.row().classes("w-full gap-1 flex-wrap").mark("image-tags")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            entry = (
                ui.input("Add a tag", autocomplete=self.suggestions[1])
                .props("outlined dense clearable")
                .classes("grow")
                .mark("tag-input")
            )
            entry.tooltip("One tag or a comma list; Enter adds")
            self.entry = entry

            def add() -> None:
                self.add(entry.value or "")
                entry.value = ""

            entry.on("keydown.enter", add)
            ui.button(icon="add", on_click=add).props("flat round dense").mark("tag-add")
        caption = ui.textarea("Caption (prose, for models that read sentences)", value=self.caption)
        caption.props("outlined dense autogrow").classes("w-full").mark("caption-input")

        def caption_edited() -> None:
            self.caption = caption.value or ""
            self._changed()

        caption.on_value_change(caption_edited)
        self.caption_field = caption
        with ui.row().classes("gap-2"):
            ui.button("Save tags", icon="save", on_click=self.save).props("unelevated dense").mark("tags-save")
            ui.button("Revert", icon="undo", on_click=self.revert).props("flat dense").mark("tags-revert")
        self.preview_host = ui.column().classes("w-full gap-1 p-2 rounded dataset-caption-preview")
        self._draw_chips()
        self._draw_preview()
        self.marker.show(self.dirty)

    def _draw_chips(self) -> None:
        if self.chips is None or self.chips.is_deleted or self.saved is None:
            return
        known = {t.tag: t for t in self.saved.tags}
        self.chips.clear()
        with self.chips:
            for tag in self.tags:
                effective = known.get(tag) or EffectiveTag(tag, TagCategory.GENERAL.value, None, ())
                person = PERSON in effective.sources or tag not in known
                chip = ui.chip(
                    tag,
                    icon="person" if person else None,
                    color=CATEGORY_COLOR.get(effective.category, "primary"),
                    removable=True,
                    on_value_change=lambda _, tag=tag: self.remove(tag),
                )
                chip.props("dense outline" if person else "dense").mark(f"tag-{tag}")
                chip.tooltip(tag_tooltip(effective))
            if not self.tags:
                ui.label("No tags yet: tag the character from the toolbar, or add some here.").classes(
                    "text-sm opacity-70"
                )

    def _draw_preview(self) -> None:
        if self.preview_host is None or self.preview_host.is_deleted:
            return
        self.preview_host.clear()
        with self.preview_host:
            ui.label("What the training file says").classes("text-sm font-semibold")
            preview = self.preview
            if preview is None:
                return
            ui.label(preview.text).classes("text-sm font-mono break-words").mark("caption-preview")
            if preview.dropped:
                ui.label(f"Left out by the blacklist: {', '.join(preview.dropped)}").classes(
                    "text-xs opacity-80 break-words"
                ).mark("caption-dropped")
            if self.dirty:
                ui.label("This is the saved state: save to see your edits here.").classes("text-xs opacity-70")

    # --- edits --------------------------------------------------------------------------------------

    def revert(self) -> None:
        if self.saved is not None:
            self._take(self.saved)
            self._changed()

    def add(self, text: str) -> None:
        fresh = [tag for tag in normalised(text) if tag not in self.tags]
        if fresh:
            self.tags.extend(fresh)
            self._changed()

    def remove(self, tag: str) -> None:
        if tag in self.tags:
            self.tags.remove(tag)
            self._changed()

    async def save(self) -> None:
        if self.image_id is None or self.saved is None:
            return
        if self.entry is not None and not self.entry.is_deleted and self.entry.value:
            self.add(self.entry.value)  # typed but not yet added with Enter: the person means it
            self.entry.value = ""
        image_id = self.image_id
        caption = self.caption if self.caption != self.saved.caption else None
        try:
            saved = await self.studio.tags.put_tags(image_id, self.tags, caption, self.actor)
        except (Conflict, Invalid, NotFound) as exc:
            with self.layout:
                ui.notify(explain(exc), type="negative", multi_line=True)
            return
        await self._saved(saved)
        token = saved.undo_token
        if token is None:  # it held what was stored already: nothing to take back
            return

        async def undo() -> None:
            # The undo bar that calls this is gone by now: notices and redraws belong to the page.
            with self.layout:
                try:
                    result = await self.studio.tags.undo(token, self.actor)
                except (Conflict, Invalid, NotFound) as exc:
                    ui.notify(explain(exc), type="warning", multi_line=True)
                    return
                ui.notify(result.message, type="info")
                if self.image_id == image_id and not self.dirty:
                    await self._saved(await self.studio.tags.tags_of(image_id))

        with self.layout:
            offer_undo(f"Saved the tags of image {image_id}", undo)

    async def _saved(self, saved: ImageTags) -> None:
        self.saved = saved
        self._take(saved)
        self.suggestions = (None, [])  # a new tag belongs in the suggestions
        try:
            self.preview = await self.studio.captions.preview(saved.image_id)
        except NotFound:
            self.preview = None
        self._changed()
