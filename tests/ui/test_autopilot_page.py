"""The Autopilot page through NiceGUI's simulated user, on SQLite and PostgreSQL: the switches with what each does
(the riskier two off), a switch saved at once, the orchestrator's off notice, the targets form with its unsaved
marker, a pause with its reason and Resume; every phase of the project and of each character with its gate, an
override asked for and shown; the decision log following new decisions live, filtered and paged back; and what the
studio learned (recommended parameters with confidence, rejection patterns, an open drift alert)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from nicegui.testing import User

from components.autopilot_log import PAGE
from services.autonomy import AutopilotChanges
from services.autonomy.pipeline import CHARACTER_PHASES, PROJECT_PHASES
from studio.models import ApprovalState, DatasetImage, DriftAlert
from studio.root import Studio
from tests.ui.test_characters_page import KOOPA, PEACH, element, project_with
from tests.ui.test_create_page import visible
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually

# Retries 0.1 s apart for what the page shows after a live update (a bound, not a pace).
WAIT = 100


@pytest.fixture
def on_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The studio on the parametrised database (request before `user`: main.py reads the settings at start); the
    background autopilot loop waits an hour between passes, so only the test moves it."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", database_url)
    monkeypatch.setenv("STUDIO_AUTOPILOT_TICK_SECONDS", "3600")
    return database_url


async def _ids(studio: Studio, project_id: int) -> dict[str, int]:
    return {card.character.slug: card.character.id for card in await studio.characters.cards(project_id)}  # type: ignore[misc]


async def _saved(studio: Studio, project_id: int, switch: str) -> bool:
    return bool(getattr((await studio.autonomy.config.get(project_id)).settings, switch))


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll a database check; a bound, not a pace."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def _text(user: User, marker: str) -> str:
    return str(element(user, marker).text)


async def test_switches_targets_and_a_pause(on_database: str, user: User) -> None:
    project_id = await project_with(user, KOOPA, PEACH)
    studio = running_studio()
    koopa = (await _ids(studio, project_id))["koopa_king"]
    await user.open(f"/autopilot?project={project_id}")

    await user.should_see(marker="about-orchestrator", retries=WAIT)
    assert "Off by default" in _text(user, "about-auto_correction")
    assert [element(user, f"switch-{name}").value for name in ("enabled", "auto_correction", "orchestrator")] == [
        False,
        False,
        False,
    ]
    # A switch saves at once. (Auto-correction: a pass woken by it has nothing to correct, so nothing else moves.)
    user.find(marker="switch-auto_correction").click()
    await _until(lambda: _saved(studio, project_id, "auto_correction"))
    # The orchestrator switched on elsewhere (the REST API, another tab): its off notice goes.
    await user.should_see(marker="orchestrator-off", retries=WAIT)
    await studio.autonomy.config.update(project_id, AutopilotChanges(orchestrator=True), "local")
    await eventually(lambda: not visible(user, "orchestrator-off"))
    assert element(user, "switch-orchestrator").value is True
    # Off again: with no device, a pass it ran would pause the project (that pause is the next check's own).
    await studio.autonomy.config.update(project_id, AutopilotChanges(orchestrator=False), "local")
    await user.should_see(marker="orchestrator-off", retries=WAIT)

    # The targets form: an edit shows the unsaved marker until saved.
    await user.should_not_see(marker="targets-unsaved", retries=WAIT)
    element(user, f"target-{koopa}").value = 100
    await user.should_see(marker="targets-unsaved", retries=WAIT)
    user.find(marker="targets-save").click()
    await user.should_see("Targets saved", retries=WAIT)
    await user.should_not_see(marker="targets-unsaved", retries=WAIT)
    assert (await studio.autonomy.config.get(project_id)).own_targets == {koopa: 100}

    # A failed job's pause shows its reason until Resume.
    await studio.autonomy.config.pause(project_id, "job 7 (Koopa King · image 1 of 3) failed: ComfyUI is down", 30)
    await user.should_see(marker="pause-reason", retries=WAIT)
    assert "ComfyUI is down" in _text(user, "pause-reason")
    user.find(marker="resume").click()
    await user.should_not_see(marker="pause-reason", retries=WAIT)
    assert not (await studio.autonomy.config.get(project_id)).paused


async def test_every_phase_and_gate_an_override_and_the_live_decision_log(on_database: str, user: User) -> None:
    project_id = await project_with(user, KOOPA, PEACH)
    studio = running_studio()
    koopa = (await _ids(studio, project_id))["koopa_king"]
    await user.open(f"/autopilot?project={project_id}")

    for phase in PROJECT_PHASES:
        await user.should_see(marker=f"chip-project-{project_id}-{phase}", retries=WAIT)
        user.find(marker=f"gate-project-{project_id}-{phase}")
    for phase in CHARACTER_PHASES:
        user.find(marker=f"chip-character-{koopa}-{phase}")
    assert "Koopa King has 0 of 40 approved images" in _text(user, f"gate-character-{koopa}-training_data")
    assert "0 of 40 approved images" in _text(user, f"approved-{koopa}")
    await user.should_see(marker="no-decisions", retries=WAIT)

    # An override is asked for, then shown with the phase.
    user.find(marker=f"skip-character-{koopa}-training_data").click()
    await user.should_see("Skip Training data for Koopa King?", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_see(marker=f"override-character-{koopa}-training_data", retries=WAIT)
    user.find(marker=f"reset-character-{koopa}-training_data").click()
    await user.should_see("Reset Training data for Koopa King?", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_not_see(marker=f"override-character-{koopa}-training_data", retries=WAIT)

    # Decisions arrive live, newest first; filters and "Older" page through them.
    log = studio.autonomy.log
    waited = await log.record(
        loop="replenishment",
        action="wait",
        outcome="waiting",
        reason="cooldown until 14:05 UTC",
        project_id=project_id,
        character_id=koopa,
    )
    await user.should_see(marker=f"decision-{waited.id}", retries=WAIT)
    await user.should_see("cooldown until 14:05 UTC", retries=WAIT)
    gated = await log.record(
        loop="orchestrator",
        action="gate",
        outcome="blocked",
        reason="Koopa King has 0 of 40 approved images",
        project_id=project_id,
        phase="scene_planning",
    )
    await user.should_see(marker=f"decision-{gated.id}", retries=WAIT)
    element(user, "log-loop").value = ["orchestrator"]
    await user.should_not_see(marker=f"decision-{waited.id}", retries=WAIT)
    user.find(marker=f"decision-{gated.id}")
    element(user, "log-loop").value = []
    await user.should_see(marker=f"decision-{waited.id}", retries=WAIT)
    for n in range(PAGE):
        await log.record(loop="drift", action="check", outcome="done", reason=f"check {n}", project_id=project_id)
    await user.should_see("check 49", retries=WAIT)
    await eventually(lambda: not visible(user, f"decision-{waited.id}"))
    user.find(marker="log-older").click()
    await user.should_see(marker=f"decision-{waited.id}", retries=WAIT)


async def test_what_the_studio_learned(on_database: str, user: User) -> None:
    project_id = await project_with(user, KOOPA)
    studio = running_studio()
    koopa = (await _ids(studio, project_id))["koopa_king"]
    now = studio.clock.now()
    async with studio.db.session() as session:
        for n in range(12):
            rejected = n % 3 == 0
            session.add(
                DatasetImage(
                    project_id=project_id,
                    character_id=koopa,
                    file_path=f"images/{n}.png",
                    content_hash=uuid.uuid4().hex,
                    width=64,
                    height=64,
                    source="generated",
                    approval_state=ApprovalState.REJECTED if rejected else ApprovalState.APPROVED,
                    rejection_categories=["wrong_appearance"] if rejected else [],
                    provenance={"checkpoint": "noob.safetensors", "sampler": "euler", "steps": 28, "cfg": 6.0},
                    decided_by="local",
                    decided_at=now - timedelta(minutes=n),
                )
            )
        session.add(
            DriftAlert(
                project_id=project_id,
                character_id=koopa,
                detected_at=now,
                recent_approval=0.2,
                overall_approval=0.7,
                recent_samples=20,
                reason="approvals fell to 20% over the last 20 reviews (70% before)",
            )
        )
    await user.open(f"/autopilot?project={project_id}")

    await user.should_see(marker=f"recommendation-{koopa}-noob.safetensors", retries=WAIT)
    await user.should_see("cfg 6 · 28 steps · euler", retries=WAIT)
    await user.should_see("8 of 12 approved (67%)")
    assert _text(user, f"patterns-{koopa}") == "Rejected most for: Wrong appearance 4 (100%)"
    await user.should_see(marker=f"drift-{koopa}", retries=WAIT)
    await user.should_see("Koopa King: approvals fell to 20% over the last 20 reviews (70% before)")
