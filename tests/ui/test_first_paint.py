"""Pages paint first: a page answers with its frame at once and fills in when its data arrives.

The database is made slow for real: another connection holds an exclusive lock on the table a page reads,
so the page's own query waits in PostgreSQL, as it does behind a long write on a busy machine.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from nicegui.testing import User
from sqlalchemy.engine import make_url

from tests.ui.test_create_page import WAIT

pytestmark = pytest.mark.postgres


@pytest.fixture
def on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The studio main.py builds runs on PostgreSQL (request this before `user`)."""
    monkeypatch.setenv("STUDIO_DATABASE_URL", postgres_url)
    yield make_url(postgres_url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.mark.parametrize(
    ("path", "table", "filled"),
    [
        ("/", "projects", "Welcome to Anime Studio"),
        ("/jobs", "jobs", "No jobs yet."),
        ("/projects", "projects", "No projects yet"),
        ("/activity", "audit_events", "Recent activity"),
    ],
)
async def test_a_page_shows_its_frame_while_its_data_is_held_up_then_fills_in(
    on_postgres: str, user: User, path: str, table: str, filled: str
) -> None:
    await user.open("/status")  # the studio has started: its own start-up writes are done
    await user.should_see("Backends")
    # An async connection: waiting for the lock must not stop the studio's event loop (this test shares it), or
    # a studio transaction still reading the table (the header's project list, an autopilot pass) never ends.
    async with await psycopg.AsyncConnection.connect(on_postgres) as holder:
        await holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        # NiceGUI answers 500 to a page that takes more than 3 s; this one's data is held up longer than that.
        await User.open(user, path)  # NiceGUI's own: returns at the first paint
        await user.should_see("Anime Studio")
        await user.should_see(marker="page-loading")
        await user.should_not_see(filled)
        await holder.rollback()
    await user.should_see(filled, retries=WAIT)
    await user.should_not_see(marker="page-loading")
