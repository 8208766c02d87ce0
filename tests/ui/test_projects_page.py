"""The Projects page: create, edit, open, archive with undo, export and import."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually

# The sample production renders, voices and assembles for real: give it time on a busy 2-core machine.
SAMPLE_SECONDS = 180


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


# --- the sample project ------------------------------------------------------------------------------------


def _texts(user: User, marker: str) -> list[str]:
    """The texts of the labels with this marker on the page now (none: [])."""
    try:
        return [element.text for element in user.find(marker=marker).elements]  # type: ignore[attr-defined]
    except AssertionError:
        return []


async def test_the_empty_page_makes_the_sample_project_with_live_progress(user: User) -> None:
    studio = running_studio()
    await user.open("/projects")
    await user.should_see(marker="create-sample")
    user.find(marker="create-sample").click()
    steps: list[str] = []
    for _ in range(int(SAMPLE_SECONDS / 0.1)):  # read the step text as the page updates it
        steps += [t for t in _texts(user, "sample-step") if t not in steps]
        state = studio.demo.state
        if state is not None and not state.running:
            break
        await asyncio.sleep(0.1)
    state = studio.demo.state
    assert state is not None and not state.running and state.error is None, state
    assert len(steps) >= 3, steps  # the step text changed while it ran
    assert any("Rendering the shots" in step for step in steps), steps
    result = state.result
    assert result is not None and result.episode_file.is_file()
    await user.should_see(marker="sample-episode-link", retries=30)
    link = user.find(marker="sample-episode-link").elements.pop()
    assert link.props["href"] == f"/episodes?project={result.project_id}&episode={result.episode_id}"
    await user.should_see(f"Published to {result.episode_file}")
    await user.should_see("2 characters · style Harbor Lights anime", retries=30)  # the project's card

    await user.open("/projects")  # the page again (a reload): the outcome is still there
    await user.should_see(marker="sample-episode-link", retries=30)
    await user.should_see("Harbor Lights")


async def test_a_failing_sample_production_says_why(
    user: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no ffmpeg, no espeak-ng
    studio = running_studio()
    await user.open("/projects")
    user.find(marker="create-sample").click()
    await eventually(lambda: studio.demo.state is not None and not studio.demo.state.running, SAMPLE_SECONDS)
    await user.should_see(marker="sample-error", retries=30)
    [error] = _texts(user, "sample-error")
    assert error.startswith("It failed: ") and ("ffmpeg" in error or "espeak" in error), error
    await user.should_see(kind=ui.button, content="Try again")
