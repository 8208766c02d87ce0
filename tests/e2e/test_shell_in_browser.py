"""The studio's frame in a real browser: the current area lit in the navigation, the assistant's button in the
header (not over the page's controls), warning banners dim in dark mode, and a missing page that leads home."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e


def alpha(css_color: str) -> float:
    """The opacity of a computed CSS colour: `rgb(...)` is opaque, `rgba(r, g, b, a)` says it."""
    parts = re.findall(r"[\d.]+", css_color)
    return float(parts[3]) if len(parts) == 4 else 1.0


def test_the_navigation_lights_the_current_area(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/status")
    active = page.locator(".studio-nav .q-item--active")
    expect(active).to_have_count(1)
    expect(active).to_contain_text("Status")
    page.locator(".studio-nav .q-item", has_text="Activity").click()
    expect(page).to_have_url(server.url + "/activity")
    expect(page.locator(".studio-nav .q-item--active")).to_contain_text("Activity")


def test_the_assistant_button_sits_in_the_header(server: StudioProcess, page: Page) -> None:
    page.goto(server.url + "/status")
    button = page.get_by_role("button", name="Assistant")
    header = page.locator(".q-header")
    expect(button).to_be_visible()
    inside, outside = button.bounding_box(), header.bounding_box()
    assert inside is not None and outside is not None
    assert outside["y"] <= inside["y"] and inside["y"] + inside["height"] <= outside["y"] + outside["height"]


def test_warning_banners_are_dim_in_dark_mode(server: StudioProcess, page: Page) -> None:
    project = httpx.post(f"{server.url}/api/projects", json={"name": "Mario Galaxy"}, timeout=30).json()
    page.goto(f"{server.url}/create?project={project['id']}")  # no ComfyUI device: a warning banner says so
    banner = page.locator(".bg-amber-1").first
    expect(banner).to_be_visible()
    light = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    assert alpha(light) == 1.0  # the pale amber card of the light theme
    page.get_by_label("Toggle dark mode").click()
    expect(page.locator("body")).to_contain_class("body--dark")
    dark = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    text = banner.evaluate("e => getComputedStyle(e).color")
    assert alpha(dark) < 0.3, dark  # a tint over the dark page, not a bright card
    assert min(int(v) for v in re.findall(r"\d+", text)[:3]) > 150, text  # light words on it


def test_a_missing_page_leads_home(server: StudioProcess, page: Page) -> None:
    response = page.goto(server.url + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_text("This page doesn't exist")).to_be_visible()
    page.get_by_role("link", name="Go to the home page").click()
    expect(page).to_have_url(server.url + "/")
    expect(page.get_by_test_id("page-title")).to_have_text("Home")
