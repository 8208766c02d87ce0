"""The studio shell through NiceGUI's simulated user: navigation and its highlight, status, settings, activity,
dark mode, the assistant's place in the header, the page for a missing address."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import nicegui
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


async def test_the_status_page_shows_the_studio_and_every_backend(user: User) -> None:
    await user.open("/status")
    await user.should_see("Anime Studio")
    await user.should_see("Backends")
    await user.should_see("sqlite")
    # With nothing configured, every backend says how to configure it instead of pretending.
    await user.should_see("not configured")
    await user.should_see("STUDIO_DEVICES")
    await user.should_see("STUDIO_JELLYFIN_URL")


async def test_navigation_lists_only_working_areas_and_moves_between_them(user: User) -> None:
    await user.open("/")
    for label in ("Home", "Status", "Activity", "Settings"):
        user.find(marker=f"nav-{label.lower()}")
    user.find(marker="nav-settings").click()
    await user.should_see("Secrets")
    user.find(marker="nav-activity").click()
    await user.should_see("Recent activity")
    await eventually(lambda: any("started on sqlite" in row["summary"] for row in table_rows(user)), seconds=30)


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


def highlighted(user: User) -> list[str]:
    """The navigation entries Quasar draws as active: it does so only for a boolean `active` prop."""
    return sorted(
        marker for item in user.find(ui.item).elements if item.props.get("active") is True for marker in item._markers
    )


async def test_the_navigation_highlights_the_area_of_the_page(user: User) -> None:
    await user.open("/")
    assert highlighted(user) == ["nav-home"]
    await user.open("/status")
    assert highlighted(user) == ["nav-status"]
    await user.open("/datasets/add")  # a page inside an area lights that area
    assert highlighted(user) == ["nav-datasets"]


async def test_a_missing_page_says_so_and_leads_home(user: User) -> None:
    await user.open("/")
    response = await user.http_client.get("/no-such-page")
    assert response.status_code == 404
    assert "This page doesn't exist" in response.text
    # The page's elements travel as JSON in the answer: a link home, which works before the page connects.
    assert re.search(r'"text":"Go to the home page"[^}]*"props":\{"href":"/"', response.text)
    # Routes that are not pages keep answering in JSON.
    missing = await user.http_client.get(f"/_nicegui/{nicegui.__version__}/libraries/no-such-library.js")
    assert (missing.status_code, missing.json()) == (404, {"detail": 'library "no-such-library.js" not found'})


async def test_the_assistant_button_is_in_the_header_not_over_the_page(user: User) -> None:
    await user.open("/")
    button = user.find(marker="assistant-button").elements.pop()
    assert any(isinstance(parent, ui.header) for parent in button.ancestors())
