"""Where live previews are promised (Status, Create), a device whose ComfyUI sends none is named with the fix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from nicegui.testing import User

from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_create_page import WAIT, comfy_device, project_with_koopa, visible
from tests.ui.test_shell import eventually


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    yield from comfy_device(monkeypatch)


async def test_a_device_without_a_preview_method_is_named_with_the_fix(comfy: FakeComfyUI, user: User) -> None:
    comfy.previews = False  # a default ComfyUI: --preview-method none
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    await user.should_see("gpu1: no live previews: start ComfyUI with --preview-method auto", retries=WAIT)


async def test_a_device_that_sends_previews_gets_no_notice(comfy: FakeComfyUI, user: User) -> None:
    comfy.previews = True
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    await user.should_see(marker="generate-form", retries=WAIT)
    await eventually(lambda: bool(comfy.requests_to("/system_stats")), seconds=20)
    await asyncio.sleep(0.5)  # the page's answer to that probe
    assert not visible(user, "no-previews")


async def test_the_status_page_device_card_says_so_too(comfy: FakeComfyUI, user: User) -> None:
    comfy.previews = False
    await user.open("/status")
    await user.should_see("no live previews: start ComfyUI with --preview-method auto", retries=WAIT)
