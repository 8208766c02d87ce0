"""The form that starts a LoRA training run: a device that trains, a preset of the character's family (with the
GPU memory it needs), and the overrides prefilled from the preset. The service's refusals show beside the form,
which stays open with everything typed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.confirm import throwaway_dialog
from components.training_readiness import Readiness
from services.errors import Conflict, Invalid, NotFound
from services.training import PRESETS, TrainingPreset
from services.training.presets import preferred_preset, presets_for
from services.training.runs import trainer_of
from studio.models import TrainingRun
from studio.root import Studio

Started = Callable[[TrainingRun], Awaitable[None]]
# The numbers a run may change, as (override field, label, step); alpha follows the rank at half of it.
NUMBERS = (
    ("epochs", "Epochs", 1),
    ("repeats", "Repeats", 1),
    ("rank", "Rank", 1),
    ("resolution", "Resolution", 64),
)


TRAINER_NAMES = {"kohya": "sd-scripts", "comfyui": "ComfyUI's training nodes"}


def training_devices(studio: Studio) -> dict[str, str]:
    """Devices that can train (a kohya sd-scripts folder, or a ComfyUI: whether it has the training nodes is
    asked when the run starts), each labelled with the trainer it would use."""
    return {
        device.name: f"{device.name} · {TRAINER_NAMES[trainer]}"
        for device in studio.settings.devices
        if (trainer := trainer_of(device)) is not None
    }


def fitting_presets(readiness: Readiness) -> list[TrainingPreset]:
    """Presets of the character's family, those of its finer family (NoobAI, Pony...) first, then by memory."""
    return presets_for(readiness.architecture, readiness.profile)


def _preferred(presets: list[TrainingPreset]) -> TrainingPreset | None:
    """The 12 GB preset of the best-fitting family: the common card."""
    return preferred_preset(presets)


def field_problem(exc: Invalid | Conflict | NotFound) -> str:
    """An Invalid as "Field: message" with the form's words for the field (the service names it `overrides.x`)."""
    if not isinstance(exc, Invalid):
        return str(exc)
    field = exc.field.removeprefix("overrides.").replace("_", " ")
    if exc.message.lower().startswith(field.lower()):  # "resolution must be a multiple of 64": says it already
        return exc.message[:1].upper() + exc.message[1:]
    return f"{field[:1].upper()}{field[1:]}: {exc.message}"


async def start_run_dialog(studio: Studio, readiness: Readiness, actor: str, on_started: Started) -> None:
    """Open the form for `readiness.character`; `on_started` runs once the run is queued (the dialog closes)."""
    character = readiness.character
    devices = training_devices(studio)
    presets = fitting_presets(readiness)
    chosen = _preferred(presets)
    with throwaway_dialog() as dialog, ui.card().classes("min-w-[560px] gap-3").mark("start-run-dialog"):
        ui.label(f"Train a LoRA of {character.name}").classes("text-lg font-semibold")
        if not devices:
            ui.label(
                "No device trains LoRAs yet: add a GPU box with ComfyUI (0.3.41 or newer has the training nodes) "
                "or set a device's kohya sd-scripts folder in Settings → Connections."
            ).classes("text-warning").mark("no-trainer")
        with ui.row().classes("w-full gap-3 items-start"):
            device = (
                ui.select(devices, value=next(iter(devices), None), label="Device")
                .props("outlined dense")
                .classes("w-64")
                .mark("run-device")
            )
            preset = (
                ui.select(
                    {p.name: f"{p.label} (needs {p.gpu_memory_gb} GB)" for p in presets},
                    value=chosen.name if chosen else None,
                    label="Preset",
                )
                .props("outlined dense")
                .classes("grow")
                .mark("run-preset")
            )
        trade = ui.label().classes("text-sm opacity-70").mark("preset-trade")
        numbers: dict[str, ui.number] = {}
        with ui.row().classes("w-full gap-3"):
            for field, label, step in NUMBERS:
                numbers[field] = (
                    ui.number(label, step=step, format="%d")
                    .props("outlined dense")
                    .classes("w-28")
                    .mark(f"run-{field}")
                )
            learning_rate = ui.number("Learning rate", format="%g").props("outlined dense").classes("w-32")
            learning_rate.mark("run-learning_rate")
        alpha = ui.label().classes("text-xs opacity-70").mark("run-alpha")
        prompts = (
            ui.textarea(
                "Sample prompts, one a line",
                placeholder="Empty: the studio's four views of the character (front, three-quarter, smiling, "
                "another outfit)",
            )
            .props("outlined autogrow")
            .classes("w-full")
            .mark("run-prompts")
        )
        problem = ui.label().classes("text-negative text-sm whitespace-pre-line").mark("run-problem")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button("Cancel", on_click=dialog.close).props("flat").mark("run-form-cancel")
            start = ui.button("Start", icon="play_arrow").props("unelevated").mark("run-start")
            start.set_enabled(bool(devices and presets))

    def fill(name: str | None) -> None:
        """The preset's values in the fields (a preset change replaces what was typed: it is a new starting point)."""
        found = PRESETS.get(name or "")
        if found is None:
            trade.text = ""
            return
        params = found.params
        trade.text = found.description
        for field, _label, _step in NUMBERS:
            numbers[field].value = getattr(params, field)
        learning_rate.value = params.learning_rate
        prompts.value = "\n".join(params.sample_prompts)
        show_alpha()

    def show_alpha() -> None:
        rank = numbers["rank"].value
        alpha.text = f"Alpha {rank / 2:g} (half the rank)" if rank else ""

    def overrides() -> dict[str, Any] | None:
        values: dict[str, Any] = {}
        for field, label, _step in NUMBERS:
            if numbers[field].value is None:
                problem.text = f"{label}: enter a number"
                return None
            values[field] = int(numbers[field].value)
        if learning_rate.value is None:
            problem.text = "Learning rate: enter a number"
            return None
        values["learning_rate"] = float(learning_rate.value)
        lines = [line.strip() for line in (prompts.value or "").splitlines() if line.strip()]
        if lines:  # none: the service samples the character's four views
            values["sample_prompts"] = lines
        return values

    async def submit() -> None:
        problem.text = ""
        values = overrides()
        if values is None:
            return
        try:
            run = await studio.training.start(
                character.id,  # type: ignore[arg-type]
                device.value or "",
                preset.value or "",
                values,
                actor,
            )
        except (Invalid, Conflict, NotFound) as exc:
            problem.text = field_problem(exc)
            return
        dialog.close()
        await on_started(run)

    preset.on_value_change(lambda e: fill(e.value))
    numbers["rank"].on_value_change(show_alpha)
    start.on_click(submit)
    fill(preset.value)
    dialog.open()
