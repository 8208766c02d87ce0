"""The generation style dialog: every StyleDraft field, with the model profile the checkpoint matches; it marks
unsaved edits and asks before Cancel or Esc drops them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from nicegui import ui
from pydantic import ValidationError

from components.form_errors import explain
from components.model_picker import offer_models
from components.story_widgets import editor_dialog, error_label, optional, show_error
from components.unsaved import EditorGuard
from services.bible.schemas import StyleDraft
from services.errors import StudioError
from services.prompts import SAMPLERS, ModelProfile, match_profile, validate_size
from studio.models import GenerationStyle
from studio.root import Studio

ARCHITECTURES = {"": "From profile", "sd15": "SD 1.5", "sdxl": "SDXL"}
PROMPT_FORMATS = {"": "From profile", "prose": "Prose", "booru_tags": "Booru tags"}


def profile_line(profile: ModelProfile) -> str:
    return (
        f"{profile.name} · {profile.architecture} · {profile.prompt_format.replace('_', ' ')} · "
        f"sides {profile.min_side}-{profile.max_side} px"
    )


def sampler_options(current: str | None) -> list[str]:
    options = list(SAMPLERS)
    if current and current not in options:
        options.append(current)
    return options


def number(element: ui.number, label: str) -> float:
    if element.value is None:
        raise ValueError(f"{label} is required")
    return float(element.value)


def whole(element: ui.number, label: str) -> int:
    value = number(element, label)
    if value != int(value):
        raise ValueError(f"{label} must be a whole number")
    return int(value)


async def open_style_editor(
    studio: Studio,
    actor: str,
    saved: Callable[[str], Awaitable[None]],
    style: GenerationStyle | None = None,
    template: GenerationStyle | None = None,
) -> None:
    """Edit `style`, or create a new one (starting from `template`'s values when given).

    `saved(name)` runs after the service accepted the style.
    """
    profiles = await studio.library.model_profiles()
    title = "New generation style" if style is None else f"Edit style '{style.name}'"
    dialog, body = editor_dialog(title, "style-dialog")
    start = style or template or GenerationStyle(name="", checkpoint_model="")
    with body:
        with ui.grid(columns="1fr 2fr").classes("w-full gap-3"):
            name = ui.input("Name", value=start.name).props("outlined dense").mark("style-name")
            if style is not None:
                name.disable()
                name.tooltip("Styles are referenced by name; create a new style to use another name")
            checkpoint = (
                ui.input(
                    "Checkpoint file", value=start.checkpoint_model, placeholder="e.g. noobaiXLVpred_v10.safetensors"
                )
                .props("outlined dense")
                .mark("style-checkpoint")
            )
            ui.element("div")  # the VAE sits under the checkpoint
            vae = (
                ui.input("VAE file", value=start.vae or "", placeholder="empty: the checkpoint's own VAE")
                .props("outlined dense clearable")
                .mark("style-vae")
            )
        with ui.row().classes("w-full items-center gap-2 text-sm"):
            ui.icon("memory").classes("opacity-60")
            matched = ui.label().mark("style-profile")
        reason = ui.label().classes("text-xs opacity-60 -mt-2")
        sizes = ui.label().classes("text-sm text-warning").mark("style-size-warning")
        with ui.grid(columns=4).classes("w-full gap-3"):
            cfg = ui.number("CFG scale", value=start.cfg_scale, min=1, max=30, step=0.5).props("outlined dense")
            steps = ui.number("Steps", value=start.steps, min=1, max=150, precision=0).props("outlined dense")
            width = ui.number("Width", value=start.width, min=256, max=2048, step=8, precision=0)
            height = ui.number("Height", value=start.height, min=256, max=2048, step=8, precision=0)
        cfg.mark("style-cfg")
        steps.mark("style-steps")
        width.props("outlined dense suffix=px").mark("style-width")
        height.props("outlined dense suffix=px").mark("style-height")
        with ui.grid(columns=4).classes("w-full gap-3"):
            sampler = (
                ui.select(
                    sampler_options(start.sampler), value=start.sampler, label="Sampler", new_value_mode="add-unique"
                )
                .props("outlined dense hint='Or type a name + Enter'")
                .mark("style-sampler")
            )
            scheduler = ui.input("Scheduler", value=start.scheduler or "", placeholder="from the sampler")
            scheduler.props("outlined dense").mark("style-scheduler")
            architecture = ui.select(ARCHITECTURES, value=start.model_architecture or "", label="Architecture")
            architecture.props("outlined dense").mark("style-architecture")
            prompt_format = ui.select(PROMPT_FORMATS, value=start.prompt_format or "", label="Prompt format")
            prompt_format.props("outlined dense").mark("style-prompt-format")
        positive = ui.textarea("Positive prompt template", value=start.positive_prompt_template)
        positive.props("outlined autogrow").classes("w-full").mark("style-positive")
        negative = ui.textarea("Negative prompt template", value=start.negative_prompt_template)
        negative.props("outlined autogrow").classes("w-full").mark("style-negative")
        error = error_label("style-error")
        with ui.row().classes("w-full justify-end items-center gap-2"):
            guard = EditorGuard(dialog, f"the style '{style.name}'" if style else "the new style", "style-unsaved")
            ui.button("Cancel", on_click=guard.close).props("flat").mark("style-cancel")
            save_button = ui.button("Save style", icon="save").props("unelevated").mark("style-save")
        guard.unsaved.watch(
            name, checkpoint, vae, cfg, steps, width, height, sampler, scheduler, architecture, prompt_format,
            positive, negative,
        )  # fmt: skip

    def show_profile() -> None:
        try:
            profile, why = match_profile(checkpoint.value or "", profiles)
        except ValueError as exc:  # no catch-all profile left in the library
            matched.text, reason.text, sizes.text = str(exc), "", ""
            return
        matched.text = f"Model profile: {profile_line(profile)}"
        reason.text = why[:1].upper() + why[1:]
        problems = []
        if isinstance(width.value, int | float) and isinstance(height.value, int | float):
            problems = validate_size(int(width.value), int(height.value), profile)
        sizes.text = "; ".join(problems).capitalize()
        sizes.visible = bool(problems)

    for element in (checkpoint, width, height):
        element.on_value_change(show_profile)
    show_profile()

    async def save() -> None:
        try:
            draft = StyleDraft(
                name=name.value or "",
                checkpoint_model=checkpoint.value or "",
                cfg_scale=number(cfg, "CFG scale"),
                steps=whole(steps, "Steps"),
                sampler=(sampler.value or "").strip(),
                scheduler=optional(scheduler.value),
                width=whole(width, "Width"),
                height=whole(height, "Height"),
                positive_prompt_template=positive.value or "",
                negative_prompt_template=negative.value or "",
                model_architecture=architecture.value or None,
                prompt_format=prompt_format.value or None,
                vae=optional(vae.value),
            )
            if style is None:
                await studio.styles.create(draft, actor)
            else:
                await studio.styles.put(style.name, draft, actor)
        except (ValidationError, StudioError, ValueError) as exc:
            show_error(error, explain(exc))
            return
        # Before closing: a closed editor removes itself, and a notification from a removed element raises.
        ui.notify(f"Style '{draft.name}' saved", type="positive")
        guard.saved()
        await saved(draft.name)

    save_button.on_click(save)
    # Asked after the dialog shows: a slow device delays only the drop-down. The studio accepts a checkpoint or
    # VAE by its file name alone, so files ComfyUI lists in subfolders are not offered.
    checkpoints, vaes = await asyncio.gather(
        studio.capabilities.model_files("checkpoints"), studio.capabilities.model_files("vae")
    )
    if not dialog.is_deleted:
        offer_models(checkpoint, [name for name in checkpoints if "/" not in name], "style-checkpoint")
        offer_models(vae, [name for name in vaes if "/" not in name], "style-vae")
