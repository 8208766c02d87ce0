"""Tags and captions on the Datasets page through NiceGUI's simulated user, on the real services: the detail
panel's tag editor (save, Undo, the unsaved-edits guard), the bulk edit dialog with Undo, the frequency list
that filters the grid, and the caption rules whose blacklist the caption preview shows as dropped."""

from __future__ import annotations

from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments
from nicegui.testing import User

from services.tags.store import MachineTag
from studio.models import Character, TagCategory, TagSource
from studio.root import Studio
from tests.dataset_helpers import seed_pending
from tests.ui.test_characters_page import KOOPA, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_datasets_page import card_ids, cast, grid_order, press, running_studio
from tests.ui.test_shell import eventually


async def tagged(user: User, count: int = 3, untagged: int = 0) -> tuple[int, Character, list[int]]:
    """A character with `count` pending images tagged by the tagger (then `untagged` more): every tagged image
    "solo" and "koopa king", the last one "blue eyes", the others "red hair"."""
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, count + untagged)
    for n, image_id in enumerate(ids[:count]):
        tags = [MachineTag("solo", 0.98), MachineTag("koopa king", 0.91, TagCategory.CHARACTER)]
        tags.append(MachineTag("red hair", 0.7) if n < count - 1 else MachineTag("blue eyes", 0.6))
        await studio.tags.set_machine_tags(image_id, TagSource.TAGGER, tags)
    return project_id, koopa, ids


async def effective(studio: Studio, image_id: int) -> list[str]:
    return sorted(t.tag for t in (await studio.tags.tags_of(image_id)).tags)


def chip_tags(user: User) -> list[str]:
    return sorted(e.text for e in visible(user, "image-tags")[0].descendants() if isinstance(e, ui.chip))


def tooltip_of(user: User, marker: str) -> str:
    """The tooltip of an element (NiceGUI places it beside the element, aimed at its id)."""
    target = f"#{element(user, marker).html_id}"
    assert user.client is not None
    return " ".join(e.text for e in user.client.elements.values() if e.props.get("target") == target)


def escape_in_dialog(user: User) -> None:
    """Esc as an editor dialog hears it (its own keyboard, which listens in text fields too)."""
    [keyboard] = [k for k in user.find(kind=ui.keyboard).elements if not k.props.get("ignore")]
    args = {"action": "keydown", "repeat": False, "key": "Escape", "code": "Escape", "location": 0}
    modifiers = {"altKey": False, "ctrlKey": False, "metaKey": False, "shiftKey": False}
    with user.client:
        keyboard._handle_key(GenericEventArguments(sender=keyboard, client=user.client, args={**args, **modifiers}))


async def open_grid(user: User, project_id: int, character: Character, count: int) -> None:
    await user.open(f"/datasets?project={project_id}&character={character.id}")
    await user.should_see(f"1-{count} of {count} images", retries=WAIT)


async def open_detail(user: User, image_id: int) -> None:
    user.find(marker=f"thumb-{image_id}").click()
    await user.should_see(f"Image {image_id}", marker="detail-title", retries=WAIT)
    await user.should_see(marker="image-tags", retries=WAIT)


def add_tag(user: User, text: str) -> None:
    user.find(marker="tag-input").type(text).trigger("keydown.enter")


async def test_tags_are_edited_in_the_detail_panel_saved_and_undone(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    studio = running_studio()
    await open_grid(user, project_id, koopa, 3)
    await open_detail(user, ids[0])
    assert chip_tags(user) == ["koopa king", "red hair", "solo"]
    assert element(user, "tag-red hair").props.get("outline") is None  # a machine tag, not a person's
    assert tooltip_of(user, "tag-red hair") == "from tagger · confidence 0.70"
    # The writer's order: the trigger (the slug, none is pinned; it stands for the tag "koopa king" too), then
    # the rest.
    assert element(user, "caption-preview").text == "koopa_king, solo, red hair"

    element(user, "tag-red hair").value = False  # the chip's cross
    add_tag(user, "Spiked_Shell, crown")
    element(user, "caption-input").value = "A turtle king on a throne."
    await eventually(lambda: chip_tags(user) == ["crown", "koopa king", "solo", "spiked shell"])
    assert bool(visible(user, "tags-unsaved"))
    user.find(marker="tags-save").click()
    await eventually(lambda: not visible(user, "tags-unsaved"))
    assert await effective(studio, ids[0]) == ["crown", "koopa king", "solo", "spiked shell"]
    saved = await studio.tags.tags_of(ids[0])
    assert (saved.caption, saved.caption_source) == ("A turtle king on a throne.", "person")
    assert "person" in next(t for t in saved.tags if t.tag == "crown").sources
    await user.should_see("spiked shell", marker="caption-preview", retries=WAIT)

    user.find(marker="undo").click()
    await eventually(lambda: chip_tags(user) == ["koopa king", "red hair", "solo"])
    assert await effective(studio, ids[0]) == ["koopa king", "red hair", "solo"]
    assert (await studio.tags.tags_of(ids[0])).caption == ""
    assert element(user, "caption-input").value == ""  # the field shows the undone caption too
    assert not visible(user, "tags-unsaved")

    add_tag(user, "crown")  # Revert drops a draft without asking
    await eventually(lambda: "crown" in chip_tags(user))
    user.find(marker="tags-revert").click()
    await eventually(lambda: chip_tags(user) == ["koopa king", "red hair", "solo"])
    assert not visible(user, "tags-unsaved")


async def test_stepping_away_from_unsaved_tag_edits_asks_first(user: User) -> None:
    project_id, koopa, _ = await tagged(user)
    await open_grid(user, project_id, koopa, 3)
    first, second, _ = grid_order(user)
    await open_detail(user, first)
    add_tag(user, "crown")
    await eventually(lambda: bool(visible(user, "tags-unsaved")))

    press(user, "ArrowRight")  # the next image would replace the draft: ask
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog", retries=WAIT)
    await user.should_see(f"Image {first}", marker="detail-title")
    assert "crown" in chip_tags(user)  # the draft is still there

    user.find(marker="close-detail").click()  # closing asks too, and so does Esc
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog", retries=WAIT)
    assert "persistent" in element(user, "image-detail").parent_slot.parent.props  # a click beside it keeps it
    press(user, "Escape")
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm-cancel").click()
    await user.should_not_see(marker="confirm-dialog", retries=WAIT)
    await user.should_see(f"Image {first}", marker="detail-title")

    press(user, "ArrowRight")
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm").click()  # discard
    await user.should_see(f"Image {second}", marker="detail-title", retries=WAIT)
    assert "crown" not in chip_tags(user)
    assert not visible(user, "tags-unsaved")
    assert "crown" not in await effective(running_studio(), first)


async def test_a_bulk_rename_across_the_character_says_what_it_touches_and_undoes(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    studio = running_studio()
    await studio.tags.set_machine_tags(ids[2], TagSource.PROMPT, [MachineTag("crimson hair")])
    await open_grid(user, project_id, koopa, 3)
    await user.should_see(marker="tag-row-red hair", retries=WAIT)

    user.find(marker="bulk-tags").click()
    await user.should_see(marker="bulk-tags-dialog", retries=WAIT)
    element(user, "bulk-operation").value = "rename"
    element(user, "bulk-tag").value = "red hair"
    await user.should_see(marker="bulk-new-tag", retries=WAIT)  # only replace and rename name a new tag
    element(user, "bulk-new-tag").value = "Crimson_Hair"
    await user.should_see("This changes 2 images; 'crimson hair' already exists, so the two merge", retries=WAIT)
    user.find(marker="bulk-apply").click()
    await user.should_not_see(marker="bulk-tags-dialog", retries=WAIT)
    await eventually(lambda: element(user, "tag-count-crimson hair").text == "3")
    assert not visible(user, "tag-row-red hair")
    assert [await effective(studio, i) for i in ids[:2]] == [["crimson hair", "koopa king", "solo"]] * 2

    user.find(marker="undo").click()
    await eventually(lambda: bool(visible(user, "tag-row-red hair")))
    assert element(user, "tag-count-red hair").text == "2"
    assert element(user, "tag-count-crimson hair").text == "1"
    assert [await effective(studio, i) for i in ids[:2]] == [["koopa king", "red hair", "solo"]] * 2


async def test_a_bulk_add_on_the_selection_counts_only_images_without_the_tag(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    studio = running_studio()
    await open_grid(user, project_id, koopa, 3)
    for image_id in ids[1:]:
        element(user, f"select-{image_id}").value = True
    user.find(marker="bulk-tags").click()
    await user.should_see(marker="bulk-tags-dialog", retries=WAIT)
    assert element(user, "bulk-scope").value == "selection"
    element(user, "bulk-tag").value = "red hair"
    await user.should_see("This changes 1 image.", retries=WAIT)  # the other selected image has it already
    element(user, "bulk-tag").value = ""
    await user.should_see("Name one tag.", retries=WAIT)
    assert not element(user, "bulk-apply").enabled
    element(user, "bulk-tag").value = "crown"
    await user.should_see("This changes 2 images.", retries=WAIT)
    user.find(marker="bulk-apply").click()
    await eventually(lambda: bool(visible(user, "tag-row-crown")))
    assert element(user, "tag-count-crown").text == "2"
    assert ["crown" in await effective(studio, i) for i in ids] == [False, True, True]


async def test_a_click_on_a_tag_filters_the_grid_and_the_address_keeps_it(user: User) -> None:
    project_id, koopa, ids = await tagged(user, untagged=1)
    untagged = ids[-1]
    await open_grid(user, project_id, koopa, 4)
    assert element(user, "tag-count-solo").text == "3"

    user.find(marker="tag-row-blue eyes").click()
    await user.should_see("1-1 of 1 image", retries=WAIT)
    assert card_ids(user) == {ids[2]}
    assert element(user, "active-tag").text == "blue eyes"
    user.find(marker="tag-row-blue eyes").click()  # again: the filter is cleared
    await user.should_see("1-4 of 4 images", retries=WAIT)

    element(user, "tag-search").value = "hair"
    await eventually(lambda: not visible(user, "tag-row-solo") and bool(visible(user, "tag-row-red hair")))
    user.find(marker="tag-row-red hair").click()
    await user.should_see("1-2 of 2 images", retries=WAIT)
    assert card_ids(user) == set(ids[:2])

    element(user, "active-tag").value = False  # the chip's cross clears it as well
    await user.should_see("1-4 of 4 images", retries=WAIT)
    element(user, "no-caption-filter").selected = True
    await user.should_see("1-1 of 1 image", retries=WAIT)
    assert card_ids(user) == {untagged}


async def test_tags_written_elsewhere_reach_the_frequency_list(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    await open_grid(user, project_id, koopa, 3)
    await user.should_see(marker="tag-row-solo", retries=WAIT)
    # A tagging job (or another tab) tags an image: the list follows without a reload.
    await running_studio().tags.set_machine_tags(ids[0], TagSource.LLM, [MachineTag("throne room")])
    await eventually(lambda: bool(visible(user, "tag-row-throne room")))
    assert element(user, "tag-count-throne room").text == "1"


async def test_the_address_opens_the_grid_filtered_by_a_tag(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    await user.open(f"/datasets?project={project_id}&character={koopa.id}&tag=Red_Hair")
    await user.should_see("1-2 of 2 images", retries=WAIT)
    assert card_ids(user) == set(ids[:2])
    assert element(user, "active-tag").text == "red hair"


async def test_the_blacklist_and_trigger_word_show_in_the_caption_preview(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    studio = running_studio()
    await open_grid(user, project_id, koopa, 3)
    user.find(marker="tag-rules").click()
    await user.should_see(marker="tag-settings-dialog", retries=WAIT)
    element(user, "trigger-word").value = "kpk"
    element(user, "project-blacklist").value = ["solo"]
    await eventually(lambda: bool(visible(user, "tag-settings-unsaved")))
    user.find(marker="tag-settings-save").click()
    await user.should_not_see(marker="tag-settings-dialog", retries=WAIT)
    character = await studio.characters.get(koopa.id)  # type: ignore[arg-type]
    assert character.trigger_word == "kpk"
    assert (await studio.projects.get(project_id)).tag_blacklist == ["solo"]

    await open_detail(user, ids[0])
    assert element(user, "caption-preview").text == "kpk, koopa king, red hair"
    assert "solo" in element(user, "caption-dropped").text


async def test_the_caption_rules_dialog_asks_before_esc_or_cancel_lose_edits(user: User) -> None:
    project_id, koopa, _ = await tagged(user)
    await open_grid(user, project_id, koopa, 3)
    user.find(marker="tag-rules").click()
    await user.should_see(marker="tag-settings-dialog", retries=WAIT)
    element(user, "character-blacklist").value = ["blue eyes"]
    await eventually(lambda: bool(visible(user, "tag-settings-unsaved")))
    escape_in_dialog(user)
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm-cancel").click()  # keep editing
    await user.should_not_see(marker="confirm-dialog", retries=WAIT)
    await user.should_see(marker="tag-settings-dialog")
    user.find(marker="tag-settings-cancel").click()
    await user.should_see(marker="confirm-dialog", retries=WAIT)
    user.find(marker="confirm").click()
    await user.should_not_see(marker="tag-settings-dialog", retries=WAIT)
    assert (await running_studio().characters.get(koopa.id)).tag_blacklist == []  # type: ignore[arg-type]


async def test_the_tag_menu_lists_the_sources_and_starts_one(user: User) -> None:
    project_id, koopa, _ = await tagged(user)
    studio = running_studio()
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)
    assert not element(user, "tag-menu").enabled  # no character chosen: tags belong to one
    element(user, "character-filter").value = koopa.id
    await eventually(lambda: element(user, "tag-menu").enabled)
    element(user, "tag-sources").value = True  # the browser opens the button's menu on its own, then says so
    states = {state.source: state for state in studio.tagging.sources()}
    await user.should_see(marker=f"tag-source-{TagSource.PROMPT.value}", retries=WAIT)
    assert not states[TagSource.TAGGER].available  # no tagger folder is set in a fresh studio
    for source, state in states.items():
        item: Any = element(user, f"tag-source-{source.value}")
        assert item.enabled == state.available
        if not state.available:
            assert tooltip_of(user, f"tag-source-{source.value}") == state.reason
    user.find(marker=f"tag-source-{TagSource.PROMPT.value}").click()
    await user.should_see("Queued 1 tagging job for Koopa King's images: From the generation prompt", retries=WAIT)


async def test_a_caption_or_tag_the_store_refuses_is_explained_and_the_draft_kept(user: User) -> None:
    project_id, koopa, ids = await tagged(user)
    await open_grid(user, project_id, koopa, 3)
    await open_detail(user, ids[0])
    element(user, "caption-input").value = "A turtle king.\nOn a throne."
    user.find(marker="tags-save").click()
    await eventually(lambda: user.notify.contains("Caption: a caption is one line"))
    assert visible(user, "tags-unsaved")  # nothing was saved; the edit waits to be fixed
    assert (await running_studio().tags.tags_of(ids[0])).caption == ""

    element(user, "caption-input").value = ""
    add_tag(user, "x" * 201)
    user.find(marker="tags-save").click()
    await eventually(lambda: user.notify.contains("Tags: a tag has 1 to 200 characters"))
    assert await effective(running_studio(), ids[0]) == ["koopa king", "red hair", "solo"]
