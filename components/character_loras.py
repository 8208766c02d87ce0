"""A character's registered LoRAs in the editor: which one its images load, register another, switch,
unregister, delete with Undo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.character_references import problem_text
from components.model_picker import offer_models
from components.undo import offer_undo
from services.errors import Conflict, Invalid, NotFound
from services.training.loras import FAMILIES, FAMILY_NAMES
from studio.models import Character, CharacterLora
from studio.root import Studio

Changed = Callable[[], Awaitable[None]]


async def character_loras(studio: Studio, character: Character, actor: str, on_change: Changed) -> None:
    """Build the section in the current context; `on_change` runs after every change (the preview follows)."""
    character_id: int = character.id  # type: ignore[assignment]
    host = ui.column().classes("w-full gap-3").mark("character-loras")

    @ui.refreshable
    def rows(loras: list[CharacterLora]) -> None:
        active = next((lora for lora in loras if lora.active), None)
        with ui.row().classes("w-full items-center gap-2"):
            if active is None:
                ui.label(f"{character.name}'s images load no LoRA.").classes("text-sm").mark("lora-none")
            else:
                ui.label(f"{character.name}'s images load {active.file_name}.").classes("text-sm").mark("lora-in-use")
                ui.space()
                ui.button("Use no LoRA", icon="block", on_click=deactivate).props("flat dense no-caps").mark(
                    "lora-deactivate"
                )
        for lora in loras:
            with ui.card().classes("w-full p-2").mark("lora-row"):
                with ui.row().classes("w-full items-center gap-2 no-wrap"):
                    ui.label(lora.file_name).classes("font-mono text-sm break-all grow")
                    if lora.active:
                        ui.badge("in use", color="positive").mark("lora-active")
                    else:
                        ui.button("Use", on_click=lambda lora=lora: activate(lora)).props("outline dense no-caps").mark(
                            f"lora-use-{lora.id}"
                        )
                    ui.button(icon="delete", on_click=lambda lora=lora: delete(lora)).props(
                        'flat round dense color=negative aria-label="Delete LoRA"'
                    ).tooltip("Delete this LoRA (Undo for a few seconds)").mark(f"lora-delete-{lora.id}")
                with ui.row().classes("gap-2 text-xs"):
                    family = FAMILY_NAMES.get(lora.family, lora.family)
                    ui.badge(f"{family} {lora.family_label}".strip()).props("outline")
                    if lora.epoch is not None:
                        ui.badge(f"epoch {lora.epoch}").props("outline")
                    ui.badge(f"weight {lora.weight:g}").props("outline")
                    trigger = lora.trigger_word or "no trigger word"
                    ui.badge(trigger).props("outline").mark("lora-trigger")

    async def reload() -> None:
        rows.refresh(await studio.loras.list(character_id))

    async def changed() -> None:
        await reload()
        await on_change()

    async def attempt(action: Callable[[], Awaitable[object]]) -> bool:
        problem.text = ""
        try:
            await action()
        except (Invalid, Conflict, NotFound) as exc:
            problem.text = problem_text(exc)
            return False
        return True

    async def activate(lora: CharacterLora) -> None:
        if await attempt(lambda: studio.loras.activate(character_id, lora.id, actor)):  # type: ignore[arg-type]
            await changed()

    async def deactivate() -> None:
        if await attempt(lambda: studio.loras.deactivate(character_id, actor)):
            await changed()

    async def delete(lora: CharacterLora) -> None:
        if not await attempt(lambda: studio.loras.delete(character_id, lora.id, actor)):  # type: ignore[arg-type]
            return
        await changed()

        async def undo() -> None:
            if await attempt(lambda: studio.loras.restore(character_id, lora.id, actor)):  # type: ignore[arg-type]
                await changed()

        with host:
            offer_undo(f"Deleted LoRA {lora.file_name}", undo)

    async def register() -> None:
        if not (file_name.value or "").strip():
            problem.text = "Name the LoRA file (as ComfyUI's loras folder lists it)."
            return
        registration = None

        async def do() -> None:
            nonlocal registration
            registration = await studio.loras.register(
                character_id,
                file_name.value or "",
                family=family.value,
                family_label=label.value or "",
                trigger_word=trigger.value or "",
                weight=float(weight.value if weight.value is not None else 0.8),
                epoch=int(epoch.value) if epoch.value is not None else None,
                actor=actor,
            )

        if not await attempt(do):
            return
        assert registration is not None
        file_name.value = ""
        epoch.value = None
        if registration.warning:
            with host:
                ui.notify(registration.warning, type="warning", multi_line=True)
        await changed()

    with host:
        ui.label("The LoRA a character's image generations load, with its trigger word first in the prompt.").classes(
            "text-sm opacity-80"
        )
        rows([])
        problem = ui.label("").classes("text-negative text-sm").mark("lora-problem")
        ui.label("Register a LoRA file").classes("font-semibold")
        with ui.row().classes("w-full items-start gap-3"):
            file_name = (
                ui.input("LoRA file", placeholder="koopa_v2-000008.safetensors")
                .classes("grow")
                .props("outlined dense")
                .mark("lora-file")
            )
            family = (
                ui.select({f: FAMILY_NAMES[f] for f in FAMILIES}, value=await _style_family(studio, character_id))
                .props('outlined dense label="Base model"')
                .classes("w-32")
                .mark("lora-family")
            )
            label = (
                ui.input("Family", placeholder="Illustrious, Pony…")
                .props("outlined dense")
                .classes("w-40")
                .mark("lora-family-label")
            )
        with ui.row().classes("w-full items-start gap-3"):
            trigger = (
                ui.input("Trigger word", value=character.trigger_word)
                .props("outlined dense")
                .classes("w-48")
                .mark("lora-trigger-word")
            )
            weight = (
                ui.number("Weight", value=0.8, min=0, max=2, step=0.05, format="%.2f")
                .props("outlined dense")
                .classes("w-28")
                .mark("lora-weight")
            )
            epoch = (
                ui.number("Epoch", min=0, step=1, format="%d")
                .props("outlined dense")
                .classes("w-28")
                .mark("lora-epoch")
            )
            ui.button("Register", icon="add", on_click=register).mark("lora-register")
    await reload()

    async def offer_files() -> None:
        offer_models(file_name, await studio.capabilities.model_files("loras"), "lora-file")

    # A device that does not answer takes its timeout to say so: the editor opens (and takes a typed name) first.
    ui.timer(0, offer_files, once=True)


async def _style_family(studio: Studio, character_id: int) -> str:
    """The architecture the character is drawn with (its project's default style), to register for."""
    try:
        return (await studio.characters.prompt_preview(character_id)).architecture
    except (Invalid, NotFound):
        return FAMILIES[0]
