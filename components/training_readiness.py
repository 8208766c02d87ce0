"""Whether each character of a project can be trained: approved images against the minimum, images without a
caption, the base model family its style draws with, its active LoRA, and, when not ready, the training export's
own reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nicegui import ui

from components.character_references import problem_text
from services.datasets import ImageQuery
from services.errors import Invalid, NotFound
from services.training.loras import FAMILY_NAMES
from studio.models import ApprovalState, Character, CharacterLora
from studio.root import Studio

OnTrain = Callable[["Readiness"], object]


@dataclass(frozen=True)
class Readiness:
    character: Character
    approved: int
    needed: int
    uncaptioned: int
    architecture: str | None  # sd15 or sdxl; None: no style to tell
    family: str  # "SDXL · NoobAI-XL (noob)", or "" without a style
    profile: str  # the style's model profile ("NoobAI-XL"), which picks the finer family's presets
    lora: CharacterLora | None
    problem: str | None  # why a training set cannot be made; None: ready

    @property
    def ready(self) -> bool:
        return self.problem is None


async def project_readiness(studio: Studio, project_id: int) -> list[Readiness]:
    """Every live character of the project, by name."""
    cards = await studio.characters.cards(project_id)
    ids: list[int] = [card.character.id for card in cards]  # type: ignore[misc]
    active = await studio.loras.active_for(ids)
    needed = studio.settings.training_min_images
    found = []
    for card in cards:
        character = card.character
        character_id: int = character.id  # type: ignore[assignment]
        uncaptioned = await studio.datasets.page(
            ImageQuery(
                project_id=project_id,
                character_id=character_id,
                states=(ApprovalState.APPROVED,),
                no_caption=True,
                limit=1,
            )
        )
        architecture, profile, family = await _family(studio, character)
        found.append(
            Readiness(
                character=character,
                approved=card.dataset.get(ApprovalState.APPROVED.value, 0),
                needed=needed,
                uncaptioned=uncaptioned.total,
                architecture=architecture,
                family=family,
                profile=profile,
                lora=active.get(character_id),
                problem=await _problem(studio, character_id),
            )
        )
    return found


async def _family(studio: Studio, character: Character) -> tuple[str | None, str, str]:
    """(architecture, model profile, the family in words) of the style the character is drawn with."""
    try:
        plan, style = await studio.characters.plan(character, None)
    except (Invalid, NotFound):
        return None, "", ""
    family = FAMILY_NAMES.get(plan.architecture, plan.architecture)
    return plan.architecture, plan.profile.name, f"{family} · {plan.profile.name} ({style.name})"


async def _problem(studio: Studio, character_id: int) -> str | None:
    """The export's refusal, in its words: the same check a run's start makes, so the page never says ready when
    Start would refuse for the training set."""
    try:
        await studio.training_export.training_set(character_id)
    except (Invalid, NotFound) as exc:
        return problem_text(exc)
    return None


def readiness_row(readiness: Readiness, on_train: OnTrain) -> None:
    """One character's card: counts, family, active LoRA, and Train (or why not)."""
    character = readiness.character
    slug = character.slug
    with ui.card().classes("w-full p-3").mark(f"readiness-{slug}"):
        with ui.row().classes("w-full items-center gap-3"):
            ui.label(character.name).classes("text-base font-semibold")
            if readiness.ready:
                ui.badge("ready", color="positive").mark(f"ready-{slug}")
            else:
                ui.badge("not ready", color="warning").mark(f"not-ready-{slug}")
            ui.space()
            train = ui.button("Train", icon="model_training", on_click=lambda: on_train(readiness))
            train.props("unelevated dense no-caps").mark(f"train-{slug}")
            train.set_enabled(readiness.ready)
        with ui.row().classes("gap-x-6 gap-y-1 text-sm"):
            enough = readiness.approved >= readiness.needed
            ui.label(f"{readiness.approved} approved of at least {readiness.needed}").classes(
                "" if enough else "text-warning"
            ).mark(f"approved-{slug}")
            ui.label(
                f"{readiness.uncaptioned} without a caption" if readiness.uncaptioned else "every image has a caption"
            ).classes("text-warning" if readiness.uncaptioned else "").mark(f"uncaptioned-{slug}")
            ui.label(readiness.family or "no style to tell the base model").mark(f"family-{slug}")
            if readiness.lora is not None:
                epoch = f", epoch {readiness.lora.epoch}" if readiness.lora.epoch is not None else ""
                ui.label(f"LoRA in use: {readiness.lora.file_name}{epoch}").mark(f"lora-{slug}")
            else:
                ui.label("no LoRA in use").classes("opacity-70").mark(f"lora-{slug}")
            # The LoRA list (switch, unregister, delete) lives in the character editor: link there, not a copy.
            ui.link("LoRAs in the editor", f"/characters?project={character.project_id}&character={character.id}")
        if readiness.problem is not None:
            ui.label(readiness.problem).classes("text-sm text-warning").mark(f"why-{slug}")
