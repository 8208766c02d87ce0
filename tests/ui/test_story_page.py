"""The Story & World page: storyline, world settings, generation styles, model profiles and species rules."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User
from nicegui.testing.user_interaction import UserInteraction
from nicegui.testing.user_notify import UserNotify

from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_shell import eventually

NOOBAI = "noobaiXLNAIXL_vPred10Version.safetensors"


async def new_project(user: User, name: str, **fields: Any) -> int:
    response = await user.http_client.post("/api/projects", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def element(user: User, marker: str) -> Any:
    found = user.find(marker=marker).elements
    assert len(found) == 1, f"{len(found)} elements marked {marker}"
    return next(iter(found))


def set_value(user: User, marker: str, value: Any) -> None:
    """What a person does with a chips input or a select: the value changes, handlers run."""
    target = element(user, marker)
    with user.client:
        target.value = value


async def library_ready(user: User) -> None:
    """The built-in profiles and rules are seeded by the start-up task; wait for them."""
    for _ in range(150):
        if (await user.http_client.get("/api/model-profiles")).json():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the built-in model profiles never appeared")


class NotifyInItsSlot(UserNotify):
    """NiceGUI's recorded notifications, sent the way the real ui.notify sends them: through the element
    whose handler is running. A busy server collects garbage at any moment, so it is collected first: an
    element the page removed is then gone, and notifying from inside it fails as it does for a person."""

    def __call__(self, message: str, **kwargs: Any) -> None:
        gc.collect()
        assert ui.context.client  # raises "The parent element this slot belongs to has been deleted"
        super().__call__(message, **kwargs)


@pytest.fixture
def notify_in_its_slot(user: User) -> None:
    user.notify = NotifyInItsSlot()


def picker(user: User) -> ui.select:
    (found,) = [e for e in user.find(kind=ui.select).elements if e.props.get("data-testid") == "project-picker"]
    return found


async def test_without_a_project_the_page_asks_for_one(user: User) -> None:
    await user.open("/story")
    await user.should_see("Choose a project first")
    await user.should_not_see(marker="storyline-form")
    await new_project(user, "Not chosen yet")
    await user.open("/story")  # a project exists, but none was chosen
    await user.should_see("Choose a project first")
    assert picker(user).options  # ...and the picker offers it


async def test_storyline_is_saved_explained_and_shown_again(user: User) -> None:
    project = await new_project(user, "Star Fall")
    await user.open(f"/story?project={project}")
    await user.should_see(marker="storyline-form")
    await user.should_not_see(marker="storyline-unsaved")

    user.find(marker="story-title").type("Star Fall")
    await user.should_see(marker="storyline-unsaved")
    user.find(marker="story-tone").type("bittersweet")
    user.find(marker="story-humor").type("deadpan")
    user.find(marker="story-summary").type("A fallen star learns to walk.")
    set_value(user, "story-themes", ["friendship", "home"])
    user.find(marker="story-arc-add").click()
    user.find(marker="story-arc-summary-0").type("She lands in a rice field.")

    user.find(marker="storyline-save").click()  # the arc has no title yet
    await user.should_see("Story arc 1 title: must not be empty", retries=20)
    await user.should_see(marker="storyline-unsaved")
    user.find(marker="story-arc-title-0").type("Landing")
    user.find(marker="storyline-save").click()
    await user.should_see("Storyline saved", retries=20)
    await user.should_not_see(marker="storyline-unsaved")
    await user.should_not_see("must not be empty")

    saved = (await user.http_client.get(f"/api/projects/{project}/storyline")).json()
    assert saved["title"] == "Star Fall"
    assert saved["tone"] == "bittersweet"
    assert saved["humor_style"] == "deadpan"
    assert saved["themes"] == ["friendship", "home"]
    assert saved["story_arcs"] == [{"title": "Landing", "summary": "She lands in a rice field."}]

    await user.open(f"/story?project={project}")
    assert element(user, "story-title").value == "Star Fall"
    assert element(user, "story-summary").value == "A fallen star learns to walk."
    assert element(user, "story-themes").value == ["friendship", "home"]
    assert element(user, "story-arc-title-0").value == "Landing"
    await user.should_not_see(marker="storyline-unsaved")

    user.find(marker="story-tone").clear().type("grim")  # discarding puts back what was saved
    await user.should_see(marker="storyline-unsaved")
    user.find(marker="storyline-discard").click()
    assert element(user, "story-tone").value == "bittersweet"
    await user.should_not_see(marker="storyline-unsaved")


async def test_world_settings_are_saved_and_shown_again(user: User) -> None:
    project = await new_project(user, "Neon Harbour")
    await user.open(f"/story?project={project}&tab=world")
    await user.should_see(marker="world-form")
    user.find(marker="world-preamble").type("anime key visual, cel shaded")
    user.find(marker="world-art-style").type("90s cel anime")
    user.find(marker="world-time-period").type("near future")
    user.find(marker="world-palette-add").click()
    user.find(marker="world-palette-key-0").type("sky")
    user.find(marker="world-palette-add").click()
    user.find(marker="world-palette-key-1").type("sea")
    user.find(marker="world-location-add").click()
    user.find(marker="world-location-key-0").type("harbour")
    user.find(marker="world-location-value-0").type("rusting cranes over black water")
    set_value(user, "world-issues", ["hands drift to six fingers"])
    await user.should_see(marker="world-unsaved")

    user.find(marker="world-save").click()  # 'sky' has no colour yet
    await user.should_see("Colour palette: 'sky' needs a value", retries=20)
    user.find(marker="world-palette-value-0").type("pale teal")
    user.find(marker="world-palette-remove-1").click()
    user.find(marker="world-save").click()
    await user.should_see("World settings saved", retries=20)
    await user.should_not_see(marker="world-unsaved")

    saved = (await user.http_client.get(f"/api/projects/{project}/world-settings")).json()
    assert saved["style_preamble"] == "anime key visual, cel shaded"
    assert saved["color_palette"] == {"sky": "pale teal"}
    assert saved["world_location"] == {"harbour": "rusting cranes over black water"}
    assert saved["known_issues"] == ["hands drift to six fingers"]

    await user.open(f"/story?project={project}")
    assert element(user, "world-art-style").value == "90s cel anime"
    assert element(user, "world-time-period").value == "near future"
    assert element(user, "world-palette-key-0").value == "sky"
    assert element(user, "world-palette-value-0").value == "pale teal"
    assert element(user, "world-issues").value == ["hands drift to six fingers"]


async def test_a_style_is_created_in_the_dialog_and_made_the_default(user: User, notify_in_its_slot: None) -> None:
    project = await new_project(user, "Cel Works")
    await user.open(f"/story?project={project}&tab=styles")
    await user.should_see("No generation styles yet")
    user.find(marker="style-new").click()
    await user.should_see(marker="style-dialog", retries=20)
    user.find(marker="style-name").type("Cel")
    user.find(marker="style-checkpoint").type(NOOBAI)
    await user.should_see("Model profile: NoobAI-XL v-pred", retries=20)  # matched while typing
    await user.should_not_see(marker="style-checkpoint-choices")  # no device: a plain input
    user.find(marker="style-width").clear().type("1001")
    user.find(marker="style-height").clear().type("1024")
    await user.should_see("Width 1001 is not a multiple of 8")  # a warning before saving...
    user.find(marker="style-save").click()
    await user.should_see(marker="style-error", retries=20)  # ...and the reason it was refused, in the dialog
    assert "Width 1001 is not a multiple of 8" in element(user, "style-error").text
    assert (await user.http_client.get("/api/generation-styles")).json() == []

    user.find(marker="style-width").clear().type("1024")
    user.find(marker="style-save").click()
    await user.should_see("Style 'Cel' saved", retries=20)
    await user.should_see(marker="style-row-Cel", retries=20)
    await user.should_not_see(marker="style-dialog")
    await user.should_see(marker="style-no-default")

    user.find(marker="style-make-default-Cel").click()
    await user.should_see("'Cel' is now the default style of Cel Works", retries=20)
    await user.should_see(marker="style-default-Cel", retries=20)
    await user.should_not_see(marker="style-no-default")
    assert (await user.http_client.get(f"/api/projects/{project}")).json()["default_style"] == "Cel"

    user.find(marker="style-delete-Cel").click()  # in use: the page says why it stays
    await user.should_see(marker="confirm-dialog", retries=20)
    user.find(marker="confirm").click()
    await user.should_see("is the default style of Cel Works", retries=20)
    await user.should_see(marker="style-row-Cel")


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    """A fake ComfyUI as device gpu1, with a checkpoint in a subfolder. Request it before `user`."""
    with FakeComfyUI() as fake:
        fake.models["checkpoints"].append("sdxl/animagine-xl-3.1.safetensors")
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "gpu1", "comfyui_url": fake.url}]))
        yield fake


async def test_the_checkpoint_field_offers_the_devices_files(comfy: FakeComfyUI, user: User) -> None:
    project = await new_project(user, "Picked")
    await library_ready(user)
    await user.open(f"/story?project={project}&tab=styles")
    user.find(marker="style-new").click()
    await user.should_see(marker="style-checkpoint-choices", retries=100)
    user.find(marker="style-checkpoint-choices").click()
    # What ComfyUI's /models/checkpoints lists, minus the file in a subfolder a style cannot name.
    offered = {item.default_slot.children[0].text: item for item in user.find(marker="style-checkpoint-file").elements}
    assert set(offered) == {name for name in comfy.models["checkpoints"] if "/" not in name}
    UserInteraction(user, {offered["dreamshaper_8.safetensors"]}, None).click()
    assert element(user, "style-checkpoint").value == "dreamshaper_8.safetensors"
    await user.should_see("Model profile: ", retries=20)
    user.find(marker="style-checkpoint").clear().type("my_own_merge.safetensors")  # a typed name still counts
    user.find(marker="style-name").type("Own")
    user.find(marker="style-save").click()
    await user.should_see(marker="style-row-Own", retries=20)
    styles = (await user.http_client.get("/api/generation-styles")).json()
    assert [s["checkpoint_model"] for s in styles] == ["my_own_merge.safetensors"]


async def test_the_vae_field_offers_the_devices_vae_files_and_keeps_a_typed_one(comfy: FakeComfyUI, user: User) -> None:
    project = await new_project(user, "Decoded")
    await library_ready(user)
    await user.open(f"/story?project={project}&tab=styles")
    user.find(marker="style-new").click()
    await user.should_see(marker="style-vae-choices", retries=100)
    user.find(marker="style-vae-choices").click()
    offered = {item.default_slot.children[0].text: item for item in user.find(marker="style-vae-file").elements}
    assert set(offered) == set(comfy.models["vae"])  # the fake's /models/vae
    UserInteraction(user, {offered["sdxl_vae.safetensors"]}, None).click()
    assert element(user, "style-vae").value == "sdxl_vae.safetensors"
    user.find(marker="style-name").type("Decoded")
    user.find(marker="style-checkpoint").type("dreamshaper_8.safetensors")
    user.find(marker="style-save").click()
    await user.should_see(marker="style-vae-Decoded", retries=20)  # the list shows it under the checkpoint
    [style] = (await user.http_client.get("/api/generation-styles")).json()
    assert style["vae"] == "sdxl_vae.safetensors"

    user.find(marker="style-edit-Decoded").click()
    await user.should_see(marker="style-dialog", retries=20)
    user.find(marker="style-vae").clear().type("../vae.safetensors")  # a path is refused, in the dialog
    user.find(marker="style-save").click()
    await user.should_see(marker="style-error", retries=20)
    assert "VAE's file name only" in element(user, "style-error").text
    user.find(marker="style-vae").clear()  # empty: the checkpoint's own VAE
    user.find(marker="style-save").click()
    await user.should_not_see(marker="style-dialog", retries=20)
    assert (await user.http_client.get("/api/generation-styles/Decoded")).json()["vae"] is None


async def test_a_taken_style_name_is_refused_in_the_dialog(user: User) -> None:
    await library_ready(user)
    await user.http_client.post(
        "/api/generation-styles", json={"name": "Cel", "checkpoint_model": NOOBAI, "width": 1024, "height": 1024}
    )
    project = await new_project(user, "Duplicate")
    await user.open(f"/story?project={project}&tab=styles")
    await user.should_see(marker="style-row-Cel", retries=20)
    user.find(marker="style-new").click()
    await user.should_see(marker="style-dialog", retries=20)
    user.find(marker="style-name").type("Cel")
    user.find(marker="style-checkpoint").type("dreamshaper_8.safetensors")
    user.find(marker="style-save").click()
    await user.should_see(marker="style-error", retries=20)
    assert "already exists" in element(user, "style-error").text


async def test_a_species_rule_is_edited_then_reset_to_built_in(user: User) -> None:
    project = await new_project(user, "Shells")
    await user.open(f"/story?project={project}&tab=rules")
    await user.should_see(marker="rules-explained")
    await user.should_see(marker="rule-row-turtle", retries=20)
    user.find(marker="rule-edit-turtle").click()
    await user.should_see(marker="rule-dialog", retries=20)
    assert element(user, "rule-name").enabled is False  # rules are keyed by name
    set_value(user, "rule-negatives", ["feathers"])
    set_value(user, "rule-keywords", [])
    user.find(marker="rule-save").click()
    await user.should_see(marker="rule-error", retries=20)
    assert "Keywords: needs at least one entry" in element(user, "rule-error").text

    set_value(user, "rule-keywords", ["turtle", "sea turtle"])
    user.find(marker="rule-save").click()
    await user.should_see("Rule 'turtle' saved", retries=20)
    await eventually(lambda: "feathers" in element(user, "rule-negatives-turtle").default_slot.children[0].text)
    rules = {r["name"]: r for r in (await user.http_client.get("/api/species-rules")).json()}
    assert rules["turtle"]["negatives"] == ["feathers"]

    user.find(marker="rule-reset-turtle").click()
    await user.should_see(marker="confirm-dialog", retries=20)
    user.find(marker="confirm").click()
    await user.should_see("Rule reset", retries=20)
    rules = {r["name"]: r for r in (await user.http_client.get("/api/species-rules")).json()}
    assert rules["turtle"]["negatives"] == ["fur", "mammal", "missing shell"]
    assert rules["turtle"]["keywords"] == ["turtle", "tortoise", "terrapin"]
    await eventually(lambda: "feathers" not in element(user, "rule-negatives-turtle").default_slot.children[0].text)


async def test_a_model_profile_is_added_and_deleted(user: User) -> None:
    project = await new_project(user, "Profiles")
    await user.open(f"/story?project={project}&tab=profiles")
    await user.should_see(marker="profile-row-NoobAI-XL_v-pred", retries=20)
    user.find(marker="profile-new").click()
    await user.should_see(marker="profile-dialog", retries=20)
    user.find(marker="profile-name").type("Pony")
    set_value(user, "profile-match", ["ponyDiffusion"])
    user.find(marker="profile-save").click()
    await user.should_see("Profile 'Pony' saved", retries=20)
    await user.should_see(marker="profile-row-Pony", retries=20)
    profiles = [p["name"] for p in (await user.http_client.get("/api/model-profiles")).json()]
    assert "Pony" in profiles

    await user.should_not_see(marker="profile-delete-NoobAI-XL_v-pred")  # built-ins are reset, not deleted
    user.find(marker="profile-delete-Pony").click()
    await user.should_see(marker="confirm-dialog", retries=20)
    user.find(marker="confirm").click()
    await user.should_see("Profile 'Pony' deleted", retries=20)
    await user.should_not_see(marker="profile-row-Pony")
    user.find(marker="undo").click()
    await user.should_see(marker="profile-row-Pony", retries=20)


async def test_the_project_picker_switches_projects(user: User) -> None:
    first = await new_project(user, "First Light")
    second = await new_project(user, "Second Wind")
    await user.http_client.put(f"/api/projects/{second}/storyline", json={"title": "The wind returns"})
    await user.open(f"/story?project={first}")
    await user.should_see(marker="story-project-name")
    assert element(user, "story-project-name").text == "First Light"
    assert picker(user).value == first

    with user.client:
        picker(user).value = second
    await eventually(lambda: user.back_history[-1] == f"/story?project={second}")
    await user.should_see("Second Wind", retries=20)
    await eventually(lambda: element(user, "story-title").value == "The wind returns")
    await user.open("/story")  # the last project chosen is remembered
    assert picker(user).value == second
