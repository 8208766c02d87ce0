"""/api/docs in a browser that reaches nothing but the studio: Swagger UI must come from the studio itself."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.studio_process import StudioProcess

pytestmark = pytest.mark.e2e
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}


def test_api_docs_render_with_the_network_blocked(server: StudioProcess, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    refused: list[str] = []

    def only_loopback(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", only_loopback)
    page = context.new_page()
    try:
        page.goto(server.url + "/api/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Anime Studio API", timeout=15_000)
        expect(page.locator(".opblock-summary-path", has_text="/health").first).to_be_visible()
        assert refused == [], f"/api/docs asked the network for {refused}"
    finally:
        context.close()
