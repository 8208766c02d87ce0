"""The Add images page through NiceGUI's simulated user: folder scans, refused input, live import cards."""

from __future__ import annotations

from pathlib import Path

from nicegui.testing import User

from tests.dataset_helpers import drawing, reencoded
from tests.ui.test_characters_page import api, element
from tests.ui.test_create_page import KOOPA, WAIT


async def _koopa(user: User) -> tuple[int, int]:
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    character = await api(user, "POST", f"/projects/{project['id']}/characters", KOOPA)
    return project["id"], character["id"]


async def test_without_characters_the_page_says_to_create_one(user: User) -> None:
    project = await api(user, "POST", "/projects", {"name": "Empty"})
    await user.open(f"/datasets/add?project={project['id']}")
    await user.should_see("This project has no characters yet.", retries=WAIT)
    await user.should_not_see(marker="scan-folder")


async def test_a_folder_scan_shows_what_it_added_and_the_duplicates_it_caught(
    user: User, studio_data_dir: Path
) -> None:
    project_id, character_id = await _koopa(user)
    inbox = studio_data_dir / "inbox" / "batch"
    inbox.mkdir(parents=True)
    for seed in range(3):
        (inbox / f"{seed}.png").write_bytes(drawing(seed))
    (inbox / "0-again.jpg").write_bytes(reencoded(drawing(0)))

    await user.open(f"/datasets/add?project={project_id}&character={character_id}")
    await user.should_see("No imports yet.", retries=WAIT)
    element(user, "folder").value = str(inbox)
    user.find(marker="scan-folder").click()
    await user.should_see("4 added · 1 duplicates caught", retries=WAIT * 5)
    images = (await api(user, "GET", f"/images?project_id={project_id}"))["items"]
    assert sorted(i["approval_state"] for i in images) == ["pending", "pending", "pending", "rejected"]


async def test_folders_outside_the_import_folders_and_bad_urls_are_refused_on_the_page(user: User) -> None:
    project_id, character_id = await _koopa(user)
    await user.open(f"/datasets/add?project={project_id}&character={character_id}")
    await user.should_see("No imports yet.", retries=WAIT)
    element(user, "folder").value = "/etc"
    user.find(marker="scan-folder").click()
    await user.should_see("add it to the import_folders setting", retries=WAIT)
    element(user, "video-url").value = "file:///etc/passwd"
    user.find(marker="ingest-url").click()
    await user.should_see("give an http(s) address", retries=WAIT)
    assert (await api(user, "GET", f"/jobs?project_id={project_id}")) == []
