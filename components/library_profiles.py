"""Model profiles: the checkpoint families in matching order, edited in a dialog, built-ins resettable."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui
from pydantic import BaseModel, ValidationError

from components.form_errors import explain
from components.library_table import LibraryTable
from components.story_widgets import (
    cell,
    chips,
    editor_dialog,
    error_label,
    optional,
    show_error,
)
from components.style_editor import number, sampler_options, whole
from components.unsaved import EditorGuard
from services.bible.schemas import ProfileDraft
from services.errors import Conflict, StudioError
from studio.models import ModelProfileRow
from studio.root import Studio

HEADERS = ("Priority", "Profile", "Checkpoint file names containing", "Family", "Sides", "Defaults", "")
ARCHITECTURES = {"sd15": "SD 1.5", "sdxl": "SDXL"}
PROMPT_FORMATS = {"prose": "Prose sentences", "booru_tags": "Booru tags"}
PREDICTIONS = {"epsilon": "epsilon", "v_prediction": "v-prediction"}


def profile_draft(row: ModelProfileRow) -> ProfileDraft:
    return ProfileDraft(**{name: getattr(row, name) for name in ProfileDraft.model_fields})


class ProfileList(LibraryTable):
    noun = "profile"
    entity = "model_profile"
    headers = HEADERS
    explanation = (
        "A style's checkpoint file name picks its profile: profiles are tried from the lowest priority up, "
        "and the first whose text appears in the file name (ignoring case and separators) wins. "
        "A profile without match texts catches everything else."
    )
    reset_message = "Your changes to this profile are replaced by the values the studio ships with."
    delete_message = "Styles it matched fall back to other profiles."

    async def load(self) -> list[ModelProfileRow]:
        return await self.studio.library.profiles()

    def cells(self, row: ModelProfileRow) -> None:
        cell(str(row.priority), "w-16")
        with cell(classes="whitespace-nowrap"), ui.row().classes("items-center gap-1 no-wrap"):
            ui.label(row.name).classes("font-medium")
            if row.builtin:
                ui.badge("built-in").props("outline")
        cell(", ".join(row.match) if row.match else "anything else (catch-all)", "text-xs")
        family = f"{ARCHITECTURES.get(row.architecture, row.architecture)} · {row.prompt_format.replace('_', ' ')}"
        cell(family + (" · v-pred" if row.prediction_type == "v_prediction" else ""))
        cell(f"{row.min_side}-{row.max_side}")
        cell(f"cfg {row.default_cfg:g} · {row.default_steps} steps · {row.default_sampler or 'style sampler'}")

    def open_editor(self, row: ModelProfileRow | None) -> None:
        open_profile_editor(self.studio, self.actor, row, self.refresh)

    def draft(self, row: ModelProfileRow) -> BaseModel:
        return profile_draft(row)

    def save(self, draft: BaseModel) -> Awaitable[object]:
        return self.studio.library.save_profile(draft, self.actor)

    def remove(self, name: str) -> Awaitable[None]:
        return self.studio.library.delete_profile(name, self.actor)


def open_profile_editor(
    studio: Studio, actor: str, row: ModelProfileRow | None, saved: Callable[[], Awaitable[None]]
) -> None:
    start = row or ModelProfileRow(name="")
    title = "New model profile" if row is None else f"Edit profile '{row.name}'"
    dialog, body = editor_dialog(title, "profile-dialog", width="920px")
    dense = "outlined dense"
    with body:
        with ui.grid(columns="2fr 1fr 1fr 1fr 1fr").classes("w-full gap-3"):
            name = ui.input("Name", value=start.name).props(dense).mark("profile-name")
            if row is not None:
                name.disable()
            priority = ui.number("Priority", value=start.priority, min=0, max=10_000, precision=0).props(dense)
            architecture = ui.select(ARCHITECTURES, value=start.architecture, label="Architecture").props(dense)
            prompt_format = ui.select(PROMPT_FORMATS, value=start.prompt_format, label="Prompt format").props(dense)
            prediction = ui.select(PREDICTIONS, value=start.prediction_type, label="Prediction").props(dense)
        match = chips("Checkpoint file names containing (empty: catch-all)", start.match, "profile-match")
        ui.label("Prompt").classes("font-medium mt-2")
        with ui.grid(columns=2).classes("w-full gap-3"):
            quality_prefix = ui.textarea("Quality prefix", value=start.quality_prefix).props(f"{dense} autogrow")
            quality_negative = ui.textarea("Quality negative", value=start.quality_negative).props(f"{dense} autogrow")
        strip = chips("Style phrases to strip from booru-tag prompts", start.strip_style_tags, "profile-strip")
        with ui.grid(columns=3).classes("w-full gap-3"):
            solo = ui.input("Solo suffix", value=start.solo_suffix).props(dense)
            background = ui.input("Background suffix", value=start.background_suffix).props(dense)
            style_label = ui.input("Style label", value=start.style_label).props(dense)
        ui.label("Generation defaults").classes("font-medium mt-2")
        with ui.grid(columns=5).classes("w-full gap-3"):
            cfg = ui.number("CFG", value=start.default_cfg, min=1, max=30, step=0.5).props(dense)
            steps = ui.number("Steps", value=start.default_steps, min=1, max=150, precision=0).props(dense)
            sampler = ui.select(
                sampler_options(start.default_sampler),
                value=start.default_sampler,
                label="Sampler",
                new_value_mode="add-unique",
                clearable=True,
            ).props(dense)
            scheduler = ui.input("Scheduler", value=start.default_scheduler or "").props(dense)
            rescale = ui.number("Rescale CFG", value=start.rescale_cfg, min=0, max=1, step=0.05).props(
                f"{dense} clearable"
            )
        ui.label("Sizes and review").classes("font-medium mt-2")
        with ui.grid(columns=4).classes("w-full gap-3"):
            min_side = ui.number("Smallest side", value=start.min_side, min=64, max=4096, step=8, precision=0)
            max_side = ui.number("Largest side", value=start.max_side, min=64, max=4096, step=8, precision=0)
            offset = ui.number("Review threshold offset", value=start.threshold_offset, min=-0.5, max=0.5, step=0.05)
            ip_adapter = ui.input("IP-Adapter model", value=start.ip_adapter_model or "")
        for element in (min_side, max_side, offset, ip_adapter):
            element.props(dense)
        vision_hint = ui.textarea("Hint for the vision reviewer", value=start.vision_hint).props(f"{dense} autogrow")
        vision_hint.classes("w-full")
        error = error_label("profile-error")
        with ui.row().classes("w-full justify-end items-center gap-2"):
            what = f"the model profile '{start.name}'" if row else "the new model profile"
            guard = EditorGuard(dialog, what, "profile-unsaved")
            ui.button("Cancel", on_click=guard.close).props("flat").mark("profile-cancel")
            save_button = ui.button("Save profile", icon="save").props("unelevated").mark("profile-save")
        guard.unsaved.watch(
            name, priority, architecture, prompt_format, prediction, match, quality_prefix, quality_negative, strip,
            solo, background, style_label, cfg, steps, sampler, scheduler, rescale, min_side, max_side, offset,
            ip_adapter, vision_hint,
        )  # fmt: skip

    async def save() -> None:
        try:
            draft = ProfileDraft(
                name=name.value or "",
                match=list(match.value or []),
                priority=whole(priority, "Priority"),
                architecture=architecture.value,
                prompt_format=prompt_format.value,
                quality_prefix=quality_prefix.value or "",
                quality_negative=quality_negative.value or "",
                strip_style_tags=list(strip.value or []),
                solo_suffix=(solo.value or "").strip(),
                background_suffix=(background.value or "").strip(),
                ip_adapter_model=optional(ip_adapter.value),
                vision_hint=vision_hint.value or "",
                style_label=(style_label.value or "").strip(),
                default_cfg=number(cfg, "CFG"),
                default_steps=whole(steps, "Steps"),
                default_sampler=optional(sampler.value),
                default_scheduler=optional(scheduler.value),
                prediction_type=prediction.value,
                rescale_cfg=rescale.value,
                min_side=whole(min_side, "Smallest side"),
                max_side=whole(max_side, "Largest side"),
                threshold_offset=number(offset, "Review threshold offset"),
            )
            if row is None and draft.name in {p.name for p in await studio.library.profiles()}:
                raise Conflict(f"a model profile named '{draft.name}' already exists; edit that one instead")
            await studio.library.save_profile(draft, actor)
        except (ValidationError, StudioError, ValueError) as exc:
            show_error(error, explain(exc))
            return
        guard.saved()
        ui.notify(f"Profile '{draft.name}' saved", type="positive")
        await saved()

    save_button.on_click(save)
