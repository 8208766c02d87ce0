"""Each character's replenishment standing: approved images against its target, images waiting for review, and
the replenishment loop's last word about it (what it launched, or why it waits: cooldown, daily limit, the
pause after rejections in a row)."""

from __future__ import annotations

from dataclasses import dataclass

from nicegui import ui

from services.bible import CharacterCard
from studio.models import ApprovalState, AutonomyDecision
from studio.root import Studio


@dataclass(frozen=True)
class Standing:
    approved: int
    pending: int
    target: int
    last: AutonomyDecision | None  # the replenishment loop's newest decision about the character


async def standings(studio: Studio, cards: list[CharacterCard], targets: dict[int, int]) -> dict[int, Standing]:
    """Per live character id (a page's few characters: one small read each for the last decision)."""
    found = {}
    for card in cards:
        character_id: int = card.character.id  # type: ignore[assignment]
        last = await studio.autonomy.log.list(character_id=character_id, loops=("replenishment",), limit=1)
        found[character_id] = Standing(
            approved=card.dataset.get(ApprovalState.APPROVED.value, 0),
            pending=card.dataset.get(ApprovalState.PENDING.value, 0),
            target=targets.get(character_id, 0),
            last=last[0] if last else None,
        )
    return found


def standing_line(character_id: int, standing: Standing, autonomy_on: bool) -> None:
    with ui.row().classes("w-full items-center gap-2 text-sm").mark(f"standing-{character_id}"):
        ui.icon("photo_library").classes("opacity-60")
        reached = standing.approved >= standing.target
        ui.label(f"{standing.approved} of {standing.target} approved images").classes(
            "" if reached else "text-warning"
        ).mark(f"approved-{character_id}")
        if standing.pending:
            ui.label(f"{standing.pending} waiting for review").classes("opacity-80")
        if not autonomy_on:
            ui.label("replenishment is off (switch Autonomy on)").classes("opacity-70")
        elif standing.last is not None:
            last = standing.last
            ui.label(f"replenishment {last.outcome} at {last.at:%H:%M} UTC: {last.reason}").classes("opacity-80").mark(
                f"replenishment-{character_id}"
            )
        else:
            ui.label("replenishment has not considered it yet").classes("opacity-70")
