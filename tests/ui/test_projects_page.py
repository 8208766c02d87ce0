"""The Projects page: create, edit, open, archive with undo, export and import."""

from __future__ import annotations

import io
import zipfile

from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from tests.ui.test_shell import eventually


async def test_an_empty_studio_invites_the_first_project(user: User) -> None:
    await user.open("/projects")
    await user.should_see("No projects yet")
    user.find(kind=ui.button, content="Create your first project").click()
    await user.should_see(marker="project-name", retries=20)
    user.find(marker="project-name").type("Mario Galaxy")
    user.find(kind=ui.textarea, content="Premise").type("Stars fall on the kingdom")
    user.find(marker="save-project").click()
    await user.should_see("0 characters · no default style yet", retries=20)
    projects = (await user.http_client.get("/api/projects")).json()
    assert [(p["project"]["name"], p["project"]["premise"]) for p in projects] == [
        ("Mario Galaxy", "Stars fall on the kingdom")
    ]


async def test_invalid_details_are_explained_in_the_dialog(user: User) -> None:
    await user.http_client.post("/api/projects", json={"name": "Taken"})
    await user.open("/projects")
    user.find(marker="new-project").click()
    await user.should_see(marker="save-project", retries=20)
    user.find(marker="save-project").click()
    await user.should_see("Name: must not be empty", retries=20)
    user.find(marker="project-name").type("Taken")
    user.find(marker="save-project").click()
    await user.should_see("project named 'Taken' already exists", retries=20)


async def test_archive_is_undoable_and_archived_projects_can_be_shown(user: User) -> None:
    created = (await user.http_client.post("/api/projects", json={"name": "Pilot", "genre": "comedy"})).json()
    await user.open("/projects")
    await user.should_see("Pilot")
    user.find(marker=f"archive-{created['id']}").click()
    await user.should_see(marker="confirm", retries=20)
    user.find(marker="confirm").click()
    await user.should_see("'Pilot' archived", retries=20)
    await user.should_see("No projects yet")
    user.find(marker="undo").click()
    await user.should_see("comedy", retries=20)
    assert (await user.http_client.get(f"/api/projects/{created['id']}")).json()["archived_at"] is None

    await user.http_client.delete(f"/api/projects/{created['id']}")
    await user.open("/projects")
    await user.should_see("No projects yet")
    user.find(kind=ui.switch).click()
    await user.should_see(kind=ui.button, content="Restore", retries=20)
    user.find(kind=ui.button, content="Restore").click()
    await user.should_see("'Pilot' restored", retries=20)


async def test_opening_a_project_remembers_it_for_the_other_pages(user: User) -> None:
    created = (await user.http_client.post("/api/projects", json={"name": "Remembered"})).json()
    await user.open("/projects")
    user.find(kind=ui.button, content="Characters").click()
    await eventually(lambda: user.back_history[-1] == f"/characters?project={created['id']}")
    await user.open("/story")  # no ?project=: the page opens the remembered one
    picker = user.find(marker="project-picker").elements.pop()
    assert picker.value == created["id"]


async def test_export_then_import_through_the_page(user: User) -> None:
    created = (await user.http_client.post("/api/projects", json={"name": "Travelling", "premise": "Far away"})).json()
    archive = await user.http_client.get(f"/api/projects/{created['id']}/export")
    assert archive.headers["content-type"] == "application/zip"
    assert "bible.json" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    await user.open("/projects")
    upload = user.find(ui.upload).elements.pop()
    await upload.handle_uploads([SmallFileUpload("travelling.bible.zip", "application/zip", archive.content)])
    await user.should_see("Imported 'Travelling' as 'Travelling (imported)'", retries=20)
    await upload.handle_uploads([SmallFileUpload("nonsense.zip", "application/zip", b"not a zip at all")])
    await user.should_see("not a zip archive", retries=20)
    names = sorted(p["project"]["name"] for p in (await user.http_client.get("/api/projects")).json())
    assert names == ["Travelling", "Travelling (imported)"]
