"""The Activity page's drift banner through NiceGUI's simulated user: a character whose approvals fall shows up
above the audit trail as soon as the alert opens, and leaves it when the character recovers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from nicegui.testing import User

from services.autonomy import AutopilotChanges
from tests.learning_helpers import reviews, seed_reviews
from tests.ui.test_characters_page import KOOPA, project_with
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import table_rows


@pytest.fixture(autouse=True)
def quiet_autopilot(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the test runs drift checks (request before `user`: main.py reads the settings at start)."""
    monkeypatch.setenv("STUDIO_AUTOPILOT_TICK_SECONDS", "3600")


async def test_open_drift_alerts_show_above_the_activity_until_the_character_recovers(user: User) -> None:
    project_id = await project_with(user, KOOPA)
    studio = running_studio()
    await studio.autonomy.config.update(project_id, AutopilotChanges(enabled=True), "local")
    [card] = await studio.characters.cards(project_id)
    koopa = card.character
    decided = studio.clock.now() - timedelta(hours=2)
    await seed_reviews(studio, koopa, reviews(20, 20), decided)
    await seed_reviews(studio, koopa, reviews(20, 6), decided + timedelta(hours=1))

    await user.open("/activity")
    await user.should_see("Recent activity")
    await user.should_not_see(marker=f"drift-{koopa.id}")

    await studio.autonomy.drift.check([project_id])
    await user.should_see(marker=f"drift-{koopa.id}")
    await user.should_see("Drift: Koopa King: 30% of the last 20 images approved, against 100% of the 20 before")

    await seed_reviews(studio, koopa, reviews(20, 20), decided + timedelta(hours=1, minutes=30))
    await studio.autonomy.drift.check([project_id])
    await user.should_not_see(marker=f"drift-{koopa.id}")
    # The audit trail below keeps both events.
    summaries = [row["summary"] for row in table_rows(user)]
    assert "Koopa King recovered from drift: 100% of the last 20 images approved, 65% before" in summaries
    assert any(summary.startswith("Drift: Koopa King: 30% of the last 20") for summary in summaries)
