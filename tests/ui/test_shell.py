"""The studio shell through NiceGUI's simulated user: navigation, status, settings, activity, dark mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User


def table_rows(user: User) -> list[dict]:
    """Table cells are props, not text, so the simulated user reads them from the element."""
    return [row for table in user.find(ui.table).elements for row in table.rows]


async def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for something the studio does in the background (start-up runs as a task); a bound, not a pace:
    it returns as soon as the check holds, and a loaded CI machine may take a few seconds."""
    for _ in range(int(seconds / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    assert check()


async def test_the_studio_opens_on_the_status_page(user: User) -> None:
    await user.open("/")
    await user.should_see("Anime Studio")
    await user.should_see("Backends")
    await user.should_see("sqlite")
    # With nothing configured, every backend says how to configure it instead of pretending.
    await user.should_see("not configured")
    await user.should_see("STUDIO_DEVICES")
    await user.should_see("STUDIO_JELLYFIN_URL")


async def test_navigation_lists_only_working_areas_and_moves_between_them(user: User) -> None:
    await user.open("/")
    for label in ("Status", "Activity", "Settings"):
        user.find(marker=f"nav-{label.lower()}")
    user.find(marker="nav-settings").click()
    await user.should_see("Secrets")
    settings = {row["env"]: row for row in table_rows(user) if "env" in row}
    assert settings["STUDIO_PORT"]["value"] == "8401"
    assert settings["STUDIO_PORT"]["source"] == "default"
    assert {"name": "jwt_secret", "source": "generated key in the data folder"} in table_rows(user)
    user.find(marker="nav-activity").click()
    await user.should_see("Recent activity")
    await eventually(lambda: any("started on sqlite" in row["summary"] for row in table_rows(user)))


async def test_dark_mode_is_remembered_for_the_user(user: User) -> None:
    await user.open("/")
    dark = user.find(ui.dark_mode).elements.pop()
    assert dark.value is None  # follows the system until the user chooses
    user.find(marker="dark-toggle").click()
    await eventually(lambda: dark.value is True)  # the toggle saves the preference, then flips the page
    await user.open("/settings")
    assert user.find(ui.dark_mode).elements.pop().value is True
    await user.open("/activity")
    await user.should_see("Recent activity")
    assert any(row["summary"] == "local set dark_mode to True" for row in table_rows(user))
