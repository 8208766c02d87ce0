"""Species rules: keywords that identify a species, its negatives and the question a review asks."""

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
    marker_name,
    show_error,
)
from components.unsaved import EditorGuard
from services.bible.schemas import SpeciesRuleDraft
from services.errors import Conflict, StudioError
from services.prompts import NON_HUMAN_NEGATIVES
from studio.models import SpeciesRuleRow
from studio.root import Studio

HEADERS = ("Species", "Keywords", "Non-human", "Negatives", "Review asks", "")


def rule_draft(row: SpeciesRuleRow) -> SpeciesRuleDraft:
    return SpeciesRuleDraft(**{name: getattr(row, name) for name in SpeciesRuleDraft.model_fields})


def _short(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" +{len(items) - limit} more" if len(items) > limit else "")


class RuleList(LibraryTable):
    noun = "rule"
    entity = "species_rule"
    headers = HEADERS
    explanation = (
        "When a character's species text contains a rule's keyword, the rule adds its negatives to the "
        f"character's prompts (non-human species also get '{', '.join(NON_HUMAN_NEGATIVES)}') and gives "
        "the verification question a review asks about each image."
    )
    reset_message = "Your changes to this rule are replaced by the values the studio ships with."
    delete_message = "Characters of this species lose its negatives."

    async def load(self) -> list[SpeciesRuleRow]:
        return await self.studio.library.rules()

    def cells(self, row: SpeciesRuleRow) -> None:
        with cell(classes="whitespace-nowrap"), ui.row().classes("items-center gap-1 no-wrap"):
            ui.label(row.name).classes("font-medium")
            if row.builtin:
                ui.badge("built-in").props("outline")
        cell(_short(row.keywords), "text-xs")
        with cell(classes="text-center"):
            ui.icon("check" if row.non_human else "remove").classes("opacity-70")
        cell(_short(row.negatives) or "none", "text-xs").mark(f"rule-negatives-{marker_name(row.name)}")
        cell(row.verification_question or "no question", "text-xs")

    def open_editor(self, row: SpeciesRuleRow | None) -> None:
        open_rule_editor(self.studio, self.actor, row, self.refresh)

    def draft(self, row: SpeciesRuleRow) -> BaseModel:
        return rule_draft(row)

    def save(self, draft: BaseModel) -> Awaitable[object]:
        return self.studio.library.save_rule(draft, self.actor)

    def remove(self, name: str) -> Awaitable[None]:
        return self.studio.library.delete_rule(name, self.actor)


def open_rule_editor(
    studio: Studio, actor: str, row: SpeciesRuleRow | None, saved: Callable[[], Awaitable[None]]
) -> None:
    start = row or SpeciesRuleRow(name="")
    title = "New species rule" if row is None else f"Edit species rule '{row.name}'"
    dialog, body = editor_dialog(title, "rule-dialog")
    with body:
        with ui.row().classes("w-full items-center gap-4 no-wrap"):
            name = ui.input("Species", value=start.name).props("outlined dense").classes("grow").mark("rule-name")
            if row is not None:
                name.disable()
            non_human = ui.switch("Not human", value=start.non_human).mark("rule-non-human")
        keywords = chips("Keywords found in a character's species", start.keywords, "rule-keywords")
        negatives = chips("Negatives added to prompts", start.negatives, "rule-negatives")
        question = ui.textarea("Verification question", value=start.verification_question)
        question.props("outlined dense autogrow hint='A yes/no question the review asks about each image'")
        question.classes("w-full").mark("rule-question")
        with ui.grid(columns=2).classes("w-full gap-3"):
            look_for = chips("Review looks for", start.look_for, "rule-look-for")
            wrong_if = chips("Image is wrong if", start.wrong_if, "rule-wrong-if")
        error = error_label("rule-error")
        with ui.row().classes("w-full justify-end items-center gap-2"):
            guard = EditorGuard(dialog, f"the species rule '{start.name}'" if row else "the new rule", "rule-unsaved")
            ui.button("Cancel", on_click=guard.close).props("flat").mark("rule-cancel")
            save_button = ui.button("Save rule", icon="save").props("unelevated").mark("rule-save")
        guard.unsaved.watch(name, non_human, keywords, negatives, question, look_for, wrong_if)

    async def save() -> None:
        try:
            draft = SpeciesRuleDraft(
                name=name.value or "",
                keywords=list(keywords.value or []),
                non_human=bool(non_human.value),
                negatives=list(negatives.value or []),
                verification_question=question.value or "",
                look_for=list(look_for.value or []),
                wrong_if=list(wrong_if.value or []),
            )
            if row is None and draft.name in {r.name for r in await studio.library.rules()}:
                raise Conflict(f"a species rule named '{draft.name}' already exists; edit that one instead")
            await studio.library.save_rule(draft, actor)
        except (ValidationError, StudioError, ValueError) as exc:
            show_error(error, explain(exc))
            return
        guard.saved()
        ui.notify(f"Rule '{draft.name}' saved", type="positive")
        await saved()

    save_button.on_click(save)
