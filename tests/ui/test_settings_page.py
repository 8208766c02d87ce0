"""The Settings page through NiceGUI's simulated user: grouped settings, live edits with Undo, the restart
banner, and values from the environment shown read-only."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually

SAVED = 100  # retries 0.1 s apart: a save writes the file and the audit record before the page shows it


def element(user: User, marker: str) -> ui.element:
    return user.find(marker=marker).elements.pop()


async def test_a_live_setting_is_saved_applied_and_undone(user: User) -> None:
    await user.open("/settings")
    for group in ("Media", "Review", "Sound and assembly", "Access"):
        user.find(marker=f"settings-group-{group}")
    with user.find(marker="settings-group-Connections").elements.pop():  # first, with the connections editor
        user.find(marker="connections")
    studio = running_studio()
    user.find(marker="edit-assembly_crf").clear().type("28")
    user.find(marker="save-assembly_crf").click()
    await user.should_see("assembly_crf saved, now in force", retries=SAVED)
    assert studio.settings.assembly_crf == 28
    await user.should_see(marker="source-assembly_crf", content="set in the app", retries=SAVED)
    user.find(marker="undo").click()
    await eventually(lambda: studio.settings.assembly_crf == 20)
    await user.should_see(marker="source-assembly_crf", content="default", retries=SAVED)


async def test_a_bad_value_says_why_and_changes_nothing(user: User) -> None:
    await user.open("/settings")
    user.find(marker="edit-assembly_crf").clear().type("99")
    user.find(marker="save-assembly_crf").click()
    await user.should_see("assembly_crf: Input should be less than or equal to 51", retries=SAVED)
    assert running_studio().settings.assembly_crf == 20


async def test_a_setting_for_the_next_start_raises_the_restart_banner(user: User) -> None:
    await user.open("/settings")
    await user.should_not_see(marker="restart-banner")
    element(user, "edit-log_level").value = "debug"
    user.find(marker="save-log_level").click()
    await user.should_see("log_level saved, in force from the next start", retries=SAVED)
    await user.should_see(marker="restart-banner", content="Restart needed: log_level", retries=SAVED)
    assert running_studio().settings.log_level == "info"
    await user.open("/")  # every page's header says so too, and leads to Settings
    user.find(marker="header-restart-needed").click()
    await user.should_see(marker="restart-banner", retries=SAVED)
    user.find(marker="reset-log_level").click()
    await user.should_not_see(marker="restart-banner", retries=SAVED)


@pytest.fixture
def crf_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the `user` fixture runs main.py, as an environment is set before the studio starts."""
    monkeypatch.setenv("STUDIO_ASSEMBLY_CRF", "24")


async def test_a_value_from_the_environment_is_read_only(crf_from_the_environment: None, user: User) -> None:
    await user.open("/settings")
    await user.should_see(marker="value-assembly_crf", content="24")
    await user.should_see(marker="source-assembly_crf", content="environment · wins over this page")
    await user.should_not_see(marker="edit-assembly_crf")
    await user.should_see(marker="source-port", content="then restart")


async def test_saving_one_setting_keeps_what_is_typed_in_another(user: User) -> None:
    await user.open("/settings")
    user.find(marker="edit-story_model").clear().type("qwen3:14b")
    await user.should_see(marker="unsaved-story_model", retries=SAVED)
    user.find(marker="edit-assembly_crf").clear().type("24")
    user.find(marker="save-assembly_crf").click()
    await user.should_see(marker="source-assembly_crf", content="set in the app", retries=SAVED)
    assert element(user, "edit-story_model").value == "qwen3:14b"
    await user.should_see(marker="unsaved-story_model")
    await user.should_not_see(marker="unsaved-assembly_crf")


async def test_the_filter_hides_what_does_not_match(user: User) -> None:
    await user.open("/settings")
    user.find(marker="settings-filter").type("loudness")
    await user.should_see(marker="setting-loudness_target_lufs")
    await user.should_not_see(marker="setting-assembly_crf")
    await user.should_not_see(marker="settings-group-Access")
    await user.should_not_see(marker="settings-group-Connections")
