"""One shot in a side panel: its picture and generation state, and every field of it to edit — type, angle,
length, motion (a curated preset or free text), source image (an approved dataset image), characters,
dialogue and speaker, transition, and the video engine with the studio's proposal and each engine's limits.

Nothing is saved until Save; the services' refusals are shown beside the form. Delete offers Undo, which
puts the shot back at its place.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

from nicegui import ui
from pydantic import ValidationError

from components.confirm import throwaway_dialog
from components.form_errors import explain
from components.line_player import LineButton
from components.page_level import page_level
from components.timeline import STATUS_COLOR, engine_label, kept_attempt, shot_picture, status_text
from components.undo import offer_undo
from components.unsaved import UnsavedMarker, close_on_escape
from services.datasets import ImageQuery, thumbnail_url
from services.errors import Conflict, Invalid, NotFound
from services.scenes import (
    CAMERA_ANGLES,
    ENGINE_LIMITS,
    SHOT_TYPES,
    TRANSITIONS,
    ShotChanges,
    ShotDraft,
    available_engines,
    motion_presets,
    select_engine,
)
from services.scenes.video_engines import EngineLimits, check_shot
from studio.models import ApprovalState, Character, DatasetImage, Scene, Shot
from studio.root import Studio

Changed = Callable[[], Awaitable[None]]
PICK_PAGE = 48
# How old a device preflight may be for the engine proposal (the same as the studio's own engine checks).
ENGINE_CHECK_MAX_AGE = 60.0


def _words(value: str) -> str:
    return value.replace("_", " ")


async def engines_ready(studio: Studio) -> set[str]:
    """The engines some device can run now (the animatic always)."""
    preflights = await studio.device_preflights(ENGINE_CHECK_MAX_AGE)
    return available_engines(key for preflight in preflights for key in preflight.ready_engines)


def _limits_row(limits: EngineLimits, ready: set[str]) -> dict[str, str]:
    if limits.needs_source:
        source = "animates a source image (needs one)"
    elif limits.takes_source:
        source = "uses a source image when given"
    else:
        source = "text only"
    return {
        "engine": limits.label,
        "length": f"{limits.min_seconds:g}\N{EN DASH}{limits.max_seconds:g} s",
        "fps": f"{limits.fps:g}" if limits.fps else "project's",
        "source": source,
        "device": "CPU" if limits.device == "cpu" else "ComfyUI",
        "ready": "ready" if limits.name in ready else "no device ready",
    }


async def pick_source_image(
    studio: Studio, project_id: int, characters: dict[int, str], present: Iterable[int]
) -> DatasetImage | None:
    """Ask for one approved image of the project (of a character present, to start with); None on cancel."""
    present = [c for c in present if c in characters]
    state: dict[str, Any] = {"page": 1}
    with throwaway_dialog() as dialog, ui.card().classes("w-[760px] max-w-full gap-2").mark("source-picker"):
        ui.label("Choose the source image").classes("text-lg font-semibold")
        ui.label("Approved images of this project's datasets. The video starts from the one you choose.").classes(
            "text-sm opacity-70"
        )
        whose = (
            ui.select(
                {0: "All characters", **characters},
                value=present[0] if len(present) == 1 else 0,
                label="Character",
            )
            .props("outlined dense")
            .classes("w-64")
            .mark("source-character")
        )
        total = ui.label().classes("text-sm opacity-70").mark("source-total")
        grid = ui.element("div").classes("w-full")
        pager = ui.pagination(1, 1, direction_links=True, value=1).props("max-pages=7").mark("source-pages")
        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=lambda: dialog.submit(None)).props("flat").mark("source-cancel")

    async def load() -> None:
        query = ImageQuery(
            project_id=project_id,
            character_id=whose.value or None,
            states=(ApprovalState.APPROVED,),
            offset=(state["page"] - 1) * PICK_PAGE,
            limit=PICK_PAGE,
        )
        page = await studio.datasets.page(query)
        if grid.is_deleted:
            return
        pages = max(1, math.ceil(page.total / PICK_PAGE))
        pager.max = pages
        pager.set_visibility(pages > 1)
        noun = "image" if page.total == 1 else "images"
        total.text = f"{page.total} approved {noun}"
        grid.clear()
        with grid:
            if not page.items:
                with ui.column().classes("w-full items-center gap-2 p-6").mark("no-approved-images"):
                    ui.icon("photo_library").classes("text-4xl opacity-60")
                    ui.label("No approved images here yet: approve some on the Datasets page.").classes("text-sm")
                    ui.link("Open Datasets", f"/datasets?project={project_id}&state=pending")
                return
            with ui.element("div").classes("source-grid"):
                for image in page.items:
                    ui.element("img").props(
                        f'src="{thumbnail_url(image.content_hash)}" loading=lazy alt="image {image.id}"'
                        f' title="image {image.id}"'
                    ).on("click", lambda image=image: dialog.submit(image)).mark(f"pick-image-{image.id}")

    async def turn_page() -> None:
        state["page"] = int(pager.value or 1)
        await load()

    async def filter_changed() -> None:
        state["page"] = 1
        pager.value = 1
        await load()

    whose.on_value_change(filter_changed)
    pager.on_value_change(turn_page)
    await load()
    return await dialog


class ShotEditor:
    """The side panel of one shot at a time; `on_changed` hears of every save, delete and undo."""

    def __init__(self, studio: Studio, project_id: int, actor: str, on_changed: Changed) -> None:
        self.studio, self.project_id, self.actor, self.on_changed = studio, project_id, actor, on_changed
        self.layout = page_level()  # notices and the undo bar outlive the panel
        self.dialog: ui.dialog | None = None
        self.body: ui.card | None = None
        self.latest = 0
        self.shot: Shot | None = None
        self.scene: Scene | None = None
        self.characters: dict[int, Character] = {}
        self.loras: dict[int, str] = {}  # character id -> its active LoRA file, for the engine proposal
        self.ready: set[str] = {"animatic"}
        self.source: DatasetImage | None = None  # the dataset image the form holds (saved or just chosen)
        self.source_changed = False
        self.proposed: str | None = None
        self.unsaved: UnsavedMarker | None = None
        self.saved_form: tuple = ()

    @property
    def showing(self) -> uuid.UUID | None:
        open_ = self.dialog is not None and not self.dialog.is_deleted and self.dialog.value
        return self.shot.id if open_ and self.shot is not None else None

    def close(self) -> None:
        """Close the panel, edits and all (the shot is gone or another scene is shown: the page asked already)."""
        if self.unsaved is not None:
            self.unsaved.forget()
        if self.dialog is not None and not self.dialog.is_deleted:
            self.dialog.close()

    async def close_asking(self) -> None:
        """Close the panel once its unsaved edits are saved or the person agreed to lose them."""
        if self.unsaved is not None:
            with self.layout:
                if not await self.unsaved.discard_ok():
                    return
        self.close()

    async def show(self, shot_id: uuid.UUID) -> None:
        if self.showing is not None and self.unsaved is not None:
            with self.layout:
                if not await self.unsaved.discard_ok():
                    return
        self.latest += 1
        mine = self.latest
        try:
            shot = await self.studio.scenes.shot(shot_id)
            scene = await self.studio.scenes.get(shot.scene_id)
        except NotFound as exc:
            with self.layout:
                ui.notify(explain(exc), type="warning")
            return
        cards = await self.studio.characters.cards(self.project_id)
        loras = await self.studio.loras.active_for([card.character.id for card in cards])  # type: ignore[misc]
        ready = await engines_ready(self.studio)
        source = await self._image(shot.source_image_id)
        if mine != self.latest or self.layout.is_deleted:
            return
        self.shot, self.scene, self.ready = shot, scene, ready
        self.characters = {card.character.id: card.character for card in cards}  # type: ignore[misc]
        self.loras = {cid: lora.file_name for cid, lora in loras.items()}
        self.source, self.source_changed = source, False
        if self.showing is None:
            with self.layout:
                # Persistent: a click beside the panel must not throw its edits away; Esc and Close ask first.
                self.dialog = throwaway_dialog().props("position=right full-height persistent")
                with self.dialog:
                    self.body = ui.card().classes("shot-editor gap-2").mark("shot-editor")
            self.dialog.open()
        self._render()

    def progress(self, shot: Shot) -> None:
        """The shot's generation moved on: show its state, leaving the form (and unsaved edits) alone."""
        if self.showing == shot.id and not self.status_host.is_deleted:
            self.shot = shot
            self._status(shot)

    async def _image(self, image_id: int | None) -> DatasetImage | None:
        if image_id is None:
            return None
        try:
            return await self.studio.images.image(image_id)
        except NotFound:
            return None

    # --- the form -----------------------------------------------------------------------------------

    def _render(self) -> None:
        shot, scene = self.shot, self.scene
        assert shot is not None and scene is not None and self.body is not None and self.dialog is not None
        self.body.clear()
        names = {cid: c.name for cid, c in self.characters.items()}
        # A character deleted since the shot was made stays listed, so the shot shows what it holds.
        names.update({cid: f"character {cid} (deleted)" for cid in shot.characters_present if cid not in names})
        with self.body:
            with ui.row().classes("w-full items-center gap-2 no-wrap"):
                title = f"Shot {shot.shot_number} of {scene.title or f'scene {scene.scene_number}'}"
                ui.label(title).classes("text-xl font-semibold").mark("shot-editor-title")
                self.unsaved = UnsavedMarker(f"shot {shot.shot_number}", "shot-unsaved")
                ui.space()
                ui.button(icon="close", on_click=self.close_asking).props("flat round dense").mark("close-shot")
                close_on_escape(self.close_asking)
            self.status_host = ui.column().classes("w-full gap-1")
            self._status(shot)
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.kind = self._select("Shot type", SHOT_TYPES, shot.shot_type, "shot-type")
                self.angle = self._select("Camera angle", CAMERA_ANGLES, shot.camera_angle, "camera-angle")
                self.duration = (
                    ui.number("Seconds", value=shot.duration_seconds, min=0.5, max=60, step=0.5)
                    .props("outlined dense")
                    .classes("w-28")
                    .mark("shot-duration")
                )
            self.description = (
                ui.textarea("What the shot shows", value=shot.description)
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("shot-description")
            )
            self.preset = (
                ui.select(self._presets(shot.shot_type), label="Motion preset", with_input=True)
                .props("outlined dense clearable")
                .classes("w-full")
                .mark("motion-preset")
            )
            self.motion = (
                ui.textarea("Motion prompt", value=shot.motion_prompt)
                .props("outlined dense autogrow")
                .classes("w-full")
                .mark("motion-prompt")
            )
            self.motion.tooltip("How things move: pick a preset above or write your own")
            ui.label("Source image").classes("text-sm font-semibold mt-1")
            self.source_host = ui.row().classes("w-full items-center gap-2 no-wrap")
            self.present = (
                ui.select(names, value=list(shot.characters_present), multiple=True, label="Characters present")
                .props("outlined dense use-chips")
                .classes("w-full")
                .mark("shot-characters")
            )
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.dialogue = (
                    ui.input("Dialogue line", value=shot.dialogue_text)
                    .props("outlined dense")
                    .classes("flex-grow")
                    .mark("dialogue-text")
                )
                self.speaker = (
                    ui.select(
                        self._speakers(shot.characters_present), value=shot.dialogue_character_id, label="Said by"
                    )
                    .props("outlined dense clearable")
                    .classes("w-48")
                    .mark("dialogue-speaker")
                )
                play_line = LineButton(self.studio, self.actor, self.project_id, self.dialogue, self.speaker)
            play_line.follow()
            with ui.row().classes("w-full gap-2 no-wrap"):
                self.transition = self._select("Transition in", TRANSITIONS, shot.transition_type, "transition")
                self.transition_seconds = (
                    ui.number("Transition seconds", value=shot.transition_duration, min=0, max=5, step=0.1)
                    .props("outlined dense")
                    .classes("w-40")
                    .mark("transition-duration")
                )
            self._engine_section(shot)
            self.problem = ui.label().classes("text-negative text-sm whitespace-pre-wrap").mark("shot-problem")
            with ui.row().classes("w-full items-center gap-2"):
                ui.button("Delete shot", icon="delete", on_click=self._delete).props("flat color=negative").mark(
                    "delete-shot"
                )
                ui.space()
                ui.button("Cancel", on_click=self.close_asking).props("flat").mark("cancel-shot")
                self.save_button = (
                    ui.button("Save", icon="save", on_click=self._save).props("unelevated").mark("save-shot")
                )
        self._show_source()
        self.kind.on_value_change(self._kind_changed)
        self.preset.on_value_change(self._preset_chosen)
        self.present.on_value_change(self._present_changed)
        for field in (self.duration, self.engine):
            field.on_value_change(self._propose)
        self._propose()
        self.saved_form = self._form()
        for field in self._fields():
            field.on_value_change(self._mark)

    def _fields(self) -> tuple[ui.element, ...]:
        return (
            self.kind,
            self.angle,
            self.duration,
            self.description,
            self.motion,
            self.present,
            self.dialogue,
            self.speaker,
            self.transition,
            self.transition_seconds,
            self.engine,
        )

    def _form(self) -> tuple:
        """What the form holds, to tell edits from the saved shot."""
        values = tuple(getattr(field, "value", None) for field in self._fields())
        return (*values, self.source_changed, self.source.id if self.source else None)

    def _mark(self) -> None:
        if self.unsaved is not None and self.body is not None and not self.body.is_deleted:
            self.unsaved.show(self._form() != self.saved_form)

    def _select(self, label: str, options: Iterable[str], value: str, marker: str) -> ui.select:
        choices = {option: _words(option) for option in options}
        choices.setdefault(value, _words(value))  # a value from before the vocabulary changed stays visible
        return ui.select(choices, value=value, label=label).props("outlined dense").classes("flex-grow").mark(marker)

    @staticmethod
    def _presets(shot_type: str) -> list[str]:
        return [prompt for prompts in motion_presets(shot_type).values() for prompt in prompts]

    def _speakers(self, present: Iterable[int]) -> dict[int, str]:
        return {cid: self.characters[cid].name for cid in present if cid in self.characters}

    def _status(self, shot: Shot) -> None:
        self.status_host.clear()
        with self.status_host:
            # The rendered first frame; a source image alone shows in its own section below.
            picture = shot_picture(shot) if shot.first_frame_path else None
            if picture:
                ui.element("img").props(f'src="{picture}" alt="shot {shot.shot_number}"').classes(
                    "shot-editor-picture"
                ).mark("shot-editor-picture")
            with ui.row().classes("items-center gap-2"):
                ui.badge(status_text(shot.status), color=STATUS_COLOR.get(shot.status, "grey-7")).mark(
                    "shot-editor-status"
                )
                if shot.quality_score is not None:
                    ui.label(f"score {shot.quality_score:.2f}").classes("text-sm").mark("shot-editor-score")
                attempt = kept_attempt(shot)
                if attempt:
                    ui.label(attempt).classes("text-sm opacity-70")
                if shot.output_video_path:
                    ui.link("Watch", f"/api/shots/{shot.id}/video", new_tab=True).classes("text-sm").mark("shot-video")
            if shot.error_message:
                ui.label(shot.error_message).classes("text-sm text-negative break-words")

    # --- source image -------------------------------------------------------------------------------

    def _has_source(self) -> bool:
        assert self.shot is not None
        if self.source_changed:
            return self.source is not None
        return self.source is not None or self.shot.source_image_path is not None

    def _show_source(self) -> None:
        shot = self.shot
        assert shot is not None
        self.source_host.clear()
        with self.source_host:
            if self.source is not None:
                ui.element("img").props(
                    f'src="{thumbnail_url(self.source.content_hash)}" alt="image {self.source.id}"'
                ).classes("source-thumb").on("click", self._choose_source).mark("shot-source-thumb")
                ui.label(f"image {self.source.id}").classes("text-sm").mark("shot-source")
            elif self._has_source() and shot.source_image_path:  # a file that is not a dataset image
                ui.element("img").props(f'src="{shot_picture(shot)}" alt="source"').classes("source-thumb")
                ui.label(PurePosixPath(shot.source_image_path).name).classes("text-sm break-all").mark("shot-source")
            else:
                after = "the last frame of the shot before" if shot.shot_number > 1 else "a title card of the shot"
                ui.label(f"None: the video starts from {after}.").classes("text-sm opacity-70").mark("shot-source")
            ui.space()
            ui.button("Choose…", icon="image", on_click=self._choose_source).props("outline dense").mark(
                "choose-source"
            )
            clear = ui.button("Clear", icon="hide_image", on_click=self._clear_source).props("flat dense")
            clear.mark("clear-source").set_enabled(self._has_source())

    async def _choose_source(self) -> None:
        names = {cid: c.name for cid, c in self.characters.items()}
        with self.layout:
            image = await pick_source_image(self.studio, self.project_id, names, self.present.value or [])
        if image is None or self.body is None or self.body.is_deleted:
            return
        self.source, self.source_changed = image, True
        self._show_source()
        self._propose()
        self._mark()

    def _clear_source(self) -> None:
        self.source, self.source_changed = None, True
        self._show_source()
        self._propose()
        self._mark()

    # --- engine -------------------------------------------------------------------------------------

    def _engine_section(self, shot: Shot) -> None:
        ui.label("Video engine").classes("text-sm font-semibold mt-1")
        with ui.row().classes("w-full items-center gap-2 no-wrap"):
            options = {name: limits.label for name, limits in ENGINE_LIMITS.items()}
            options.setdefault(shot.video_engine, shot.video_engine)
            self.engine = (
                ui.select(options, value=shot.video_engine, label="Engine")
                .props("outlined dense")
                .classes("w-56")
                .mark("video-engine")
            )
            self.use_proposal = (
                ui.button("Use the proposal", icon="auto_fix_high", on_click=self._use_proposal)
                .props("flat dense")
                .mark("use-proposal")
            )
        self.proposal = ui.label().classes("text-sm break-words").mark("engine-proposal")
        self.engine_warning = ui.label().classes("text-sm text-warning break-words").mark("engine-warning")
        columns = [
            {"name": key, "label": label, "field": key, "align": "left"}
            for key, label in (
                ("engine", "Engine"),
                ("length", "Length"),
                ("fps", "fps"),
                ("source", "Source image"),
                ("device", "Runs on"),
                ("ready", "Now"),
            )
        ]
        rows = [_limits_row(limits, self.ready) for limits in ENGINE_LIMITS.values()]
        ui.table(columns=columns, rows=rows, row_key="engine").props("dense flat wrap-cells").classes(
            "w-full text-xs"
        ).mark("engine-limits")

    def _seconds(self) -> float | None:
        value = self.duration.value
        return float(value) if isinstance(value, int | float) and math.isfinite(value) else None

    def _propose(self) -> None:
        """Show the engine the studio would pick for the shot as the form has it, and why."""
        present = [cid for cid in self.present.value or [] if cid in self.characters]
        loras = [self.loras[cid] for cid in present if cid in self.loras]
        self.proposed, reason = select_engine(
            shot_type=self.kind.value or "",
            has_characters=bool(present),
            has_source=self._has_source(),
            character_loras=loras,
            available=self.ready,
            seconds=self._seconds(),
        )
        self.proposal.text = f"Proposed: {reason}"
        self.use_proposal.set_enabled(self.proposed != self.engine.value)
        self._check_engine()

    def _check_engine(self) -> None:
        """Say now what generating would refuse: a length the engine cannot make, a source it needs or ignores."""
        shot, engine, seconds = self.shot, self.engine.value, self._seconds()
        assert shot is not None
        continues = not self._has_source() and shot.shot_number > 1  # it starts from the shot before
        warnings = []
        if engine not in self.ready:
            warnings.append(f"No device can run {engine_label(engine)} right now (the Status page says what it lacks).")
        if seconds is not None and engine in ENGINE_LIMITS:
            try:
                check_shot(engine, seconds, self._has_source() or continues)
            except Invalid as exc:
                warnings.append(exc.message[:1].upper() + exc.message[1:] + ".")
        self.engine_warning.text = " ".join(warnings)

    def _use_proposal(self) -> None:
        if self.proposed is not None:
            self.engine.value = self.proposed  # its change handler proposes again

    def _kind_changed(self) -> None:
        self.preset.set_options(self._presets(self.kind.value or ""), value=None)
        self._propose()

    def _preset_chosen(self) -> None:
        if self.preset.value:
            self.motion.value = self.preset.value

    def _present_changed(self) -> None:
        present = list(self.present.value or [])
        speaker = self.speaker.value if self.speaker.value in present else None
        self.speaker.set_options(self._speakers(present), value=speaker)
        self._propose()

    # --- saving and deleting ------------------------------------------------------------------------

    def _changes(self) -> ShotChanges:
        """The form as changes; ValidationError names a field out of range."""
        values: dict[str, Any] = {
            "shot_type": self.kind.value,
            "camera_angle": self.angle.value,
            "duration_seconds": self.duration.value,
            "description": self.description.value or "",
            "motion_prompt": (self.motion.value or "").strip(),
            "characters_present": list(self.present.value or []),
            "dialogue_text": (self.dialogue.value or "").strip(),
            "dialogue_character_id": self.speaker.value,
            "transition_type": self.transition.value,
            "transition_duration": self.transition_seconds.value,
            "video_engine": self.engine.value,
        }
        if self.source_changed:
            if self.source is None:
                values["clear_source"] = True
            else:
                values["source_image_id"] = self.source.id
        return ShotChanges.from_form(values)

    async def _save(self) -> None:
        shot = self.shot
        assert shot is not None
        self.problem.text = ""
        for field, label in ((self.duration, "Seconds"), (self.transition_seconds, "Transition seconds")):
            if field.value is None:
                self.problem.text = f"{label}: enter a number"
                return
        # Until the form is drawn again as saved, a second click would save the same edits twice.
        button = self.save_button
        button.disable()
        try:
            saved = await self.studio.scenes.update_shot(shot.id, self._changes(), self.actor)
        except (ValidationError, Invalid, Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            button.enable()
            return
        if self.unsaved is not None:
            self.unsaved.show(False)  # saved: showing it again must not ask
        await self.show(saved.id)  # the form as saved (the source's path, a refused value put right)
        if not button.is_deleted:  # not drawn again (the shot went meanwhile): this button stays
            button.enable()
        with self.layout:
            ui.notify(f"Shot {saved.shot_number} saved", type="positive")
        await self.on_changed()

    async def _delete(self) -> None:
        shot = self.shot
        assert shot is not None
        self.problem.text = ""
        try:
            deleted = await self.studio.scenes.delete_shot(shot.id, self.actor)
        except (Conflict, NotFound) as exc:
            self.problem.text = explain(exc)
            return
        self.close()
        await self.on_changed()
        # The shot row is gone: Undo makes a new shot with the same settings at the same place.
        renders = " (its renders are not kept)" if any(a.get("video") for a in deleted.attempts) else ""

        async def undo() -> None:
            await self._put_back(deleted)

        with self.layout:
            offer_undo(f"Shot {deleted.shot_number} deleted{renders}", undo)

    async def _put_back(self, shot: Shot) -> None:
        try:
            draft = ShotDraft(
                shot_type=shot.shot_type,  # type: ignore[arg-type]
                camera_angle=shot.camera_angle,  # type: ignore[arg-type]
                duration_seconds=shot.duration_seconds,
                description=shot.description,
                motion_prompt=shot.motion_prompt,
                characters_present=list(shot.characters_present),
                source_image_id=shot.source_image_id,
                dialogue_text=shot.dialogue_text,
                dialogue_character_id=shot.dialogue_character_id,
                transition_type=shot.transition_type,  # type: ignore[arg-type]
                transition_duration=shot.transition_duration,
                video_engine=shot.video_engine,  # type: ignore[arg-type]
                position=shot.shot_number,
            )
            restored = await self.studio.scenes.add_shot(shot.scene_id, draft, self.actor)
        except (ValidationError, Invalid, Conflict, NotFound) as exc:
            with self.layout:
                ui.notify(f"Shot {shot.shot_number} could not be put back: {explain(exc)}", type="warning")
            return
        with self.layout:
            ui.notify(f"Shot {restored.shot_number} put back", type="info")
        await self.on_changed()
