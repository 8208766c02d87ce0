"""Closing the tab with unsaved edits: the browser asks first (beforeunload), and not once they are saved."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, expect

from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e


def test_closing_the_tab_with_unsaved_edits_asks_and_saved_edits_do_not(
    server: StudioProcess, browser: Browser
) -> None:
    project = httpx.post(server.url + "/api/projects", json={"name": "Star Fall"}).json()["id"]
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", answer)
    try:
        page.goto(f"{server.url}/story?project={project}")
        title = page.get_by_label("Title")
        title.fill("Star Fall")
        expect(page.get_by_text("unsaved changes").first).to_be_visible(timeout=15_000)
        page.wait_for_function("window.studioUnsaved === true")
        page.close(run_before_unload=True)
        page.wait_for_timeout(500)  # the question arrives as an event
        assert asked == ["beforeunload"]
        assert not page.is_closed()  # dismissed: the edits are still there

        page.get_by_role("button", name="Save").first.click()
        expect(page.get_by_text("unsaved changes").first).to_be_hidden(timeout=15_000)
        page.wait_for_function("window.studioUnsaved === false")
        page.close(run_before_unload=True)
        if not page.is_closed():
            page.wait_for_event("close", timeout=5_000)
        assert asked == ["beforeunload"]  # saved: no second question
    finally:
        context.close()
