"""No lost edits: every form that saves on a button marks unsaved edits and asks before they are thrown away."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from services.episodes import EpisodeDraft
from services.scenes import SceneDraft
from tests.ui.test_characters_page import KOOPA, element, open_editor, project_with
from tests.ui.test_create_page import WAIT
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_episodes_page import open_episode, project_with_scenes
from tests.ui.test_scenes_page import open_scene, scene_with
from tests.ui.test_story_page import NOOBAI, library_ready, new_project, picker


def press_escape(user: User) -> None:
    """What the browser's keyboard element reports for Esc."""
    key = {"key": "Escape", "code": "Escape", "location": 0, "repeat": False}
    modifiers = {"altKey": False, "ctrlKey": False, "metaKey": False, "shiftKey": False}
    user.find(kind=ui.keyboard).trigger("key", {"action": "keydown", **key, **modifiers})


async def test_leaving_story_with_edits_asks_first(user: User) -> None:
    project = await new_project(user, "Star Fall")
    await user.open(f"/story?project={project}")
    user.find(marker="story-title").type("Star Fall")
    await user.should_see(marker="storyline-unsaved")

    user.find(marker="nav-scenes").click()
    await user.should_see(marker="confirm-dialog")
    await user.should_see("Your edits to the storyline are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    await user.should_see(marker="storyline-unsaved")  # still here, edits kept
    assert user.find(marker="story-title").elements.pop().value == "Star Fall"

    user.find(marker="nav-scenes").click()
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await user.should_see(marker="scene-list", retries=WAIT)


async def test_switching_project_with_edits_asks_and_keeps_the_picker_honest(user: User) -> None:
    first = await new_project(user, "Star Fall")
    second = await new_project(user, "Moon Rise")
    await user.open(f"/story?project={first}")
    user.find(marker="world-art-style").type("90s cel anime")
    await user.should_see(marker="world-unsaved")

    with user.client:
        picker(user).value = second
    await user.should_see("Your edits to the world settings are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert picker(user).value == first  # the picker shows the project the page still edits
    await user.should_see(marker="world-unsaved")


async def test_without_edits_navigation_does_not_ask(user: User) -> None:
    project = await new_project(user, "Star Fall")
    await user.open(f"/story?project={project}")
    user.find(marker="story-title").type("Star Fall")
    user.find(marker="storyline-save").click()
    await user.should_not_see(marker="storyline-unsaved")
    user.find(marker="nav-scenes").click()
    await user.should_see(marker="scene-list", retries=WAIT)
    await user.should_not_see(marker="confirm-dialog")


async def test_the_character_editor_asks_on_escape_and_before_leaving_and_closes_when_saved(user: User) -> None:
    project_id = await project_with(user, KOOPA)
    await user.open(f"/characters?project={project_id}")
    await open_editor(user, "koopa_king")
    user.find(marker="edit-body-type").clear().type("huge, heavy")
    await user.should_see(marker="unsaved")

    press_escape(user)
    await user.should_see("Your edits to Koopa King are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    await user.should_see(marker="character-editor")

    user.find(marker="nav-scenes").click()  # the page-wide guard knows the editor's edits too
    await user.should_see("Your edits to Koopa King are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")

    user.find(marker="save-character").click()
    await user.should_see("Saved.")
    press_escape(user)  # nothing unsaved: Esc just closes
    await user.should_not_see(marker="character-editor")
    await user.should_not_see(marker="confirm-dialog")


async def test_the_shot_panel_marks_edits_and_asks_before_closing_or_opening_another_shot(user: User) -> None:
    project_id, _, scene, [first, second] = await scene_with(user, 2)
    await open_scene(user, project_id, scene)
    user.find(marker=f"edit-shot-{first.id}").click()
    await user.should_see("Shot 1 of Arrival", marker="shot-editor-title", retries=WAIT)
    await user.should_not_see(marker="shot-unsaved")
    element(user, "shot-description").value = "a long walk home"
    await user.should_see(marker="shot-unsaved")

    user.find(marker=f"edit-shot-{second.id}").click()
    await user.should_see("Your edits to shot 1 are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    await user.should_see("Shot 1 of Arrival", marker="shot-editor-title")
    press_escape(user)
    await user.should_see("Your edits to shot 1 are lost.")
    user.find(marker="confirm").click()
    await user.should_not_see(marker="shot-editor", retries=WAIT)
    assert (await running_studio().scenes.shot(first.id)).description == "a"  # discarded, as asked

    user.find(marker=f"edit-shot-{second.id}").click()
    await user.should_see("Shot 2 of Arrival", marker="shot-editor-title", retries=WAIT)
    press_escape(user)  # nothing edited: closes without a question
    await user.should_not_see(marker="shot-editor", retries=WAIT)
    await user.should_not_see(marker="confirm-dialog")


async def test_the_scene_form_asks_before_another_scene_replaces_it(user: User) -> None:
    project_id, _, scene, _ = await scene_with(user, 1)
    other = await running_studio().scenes.create(project_id, SceneDraft(title="Departure"), "local")
    await open_scene(user, project_id, scene)
    await user.should_not_see(marker="scene-unsaved")
    user.find(marker="scene-mood").type("tense")
    await user.should_see(marker="scene-unsaved")

    user.find(marker=f"scene-{other.id}").click()
    await user.should_see("Your edits to scene 1 are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert element(user, "scene-mood").value == "tense"

    user.find(marker="save-scene").click()
    await user.should_not_see(marker="scene-unsaved", retries=WAIT)
    user.find(marker=f"scene-{other.id}").click()
    await user.should_see("Departure", marker="scene-title")
    await user.should_not_see(marker="confirm-dialog")


async def test_the_episode_form_marks_edits_and_asks_before_leaving(user: User) -> None:
    project_id, _ = await project_with_scenes(user, "Arrival")
    episode = await running_studio().episodes.create(project_id, EpisodeDraft(title="Homecoming"), "local")
    await open_episode(user, project_id, episode)
    await user.should_not_see(marker="episode-unsaved")
    user.find(marker="episode-title").clear().type("Home at last")
    await user.should_see(marker="episode-unsaved")

    user.find(marker="nav-scenes").click()
    await user.should_see(f"Your edits to episode {episode.episode_number} are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")

    user.find(marker="save-episode").click()
    await user.should_not_see(marker="episode-unsaved", retries=WAIT)
    assert (await running_studio().episodes.get(episode.id)).title == "Home at last"


async def test_the_species_rule_editor_asks_before_cancel_or_escape_drops_its_edits(user: User) -> None:
    project = await new_project(user, "Shells")
    await user.open(f"/story?project={project}&tab=rules")
    await user.should_see(marker="rule-row-turtle", retries=WAIT)
    user.find(marker="rule-edit-turtle").click()
    await user.should_see(marker="rule-dialog", retries=WAIT)
    press_escape(user)  # nothing edited yet: Esc closes at once
    await user.should_not_see(marker="rule-dialog", retries=WAIT)
    await user.should_not_see(marker="confirm-dialog")

    user.find(marker="rule-edit-turtle").click()
    await user.should_see(marker="rule-dialog", retries=WAIT)
    with user.client:
        element(user, "rule-negatives").value = ["feathers"]
    await user.should_see(marker="rule-unsaved")
    user.find(marker="rule-cancel").click()
    await user.should_see("Your edits to the species rule 'turtle' are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    await user.should_see(marker="rule-dialog")
    press_escape(user)
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await user.should_not_see(marker="rule-dialog", retries=WAIT)


async def test_the_style_dialog_marks_edits_and_asks_before_cancel_or_escape_drops_them(user: User) -> None:
    await library_ready(user)
    await user.http_client.post(
        "/api/generation-styles", json={"name": "Cel", "checkpoint_model": NOOBAI, "width": 1024, "height": 1024}
    )
    project = await new_project(user, "Cel Works")
    await user.open(f"/story?project={project}&tab=styles")
    await user.should_see(marker="style-row-Cel", retries=WAIT)
    user.find(marker="style-edit-Cel").click()
    await user.should_see(marker="style-dialog", retries=WAIT)
    await user.should_not_see(marker="style-unsaved")
    press_escape(user)  # nothing edited: Esc closes at once
    await user.should_not_see(marker="style-dialog", retries=WAIT)
    await user.should_not_see(marker="confirm-dialog")

    user.find(marker="style-edit-Cel").click()
    await user.should_see(marker="style-dialog", retries=WAIT)
    user.find(marker="style-positive").type("cel shaded")
    await user.should_see(marker="style-unsaved")
    user.find(marker="style-cancel").click()
    await user.should_see("Your edits to the style 'Cel' are lost.")
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog")
    assert element(user, "style-positive").value == "cel shaded"  # kept
    press_escape(user)
    await user.should_see(marker="confirm-dialog")
    user.find(marker="confirm").click()
    await user.should_not_see(marker="style-dialog", retries=WAIT)
    assert (await user.http_client.get("/api/generation-styles/Cel")).json()["positive_prompt_template"] == ""

    user.find(marker="style-new").click()  # a saved style closes without a question
    await user.should_see(marker="style-dialog", retries=WAIT)
    user.find(marker="style-name").type("Ink")
    user.find(marker="style-checkpoint").type(NOOBAI)
    await user.should_see(marker="style-unsaved")
    user.find(marker="style-width").clear().type("1024")
    user.find(marker="style-height").clear().type("1024")
    user.find(marker="style-save").click()
    await user.should_see(marker="style-row-Ink", retries=WAIT)
    await user.should_not_see(marker="style-dialog")
    await user.should_not_see(marker="confirm-dialog")
