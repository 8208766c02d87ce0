"""The Datasets review grid through NiceGUI's simulated user: counts, filters, selection and bulk decisions,
moves between characters, the detail panel, undo, regenerate and live updates, on the real services."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import app, ui
from nicegui.events import GenericEventArguments
from nicegui.testing import User

from services.datasets import Verdict, thumbnail_url
from studio.models import ApprovalState, Character, Decider, JobState
from studio.root import Studio
from tests.dataset_helpers import drawing, seed_pending, uploaded
from tests.ui.test_characters_page import KOOPA, PEACH, api, element
from tests.ui.test_create_page import WAIT, visible
from tests.ui.test_shell import eventually


def running_studio() -> Studio:
    """The Studio main.py built for this test's app: its start-up handler is a method of it.

    Seeding through the same object (not a second Studio on the same database) means the page hears the
    events the seeding emits, as it would from another tab or a worker.
    """
    for handler in app._startup_handlers:
        owner = getattr(handler, "__self__", None)
        if isinstance(owner, Studio):
            return owner
    raise AssertionError("main.py registered no Studio start-up handler")


async def cast(user: User, *characters: dict[str, Any]) -> tuple[int, list[Character]]:
    """A project with these characters, as (project id, characters)."""
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    studio = running_studio()
    made = []
    for character in characters:
        row = await api(user, "POST", f"/projects/{project['id']}/characters", character)
        made.append(await studio.characters.get(row["id"]))
    return project["id"], made


async def ingest(studio: Studio, character: Character, files: list[tuple[str, bytes]]) -> list[int]:
    """Upload files the way the Add images page does and wait for the job: dedup and local triage run for real."""
    job = await studio.ingestion.ingest_images(
        character.id,  # type: ignore[arg-type]
        [uploaded(name, data) for name, data in files],
        "local",
    )
    for _ in range(1200):
        job = await studio.jobs.get(job.id)  # type: ignore[arg-type]
        if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            break
        await asyncio.sleep(0.05)
    assert job.state == JobState.SUCCEEDED, job.error
    return list(job.result["image_ids"])


async def three_ingested(user: User) -> tuple[int, int, int, int]:
    """(project, good, small, near duplicate of good): one waits for a person, two were rejected automatically."""
    project_id, [koopa] = await cast(user, KOOPA)
    good, small, near = await ingest(
        running_studio(),
        koopa,
        [
            ("good.png", drawing(1)),
            ("small.png", drawing(2, (200, 200))),  # below every built-in profile's min_side
            ("again.jpg", drawing(1, fmt="JPEG")),  # the same picture, re-encoded: a near duplicate
        ],
    )
    return project_id, good, small, near


def card_ids(user: User) -> set[int]:
    return {int(e.props["alt"].split()[-1]) for e in visible(user, "image-grid")[0].descendants() if "alt" in e.props}


def state_of(user: User, image_id: int) -> str:
    return element(user, f"state-{image_id}").text


async def test_without_images_the_grid_says_how_to_add_them(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see(marker="no-images", retries=WAIT)
    await user.should_see("No images yet for Mario Galaxy", retries=WAIT)
    assert element(user, "empty-add-images").props["href"] == f"/datasets/add?project={project_id}"
    assert element(user, "open-kiosk").props["href"] == f"/kiosk?project={project_id}"
    assert element(user, "bulk-approve").enabled is False  # nothing selected

    element(user, "character-filter").value = koopa.id
    await user.should_see("No images yet for Koopa King", retries=WAIT)
    assert element(user, "add-images").props["href"] == f"/datasets/add?project={project_id}&character={koopa.id}"
    assert element(user, "open-kiosk").props["href"] == f"/kiosk?project={project_id}&character={koopa.id}"


async def test_a_project_without_characters_asks_for_one_first(user: User) -> None:
    project_id, _ = await cast(user)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("Mario Galaxy has no characters yet", retries=WAIT)


async def test_the_grid_shows_one_page_of_cached_thumbnails_with_state_counts(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, 65)
    await studio.decisions.decide(ids[0], Verdict(ApprovalState.APPROVED), "local")
    await studio.decisions.decide(ids[1], Verdict(ApprovalState.APPROVED), "local")
    await studio.decisions.decide(ids[2], Verdict(ApprovalState.REJECTED, categories=("not_solo",)), "local")

    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-60 of 65 images", retries=WAIT)
    options = element(user, "state-filter").options
    assert [options[k] for k in ("all", "pending", "approved", "rejected", "duplicates")] == [
        "All 65",
        "Pending 62",
        "Approved 2",
        "Rejected 1",
        "Duplicates 0",
    ]
    assert element(user, "character-filter").options[koopa.id] == "Koopa King (62 pending)"
    assert card_ids(user) == set(ids[5:])  # newest first
    assert element(user, "pagination").max == 2

    newest = await studio.images.image(ids[-1])
    thumb = element(user, f"thumb-{ids[-1]}")
    assert thumb.props["src"] == thumbnail_url(newest.content_hash)
    assert thumb.props["loading"] == "lazy"
    served = await user.http_client.get(thumb.props["src"])
    assert served.status_code == 200 and served.content[8:12] == b"WEBP"
    assert "immutable" in served.headers["cache-control"]

    element(user, "pagination").value = 2
    await user.should_see("61-65 of 65 images", retries=WAIT)
    assert card_ids(user) == set(ids[:5])
    assert state_of(user, ids[0]) == "approved"
    assert element(user, f"categories-{ids[2]}").text == "Not solo"


async def test_filters_by_state_source_and_triage_flag(user: User) -> None:
    project_id, good, small, near = await three_ingested(user)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)
    options = element(user, "state-filter").options
    assert (options["pending"], options["rejected"], options["duplicates"]) == (
        "Pending 1",
        "Rejected 2",
        "Duplicates 1",
    )
    assert state_of(user, good) == "pending"
    await user.should_see(marker=f"duplicate-{near}", retries=WAIT)

    element(user, "state-filter").value = "rejected"
    await user.should_see("1-2 of 2 images", retries=WAIT)
    assert card_ids(user) == {small, near}

    element(user, "state-filter").value = "duplicates"
    await user.should_see("1-1 of 1 image", retries=WAIT)
    assert card_ids(user) == {near}

    element(user, "state-filter").value = "all"
    element(user, "flag-filter").value = ["small"]
    await eventually(lambda: card_ids(user) == {small}, seconds=10)

    element(user, "source-filter").value = ["generated"]
    await user.should_see("No image matches these filters.", retries=WAIT)
    user.find(marker="clear-filters").click()
    await user.should_see("1-3 of 3 images", retries=WAIT)
    assert element(user, "flag-filter").value == []


async def test_bulk_approve_changes_the_cards_in_place_and_undo_restores_pending(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, 4)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-4 of 4 images", retries=WAIT)
    cards_before = {i: element(user, f"image-card-{i}") for i in ids}

    user.find(marker=f"select-{ids[0]}").click()
    user.find(marker=f"select-{ids[1]}").click()
    await user.should_see("2 selected", retries=WAIT)
    user.find(marker="bulk-approve").click()
    await user.should_see("Approved 2 images", retries=WAIT)
    await eventually(lambda: state_of(user, ids[0]) == "approved" and state_of(user, ids[1]) == "approved")
    assert state_of(user, ids[2]) == "pending"
    assert [(await studio.images.image(i)).approval_state for i in ids] == [
        ApprovalState.APPROVED,
        ApprovalState.APPROVED,
        ApprovalState.PENDING,
        ApprovalState.PENDING,
    ]
    # In place: the same card elements, not a rebuilt grid; the selection is cleared, the counts follow.
    assert all(element(user, f"image-card-{i}") is cards_before[i] for i in ids)
    assert element(user, "selection-count").text == ""
    await eventually(lambda: element(user, "state-filter").options["approved"] == "Approved 2")

    user.find(marker="undo").click()
    await user.should_see("Restored 2 images", retries=WAIT)
    await eventually(lambda: state_of(user, ids[0]) == "pending" and state_of(user, ids[1]) == "pending")
    assert [(await studio.images.image(i)).approval_state for i in ids] == [ApprovalState.PENDING] * 4
    history = await studio.decisions.history(ids[0])
    assert [(d.state, d.undone_at is not None) for d in history] == [(ApprovalState.APPROVED, True)]
    await eventually(lambda: element(user, "state-filter").options["pending"] == "Pending 4")


async def test_bulk_reject_asks_for_categories_and_stores_them(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, 3)
    await user.open(f"/datasets?project={project_id}&state=pending")
    await user.should_see("1-3 of 3 images", retries=WAIT)

    user.find(marker="select-page").click()
    await user.should_see("3 selected", retries=WAIT)
    user.find(marker="bulk-reject").click()
    await user.should_see(marker="reject-dialog", retries=WAIT)
    user.find(marker="confirm-reject").click()
    await user.should_see("Choose at least one category", retries=WAIT)
    user.find(marker="reject-category-wrong_style").click()
    user.find(marker="reject-reason").type("looks like a 3d render")
    user.find(marker="confirm-reject").click()
    await user.should_see("Rejected 3 images", retries=WAIT)
    await user.should_not_see(marker="reject-dialog", retries=WAIT)

    for image_id in ids:
        image = await studio.images.image(image_id)
        assert image.approval_state == ApprovalState.REJECTED
        assert image.rejection_categories == ["wrong_style"]
    [decision] = await studio.decisions.history(ids[0])
    assert (decision.decider, decision.actor, decision.reasons) == (Decider.HUMAN, "local", ["looks like a 3d render"])
    await eventually(lambda: state_of(user, ids[0]) == "rejected")
    assert element(user, f"categories-{ids[0]}").text == "Wrong style"
    # Viewing pending, the rejected cards stay where they were, dimmed, until the next reload.
    assert "dataset-card--elsewhere" in element(user, f"image-card-{ids[0]}").classes
    assert "3d render" in (await studio.feedback.learned_negatives(koopa.id)).terms  # type: ignore[arg-type]


async def test_reassign_moves_the_selection_to_another_character(user: User) -> None:
    project_id, [koopa, peach] = await cast(user, KOOPA, PEACH)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, 3)
    await studio.decisions.decide(ids[0], Verdict(ApprovalState.APPROVED), "local")
    await user.open(f"/datasets?project={project_id}&character={koopa.id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)

    user.find(marker=f"select-{ids[0]}").click()
    user.find(marker=f"select-{ids[1]}").click()
    user.find(marker="bulk-reassign").click()
    await user.should_see(marker="reassign-dialog", retries=WAIT)
    assert element(user, "reassign-target").options == {peach.id: "Princess Peach"}  # not Koopa itself
    assert element(user, "confirm-reassign").enabled is False
    element(user, "reassign-target").value = peach.id
    user.find(marker="confirm-reassign").click()
    await user.should_see("Moved 2 images to Princess Peach; they wait for review there", retries=WAIT)

    moved = [await studio.images.image(i) for i in ids[:2]]
    assert [(i.character_id, i.approval_state) for i in moved] == [(peach.id, ApprovalState.PENDING)] * 2
    assert (await studio.images.image(ids[2])).character_id == koopa.id
    assert "dataset-card--elsewhere" in element(user, f"image-card-{ids[0]}").classes
    await eventually(lambda: element(user, "character-filter").options[peach.id] == "Princess Peach (2 pending)")

    element(user, "character-filter").value = peach.id
    await user.should_see("1-2 of 2 images", retries=WAIT)
    assert card_ids(user) == set(ids[:2])


async def test_the_detail_panel_shows_triage_decisions_and_the_duplicate_group(user: User) -> None:
    project_id, good, small, near = await three_ingested(user)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)

    user.find(marker=f"thumb-{small}").click()
    await user.should_see(f"Image {small}", marker="detail-title", retries=WAIT)
    assert element(user, "triage-size").text == "200x200 px"
    assert float(element(user, "triage-sharpness").text) > 30
    for key in ("brightness", "faces", "nsfw"):
        assert element(user, f"triage-{key}").text not in ("", "—")
    await user.should_see("small", marker="triage-flags", retries=WAIT)
    decision = (await running_studio().decisions.history(small))[-1]
    row = element(user, f"decision-{decision.id}")
    texts = " ".join(e.text for e in row.descendants() if hasattr(e, "text"))
    assert "pending → rejected by the triage check" in texts
    assert "triage_min_side" in texts
    assert "Bad quality" in texts
    await user.should_see("Not reviewed", retries=WAIT)  # no vision model configured

    user.find(marker="close-detail").click()
    user.find(marker=f"thumb-{near}").click()
    await user.should_see(f"Image {near}", marker="detail-title", retries=WAIT)
    assert f"duplicate of image {good}" in element(user, "duplicate-of").text
    history = element(user, "decision-history")
    texts = " ".join(e.text for e in history.descendants() if hasattr(e, "text"))
    assert "by the dedup check" in texts and f"of image {good}" in texts

    user.find(marker=f"open-image-{good}").click()  # the duplicate link opens the original
    await user.should_see(f"Image {good}", marker="detail-title", retries=WAIT)
    await user.should_see(marker=f"open-image-{near}", retries=WAIT)  # which lists what duplicates it
    await user.should_see("No decision yet", retries=WAIT)

    user.find(marker="detail-approve").click()
    await user.should_see(f"Image {good} approved", retries=WAIT)
    await eventually(lambda: state_of(user, good) == "approved" and element(user, "detail-state").text == "approved")
    user.find(marker="undo").click()
    await eventually(lambda: state_of(user, good) == "pending")
    assert (await running_studio().images.image(good)).approval_state == ApprovalState.PENDING
    await eventually(lambda: element(user, "detail-state").text == "pending")

    user.find(marker="close-detail").click()
    await user.should_not_see(marker="detail-title", retries=WAIT)


def grid_order(user: User) -> list[int]:
    return [int(e.props["alt"].split()[-1]) for e in visible(user, "image-grid")[0].descendants() if "alt" in e.props]


def press(user: User, key: str) -> None:
    """A key pressed in the browser, as NiceGUI's keyboard element hears it from there."""
    [keyboard] = user.find(kind=ui.keyboard).elements
    modifiers = {"altKey": False, "ctrlKey": False, "metaKey": False, "shiftKey": False}
    args = {"action": "keydown", "repeat": False, "key": key, "code": key, "location": 0, **modifiers}
    with user.client:
        keyboard._handle_key(GenericEventArguments(sender=keyboard, client=user.client, args=args))


async def test_the_detail_panel_steps_through_the_grid_and_opens_a_zoomable_lightbox(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    await seed_pending(running_studio(), koopa, 3)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)
    first, second, third = grid_order(user)

    user.find(marker=f"thumb-{first}").click()
    await user.should_see(f"Image {first}", marker="detail-title", retries=WAIT)
    assert not element(user, "detail-previous").enabled  # the grid's first image
    user.find(marker="detail-next").click()
    await user.should_see(f"Image {second}", marker="detail-title", retries=WAIT)
    press(user, "ArrowRight")
    await user.should_see(f"Image {third}", marker="detail-title", retries=WAIT)
    assert not element(user, "detail-next").enabled  # ...and its last
    press(user, "ArrowRight")  # nothing beyond the last
    press(user, "ArrowLeft")
    await user.should_see(f"Image {second}", marker="detail-title", retries=WAIT)
    user.find(marker="detail-previous").click()
    await user.should_see(f"Image {first}", marker="detail-title", retries=WAIT)

    user.find(marker="detail-image").trigger("click")
    await user.should_see(marker="image-lightbox", retries=WAIT)
    picture = element(user, "lightbox-image")
    assert element(user, "lightbox-zoom").text == "Fit" and "max-width" in picture.style
    assert not element(user, "lightbox-zoom-out").enabled
    user.find(marker="lightbox-zoom-in").click()
    assert element(user, "lightbox-zoom").text == "100%"
    width = (await running_studio().images.image(first)).width
    assert picture.style["width"] == f"{width}px"  # the image's own pixels, scrolled to look around
    user.find(marker="lightbox-zoom-in").click()
    assert element(user, "lightbox-zoom").text == "150%"
    assert picture.style["width"] == f"{round(width * 1.5)}px"
    press(user, "ArrowRight")  # the arrows stay with the lightbox's image while it is open
    await user.should_see(f"Image {first}", marker="detail-title")
    user.find(marker="lightbox-fit").click()
    assert element(user, "lightbox-zoom").text == "Fit"
    user.find(marker="lightbox-image").trigger("click")  # a click on the picture toggles its own size
    assert element(user, "lightbox-zoom").text == "100%"
    user.find(marker="lightbox-close").click()
    await user.should_not_see(marker="image-lightbox", retries=WAIT)
    await user.should_see(f"Image {first}", marker="detail-title")
    user.find(marker="close-detail").click()
    await user.should_not_see(marker="detail-title", retries=WAIT)


async def test_regenerate_without_a_comfyui_device_says_how_to_add_one(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    [first, second] = await seed_pending(studio, koopa, 2)
    await studio.decisions.decide(first, Verdict(ApprovalState.REJECTED, categories=("bad_quality",)), "local")
    await studio.decisions.decide(second, Verdict(ApprovalState.REJECTED, categories=("not_solo",)), "local")
    await user.open(f"/datasets?project={project_id}&image={first}")
    await user.should_see(marker="regenerate-section", retries=WAIT)
    learned = element(user, "learned-negatives").text
    assert "lowres" in learned and "multiple characters" in learned  # from both of Koopa's rejections

    user.find(marker="regenerate").click()
    await eventually(lambda: "no device has a ComfyUI server" in element(user, "regenerate-problem").text)
    assert "Settings → Connections" in element(user, "regenerate-problem").text
    assert await api(user, "GET", "/jobs") == []
    user.find(marker="close-detail").click()
    await user.should_not_see(marker="regenerate-section", retries=WAIT)


async def test_decisions_elsewhere_update_cards_in_place_and_new_images_offer_a_refresh(user: User) -> None:
    project_id, [koopa] = await cast(user, KOOPA)
    studio = running_studio()
    ids = await seed_pending(studio, koopa, 3)
    await user.open(f"/datasets?project={project_id}")
    await user.should_see("1-3 of 3 images", retries=WAIT)
    card = element(user, f"image-card-{ids[1]}")

    # Another tab, the kiosk or a worker decides: the page hears the event.
    await studio.decisions.decide(
        ids[1], Verdict(ApprovalState.REJECTED, Decider.VISION, ("not_solo",), ("two characters",), 0.2), "studio"
    )
    await eventually(lambda: state_of(user, ids[1]) == "rejected", seconds=10)
    assert element(user, f"image-card-{ids[1]}") is card
    assert element(user, f"score-{ids[1]}").text == "0.20"
    await eventually(lambda: element(user, "state-filter").options["rejected"] == "Rejected 1", seconds=10)

    await ingest(studio, koopa, [("new.png", drawing(40))])
    await user.should_see("1 new image — refresh", retries=WAIT)
    assert len(card_ids(user)) == 3  # the grid was not rebuilt under the user
    user.find(marker="new-images").click()
    await user.should_see("1-4 of 4 images", retries=WAIT)
    await user.should_not_see(marker="new-images", retries=WAIT)
