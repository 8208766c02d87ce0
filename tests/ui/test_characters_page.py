"""The Characters page through NiceGUI's simulated user: cards, filters, editor, references, prompt preview."""

from __future__ import annotations

import io
from typing import Any

from nicegui import ui
from nicegui.testing import User
from PIL import Image

from components.character_card import dataset_summary, swatch_colour
from tests.ui.test_shell import eventually

NOOB = {"name": "noob", "checkpoint_model": "noobaiXLVpred_v10.safetensors", "width": 832, "height": 1216}
KOOPA = {
    "name": "Koopa King",
    "design_prompt": "a huge turtle king with a spiked shell",
    "appearance_data": {
        "species": "turtle (NOT human)",
        "gender": "male",
        "key_colors": {"shell": "green", "hair": "red"},
        "key_features": ["spiked shell", "horns"],
    },
}
PEACH = {
    "name": "Princess Peach",
    "design_prompt": "a princess in a pink gown",
    "appearance_data": {"species": "human", "gender": "female", "key_colors": {"hair": "blonde"}},
}


def png(color: tuple[int, int, int] = (0, 200, 0)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 96), color).save(buffer, "PNG")
    return buffer.getvalue()


# The editor saves and redraws on a busy 2-core machine too: wait for it as a person would.
WAIT = 60


async def api(user: User, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = await user.http_client.request(method, f"/api{path}", json=body)
    assert response.status_code < 300, response.text
    return response.json()


async def project_with(user: User, *characters: dict[str, Any], style: bool = False) -> int:
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    if style:
        await api(user, "POST", "/generation-styles", NOOB)
        await api(user, "PATCH", f"/projects/{project['id']}", {"default_style": "noob"})
    for character in characters:
        await api(user, "POST", f"/projects/{project['id']}/characters", character)
    return project["id"]


async def open_editor(user: User, slug: str) -> None:
    """Open a character's editor and wait until it is whole: its tabs load before the Save row is drawn."""
    user.find(marker=f"edit-{slug}").click()
    await user.should_see(marker="save-character", retries=WAIT)


def element(user: User, marker: str) -> Any:
    found = user.find(marker=marker).elements
    assert len(found) == 1, f"{len(found)} elements marked {marker}"
    return next(iter(found))


async def test_without_a_project_the_page_asks_for_one(user: User) -> None:
    await user.open("/characters")
    await user.should_see("Choose a project first")
    await user.should_not_see(marker="new-character")


async def test_a_character_created_in_the_dialog_gets_a_card_and_duplicates_are_refused(user: User) -> None:
    project_id = await project_with(user)
    await user.open(f"/characters?project={project_id}")
    await user.should_see("Mario Galaxy has no characters yet.")

    user.find(marker="new-character").click()
    user.find(marker="new-name").clear().type("Koopa King")
    user.find(marker="new-design").clear().type("a huge turtle king")
    user.find(marker="create-character").click()
    await user.should_see(marker="character-koopa_king")
    await user.should_see("No reference yet")
    await user.should_see("1 character")
    await user.should_not_see(marker="new-name")  # the dialog closed (and is gone)

    user.find(marker="new-character").click()
    user.find(marker="new-name").clear().type("koopa king")  # same slug: a Conflict
    user.find(marker="create-character").click()
    await user.should_see("already has a character named 'Koopa King'")
    assert len(await api(user, "GET", f"/projects/{project_id}/characters")) == 1

    user.find(marker="new-name").clear()
    user.find(marker="create-character").click()
    await user.should_see("Name: must not be empty")


async def test_appearance_data_is_edited_saved_and_shown_again(user: User) -> None:
    project_id = await project_with(user, {"name": "Koopa King"})
    [row] = await api(user, "GET", f"/projects/{project_id}/characters")
    character_id = row["character"]["id"]
    await user.open(f"/characters?project={project_id}")
    await open_editor(user, "koopa_king")
    assert element(user, "save-character").enabled is False  # nothing to save yet

    user.find(marker="edit-species").clear().type("turtle (NOT human)")
    await user.should_see(marker="unsaved", retries=WAIT)
    element(user, "edit-gender").value = "male"
    user.find(marker="edit-body-type").clear().type("huge, heavy")
    user.find(marker="add-colour").click()
    await user.should_see(marker="colour-part", retries=WAIT)
    user.find(marker="colour-part").type("shell")
    user.find(marker="colour-value").type("green")
    element(user, "edit-key-features").value = ["spiked shell", "horns"]
    element(user, "edit-negatives").value = ["cute"]
    user.find(marker="edit-voice").clear().type("deep and gravelly")

    # A half-filled colour row is refused next to the form, not saved and not a crash.
    user.find(marker="add-colour").click()
    await user.should_see(marker="remove-colour-1", retries=WAIT)
    empty_part = next(e for e in user.find(marker="colour-part").elements if not e.value)
    empty_part.value = "eyes"
    user.find(marker="save-character").click()
    await user.should_see("Key colours: give both the part and the colour ('eyes')")
    assert len(user.find(marker="colour-row").elements) == 2
    user.find(marker="remove-colour-1").click()
    await user.should_not_see(marker="remove-colour-1", retries=WAIT)
    element(user, "edit-species").value = "x" * 201  # over the schema's limit: a ValidationError
    user.find(marker="save-character").click()
    await user.should_see("Species: String should have at most 200 characters", retries=WAIT)
    element(user, "edit-species").value = "turtle (NOT human)"
    user.find(marker="save-character").click()
    await user.should_see("Saved.", retries=WAIT)
    await user.should_not_see(marker="unsaved", retries=WAIT)

    saved = await api(user, "GET", f"/characters/{character_id}")
    assert saved["appearance_data"] == {
        "species": "turtle (NOT human)",
        "gender": "male",
        "body_type": "huge, heavy",
        "key_colors": {"shell": "green"},
        "key_features": ["spiked shell", "horns"],
        "common_errors": [],
        "negatives": ["cute"],
        "voice": "deep and gravelly",
    }

    user.find(marker="close-editor").click()
    await user.should_not_see(marker="character-editor", retries=WAIT)
    await user.should_see("non-human")  # the card shows the new species verdict
    await user.should_see("shell: green", retries=WAIT)
    await open_editor(user, "koopa_king")
    assert element(user, "edit-species").value == "turtle (NOT human)"
    assert element(user, "edit-gender").value == "male"
    assert element(user, "edit-key-features").value == ["spiked shell", "horns"]
    assert element(user, "colour-part").value == "shell"
    assert element(user, "colour-value").value == "green"
    assert element(user, "edit-voice").value == "deep and gravelly"


async def test_filters_narrow_the_cast_by_species_name_and_status(user: User) -> None:
    project_id = await project_with(user, KOOPA, PEACH)
    await user.open(f"/characters?project={project_id}")
    await user.should_see("2 characters")
    await user.should_see("Princess Peach")
    await user.should_see("hair: blonde")

    user.find(marker="species-filter").clear().type("turtle")
    await user.should_see("1 character")
    await user.should_see(marker="character-koopa_king")
    await user.should_not_see(marker="character-princess_peach")

    user.find(marker="species-filter").clear()
    user.find(marker="name-search").clear().type("peach")
    await user.should_see(marker="character-princess_peach")
    await user.should_not_see(marker="character-koopa_king")

    user.find(marker="name-search").clear().type("bowser")
    await user.should_see("No character matches these filters.")


async def test_a_deleted_character_comes_back_with_undo_or_from_the_deleted_filter(user: User) -> None:
    project_id = await project_with(user, KOOPA, PEACH)
    await user.open(f"/characters?project={project_id}")
    await user.should_see(marker="character-koopa_king")

    user.find(marker="delete-koopa_king").click()
    await user.should_see("Delete Koopa King?")
    user.find(marker="confirm").click()
    await user.should_not_see(marker="character-koopa_king")
    await user.should_see("Koopa King deleted")
    [row] = await api(user, "GET", f"/projects/{project_id}/characters")
    assert row["character"]["name"] == "Princess Peach"

    user.find(marker="undo").click()
    await user.should_see(marker="character-koopa_king")
    assert len(await api(user, "GET", f"/projects/{project_id}/characters")) == 2

    # Deleted for good this time: the Deleted filter lists it, and Restore brings it back.
    user.find(marker="delete-koopa_king").click()
    await user.should_see("Delete Koopa King?")
    user.find(marker="confirm").click()
    await user.should_not_see(marker="character-koopa_king")
    element(user, "status-filter").value = "deleted"
    await user.should_see("1 deleted character")
    await user.should_see(marker="restore-koopa_king")
    user.find(marker="restore-koopa_king").click()
    await user.should_see("No deleted characters.")
    element(user, "status-filter").value = "active"
    await user.should_see(marker="character-koopa_king")


async def test_the_prompt_preview_explains_a_non_human_character_in_the_project_style(user: User) -> None:
    project_id = await project_with(user, KOOPA, style=True)
    await user.open(f"/characters?project={project_id}")
    await open_editor(user, "koopa_king")
    user.find(kind=ui.tab, content="Prompt preview").click()
    await user.should_see(marker="preview-positive")

    positive = element(user, "preview-positive").text
    negative = element(user, "preview-negative").text
    assert "no_humans" in positive.split(", ")
    assert "human face" in negative.split(", ")
    await user.should_see("NoobAI-XL v-pred")  # the profile matched from the checkpoint
    await user.should_see("not human")
    await user.should_see("species 'turtle (NOT human)' is not human")  # an explanation naming the species
    await user.should_see("Does the character have a turtle shell")  # the reviewer's verification question
    await user.should_see("style noob")  # where the parameters came from

    # A pose is part of the preview once applied.
    user.find("Pose (optional)").clear().type("arms crossed")
    user.find(kind=ui.button, content="Update preview").click()
    await eventually(lambda: "arms crossed" in element(user, "preview-positive").text)


async def test_without_a_default_style_the_preview_says_what_to_do(user: User) -> None:
    project_id = await project_with(user, PEACH)
    await user.open(f"/characters?project={project_id}")
    user.find(marker="edit-princess_peach").click()
    await user.should_see(marker="preview-no-style")
    await user.should_see("Story & World")

    await api(user, "POST", "/generation-styles", NOOB)
    user.find(marker="close-editor").click()
    await user.should_not_see(marker="character-editor")
    user.find(marker="edit-princess_peach").click()
    await user.should_see(marker="preview-no-default")
    element(user, "character-editor")
    style = next(e for e in user.find(kind=ui.select).elements if e.props.get("label") == "Style")
    style.value = "noob"
    await user.should_see(marker="preview-positive")
    assert "no_humans" not in element(user, "preview-positive").text


async def test_reference_images_are_uploaded_refused_with_a_reason_and_removed(user: User) -> None:
    project_id = await project_with(user, KOOPA)
    [row] = await api(user, "GET", f"/projects/{project_id}/characters")
    character_id = row["character"]["id"]
    await user.open(f"/characters?project={project_id}")
    await user.should_see("No reference yet")
    user.find(marker="edit-koopa_king").click()
    await user.should_see(marker="reference-upload")
    upload = next(iter(user.find(ui.upload).elements))

    files = [
        ui.upload.SmallFileUpload(name="front.png", content_type="image/png", _data=png()),
        ui.upload.SmallFileUpload(name="side.png", content_type="image/png", _data=png((0, 0, 200))),
        ui.upload.SmallFileUpload(name="notes.txt", content_type="text/plain", _data=b"not a picture"),
    ]
    with user.client:
        await upload.handle_uploads(files)
    # Refused, with the reason next to the file's name, once the two pictures before it are in (one at a time).
    await user.should_see("notes.txt: ", retries=60)
    await eventually(lambda: len(user.find(marker="reference-thumb").elements) == 2)
    references = await api(user, "GET", f"/characters/{character_id}/references")
    assert sorted(r["original_name"] for r in references) == ["front.png", "side.png"]
    image = await user.http_client.get(f"/api/references/{references[0]['id']}/image")
    assert image.headers["content-type"] == "image/png"

    # The same picture twice is a Conflict, shown the same way.
    with user.client:
        await upload.handle_uploads(
            [ui.upload.SmallFileUpload(name="again.png", content_type="image/png", _data=png())]
        )
    await user.should_see("again.png: Koopa King already has this reference image")

    # The card now shows the primary reference instead of the empty tile.
    await user.should_not_see("No reference yet")
    first = references[0]["id"] if references[0]["position"] == 0 else references[1]["id"]
    assert any(
        img.props.get("src") == f"/api/references/{first}/image"
        for img in user.find(ui.image).elements
        if img.props.get("alt") == "Koopa King"
    )

    user.find(marker=f"remove-reference-{first}").click()
    await user.should_see("Remove this reference image?")
    user.find(marker="confirm").click()
    await eventually(lambda: len(user.find(marker="reference-thumb").elements) == 1)
    assert len(await api(user, "GET", f"/characters/{character_id}/references")) == 1


async def test_characters_added_elsewhere_appear_without_a_reload(user: User) -> None:
    project_id = await project_with(user, PEACH)
    await user.open(f"/characters?project={project_id}")
    await user.should_see(marker="character-princess_peach")
    await api(user, "POST", f"/projects/{project_id}/characters", KOOPA)  # e.g. another tab or a script
    await user.should_see(marker="character-koopa_king")
    await user.should_see("2 characters")


def test_cards_summarise_dataset_counts_and_colours() -> None:
    assert dataset_summary({"pending": 3, "approved": 12}) == "12 approved · 3 pending"
    assert dataset_summary({}) == ""
    assert swatch_colour("dark green") == "green"
    assert swatch_colour("blonde") == "#f0d58c"
    assert swatch_colour("#aabbcc") == "#aabbcc"
    assert swatch_colour("iridescent") is None
