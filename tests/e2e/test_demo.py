"""The newcomer's path in chromium against a real studio process: the empty Projects page makes the sample
project with live progress, links to episode 1, and the episode plays in the page's video player."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.studio_process import REPO, StudioProcess

pytestmark = pytest.mark.e2e
ARTIFACTS = REPO / "test-artifacts"
# The whole production renders, voices and assembles for real; about half a minute on 2 idle cores.
SAMPLE_MS = 240_000


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_the_sample_project_is_made_and_its_episode_plays(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/projects")
    expect(page.get_by_text("No projects yet")).to_be_visible()
    page.get_by_test_id("create-sample").click()

    step = page.get_by_test_id("sample-step")
    expect(step).to_be_visible(timeout=10_000)
    expect(step).to_contain_text("Rendering the shots", timeout=60_000)  # the step text follows the work
    _screenshot(page, "sample-progress")
    link = page.get_by_test_id("sample-episode-link")
    expect(link).to_be_visible(timeout=SAMPLE_MS)
    published = page.get_by_test_id("sample-published").inner_text().removeprefix("Published to ")
    assert re.search(
        r"/library/Harbor Lights \(\d{4}\)/Season 01/Harbor Lights S01E01 - The Last Ferry\.mp4$", published
    )
    assert Path(published).is_file()
    expect(page.get_by_test_id("project-1")).to_contain_text("Harbor Lights")

    link.click()
    expect(page).to_have_url(re.compile(r"/episodes\?project=1&episode=[0-9a-f-]{36}$"))
    video = page.locator("video").first
    expect(video).to_be_visible(timeout=20_000)
    handle = video.element_handle()
    page.wait_for_function("v => v.readyState >= 1", arg=handle, timeout=20_000)
    assert video.evaluate("v => v.duration") == pytest.approx(11.25, abs=0.6)
    video.evaluate("v => { v.muted = true; return v.play(); }")  # muted: chromium's autoplay policy
    page.wait_for_function("v => v.currentTime > 1.0 && !v.paused && !v.error", arg=handle, timeout=20_000)
    assert video.evaluate("v => v.videoWidth") == 640
    _screenshot(page, "sample-episode")
