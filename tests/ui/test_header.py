"""The header's current project through NiceGUI's simulated user: it follows the page, switches it, and opening
a project by its address is remembered without an audit entry."""

from __future__ import annotations

from nicegui.testing import User
from sqlmodel import select

from studio.models import AuditRecord
from studio.root import Studio
from tests.ui.test_characters_page import api, element
from tests.ui.test_datasets_page import running_studio
from tests.ui.test_shell import eventually


async def header_project(user: User) -> int | None:
    """The header's current project, filled in once the page's own content is there."""
    await user.should_see(marker="header-project", retries=100)
    return element(user, "header-project").value


async def preference_audits(studio: Studio) -> list[str]:
    async with studio.db.session() as session:
        rows = await session.exec(select(AuditRecord).where(AuditRecord.event == "preference.changed"))
        return [row.summary for row in rows.all()]


async def test_opening_a_project_by_its_address_is_remembered_not_audited(user: User) -> None:
    first = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    second = await api(user, "POST", "/projects", {"name": "Zelda Skies"})
    await user.open(f"/scenes?project={first['id']}")
    await user.open(f"/story?project={second['id']}")
    await user.open(f"/story?project={second['id']}")
    assert await preference_audits(running_studio()) == []
    await user.open("/scenes")  # no address: the project opened last
    assert element(user, "project-picker").value == second["id"]
    assert await header_project(user) == second["id"]


async def test_the_header_switches_the_page_to_another_project(user: User) -> None:
    first = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    second = await api(user, "POST", "/projects", {"name": "Zelda Skies"})
    await user.open(f"/?project={first['id']}")
    await user.should_see("Mario Galaxy")
    assert await header_project(user) == first["id"]
    switcher = element(user, "header-project")
    assert switcher.options == {first["id"]: "Mario Galaxy", second["id"]: "Zelda Skies"}
    switcher.set_value(second["id"])
    await eventually(lambda: user.back_history[-1] == f"/?project={second['id']}")
    await user.should_not_see(marker="page-loading", retries=400)
    assert element(user, "overview-project").text == "Zelda Skies"
    await user.open("/jobs")  # a page of no project still says which one is current
    assert await header_project(user) == second["id"]
