"""The prompt preview: the exact prompts and parameters the studio would send for a character, and why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from services.errors import Invalid, NotFound
from services.prompts import PromptPlan
from studio.models import GenerationStyle, Project
from studio.root import Studio

PARTS = (
    ("profile", "Model profile"),
    ("species", "Species"),
    ("lora", "LoRA"),
    ("positive", "Positive prompt"),
    ("negative", "Negative prompt"),
    ("params", "Parameters"),
)
ACTION_COLOURS = {"added": "positive", "removed": "negative", "skipped": "grey-7", "chosen": "primary"}
PARAM_ROWS = (
    ("cfg", "CFG scale"),
    ("steps", "Steps"),
    ("sampler", "Sampler"),
    ("scheduler", "Scheduler"),
    ("width", "Width"),
    ("height", "Height"),
    ("prediction_type", "Prediction type"),
    ("rescale_cfg", "Rescale CFG"),
)


def copy(text: str, what: str) -> None:
    ui.clipboard.write(text)
    ui.notify(f"{what} copied")


def prompt_block(title: str, text: str, marker: str) -> None:
    with ui.column().classes("w-full gap-1"):
        with ui.row().classes("w-full items-center"):
            ui.label(title).classes("font-semibold")
            ui.space()
            ui.button("Copy", icon="content_copy", on_click=lambda: copy(text, title)).props("flat dense no-caps")
        ui.label(text or "(empty)").classes(
            "w-full font-mono text-sm whitespace-pre-wrap break-words select-all rounded p-2 border"
        ).mark(marker)


def render_plan(plan: PromptPlan, style: GenerationStyle | None = None) -> None:
    """Everything in the plan, in the order a person checks it (with the model files of `style`, when given)."""
    with ui.row().classes("w-full items-center gap-2"):
        ui.label("Profile").classes("opacity-70")
        ui.label(plan.profile.name).classes("font-semibold").mark("preview-profile")
        ui.badge(plan.architecture).props("outline")
        ui.badge(plan.prompt_format.replace("_", " ")).props("outline")
        if plan.ip_adapter_model:
            ui.badge(f"IP-Adapter {plan.ip_adapter_model}").props("outline")
        for lora in plan.loras:
            trigger = f", trigger {lora.trigger_word}" if lora.trigger_word else ""
            ui.badge(f"LoRA {lora.file_name}, weight {lora.weight:g}{trigger}").props("outline").mark("preview-lora")
        ui.space()
        if plan.non_human:
            ui.badge("not human", color="deep-purple").mark("preview-verdict")
        else:
            ui.badge("human-like", color="teal").mark("preview-verdict")
        for rule in plan.species_rules:
            ui.badge(f"rule {rule.name}", color="deep-purple").props("outline")
    prompt_block("Positive prompt", plan.positive, "preview-positive")
    prompt_block("Negative prompt", plan.negative, "preview-negative")

    ui.label("Parameters").classes("font-semibold")
    with ui.grid(columns="max-content max-content 1fr").classes("gap-x-6 gap-y-0.5 text-sm").mark("preview-params"):
        if style is not None:
            ui.label("Checkpoint").classes("opacity-70")
            ui.label(style.checkpoint_model).classes("font-mono break-all")
            ui.label(f"style {style.name}").classes("opacity-70")
            ui.label("VAE").classes("opacity-70")
            ui.label(style.vae or "the checkpoint's own").classes("font-mono break-all").mark("preview-vae")
            ui.label(f"style {style.name}").classes("opacity-70")
        for key, label in PARAM_ROWS:
            value = getattr(plan.params, key)
            ui.label(label).classes("opacity-70")
            ui.label("not used" if value is None else str(value)).classes("font-mono")
            ui.label(plan.params.sources.get(key, "")).classes("opacity-70")

    ui.label("Verification questions").classes("font-semibold")
    if plan.verification_questions:
        with ui.column().classes("gap-1"):
            for question in plan.verification_questions:
                ui.label(f"• {question}").classes("text-sm")
    else:
        ui.label("None: no species rule matched, so the reviewer asks no species question.").classes(
            "text-sm opacity-70"
        )

    ui.label("Why").classes("font-semibold")
    for part, title in PARTS:
        items = plan.explained(part)
        if not items:
            continue
        with (
            ui.expansion(f"{title} ({len(items)})", value=part in ("profile", "species", "lora"))
            .classes("w-full border rounded")
            .props("dense")
            .mark(f"why-{part}")
        ):
            for item in items:
                with ui.row().classes("w-full items-start no-wrap gap-2 py-0.5"):
                    ui.badge(item.action, color=ACTION_COLOURS.get(item.action, "primary")).classes("mt-0.5")
                    with ui.column().classes("gap-0 min-w-0"):
                        ui.label(item.text).classes("font-mono text-sm break-words")
                        ui.label(item.because).classes("text-xs opacity-70 break-words")


async def prompt_preview(studio: Studio, project: Project, character_id: int) -> Callable[[], Awaitable[None]]:
    """Build the preview in the current context; returns the function that recomputes it (after a save)."""
    styles = [s.name for s in await studio.styles.list()]
    if not styles:
        with ui.column().classes("w-full gap-2 items-start").mark("preview-no-style"):
            ui.label("No generation style exists yet, so there is nothing to preview.")
            ui.label(
                "Define a style (checkpoint, sampler, size) on the Story & World page, "
                "make it the project's default, then come back here."
            ).classes("text-sm opacity-80")
            story = f"/story?project={project.id}"
            ui.button("Open Story & World", icon="auto_stories", on_click=lambda: ui.navigate.to(story)).props(
                "outline"
            )

        async def nothing() -> None:
            return None

        return nothing

    default = project.default_style if project.default_style in styles else None
    with ui.row().classes("w-full items-end gap-3"):
        style = ui.select(styles, value=default, label="Style").classes("w-56").props("outlined dense")
        pose = (
            ui.input("Pose (optional)")
            .classes("grow")
            .props('outlined dense hint="e.g. standing, arms crossed; Enter to apply"')
        )
        ui.button("Update preview", icon="refresh", on_click=lambda: show()).props("outline")
    if default is None:
        ui.label(
            "This project has no default style: pick one above to preview, "
            "or set the default on the Story & World page (/story)."
        ).classes("text-sm text-warning").mark("preview-no-default")
    ui.label("The preview shows the saved character: save your changes to see them here.").classes("text-xs opacity-70")

    @ui.refreshable
    def body(plan: PromptPlan | None, problem: str, chosen: GenerationStyle | None = None) -> None:
        if problem:
            ui.label(problem).classes("text-negative").mark("preview-problem")
        elif plan is not None:
            render_plan(plan, chosen)
        else:
            ui.label("Pick a style to see the prompts.").classes("opacity-70")

    async def show() -> None:
        if not style.value:
            await body.refresh(None, "")
            return
        try:
            plan = await studio.characters.prompt_preview(character_id, style.value, pose.value or "")
            chosen = await studio.styles.get(style.value)
        except Invalid as exc:
            await body.refresh(None, exc.message)
            return
        except NotFound as exc:
            await body.refresh(None, f"{exc}; it may have been removed: reload the page")
            return
        await body.refresh(plan, "", chosen)

    with ui.column().classes("w-full gap-3"):
        body(None, "")
    style.on_value_change(show)
    pose.on("keydown.enter", show)
    pose.on("blur", show)
    await show()
    return show
