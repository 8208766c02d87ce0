import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nicegui import Client, app
from nicegui.testing import User
from nicegui.testing.general_fixtures import get_path_to_main_file
from nicegui.testing.user_simulation import user_simulation
from starlette.routing import Mount

from services.datasets import THUMBS_URL
from tests.conftest import start_from_migrated

PER_STUDIO = ("/api", THUMBS_URL)
LOADED_RETRIES = 400  # 0.05 s apart: a page has 20 s to fill in after its first paint


@pytest.fixture
async def user(caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> AsyncIterator[User]:
    """NiceGUI's simulated user (its own `user` fixture, made sturdier), whose `open` returns once the page has
    filled in, as a person waits for it.

    Pages answer with their frame and a loading line, then load their data (components/shell.py). A test of that
    first paint calls NiceGUI's own `User.open(user, path)`.

    Unlike NiceGUI's fixture, an ERROR logged during the test fails it only after the simulated app has shut down:
    failing inside the simulation skips the app's shutdown and leaves NiceGUI "started", which then fails every
    later UI test of the worker at its setup.
    """
    async with user_simulation(main_file=get_path_to_main_file(request)) as simulated:
        first_paint = simulated.open

        async def open_loaded(path: str, *, clear_forward_history: bool = True) -> Client:
            client = await first_paint(path, clear_forward_history=clear_forward_history)
            await simulated.should_not_see(marker="page-loading", retries=LOADED_RETRIES)
            return client

        simulated.open = open_loaded  # type: ignore[method-assign]
        yield simulated
        # Close the pages as a browser would. NiceGUI's reset only forgets its clients: a page's dialog would
        # then try to delete itself when the garbage collector gets to it, during a later test, and fail it.
        for client in list(Client.instances.values()):
            client.delete()
    errors = [record for record in caplog.get_records("call") if record.levelname == "ERROR"]
    if errors:
        pytest.fail(f"There were unexpected ERROR logs: {errors[0].getMessage()}", pytrace=False)


@pytest.fixture(autouse=True)
def studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, migrated_sqlite: Path) -> Iterator[Path]:
    """main.py builds the studio from the environment: give each UI test its own data folder (with the
    migrated database in place, so the studio starts without running every migration)."""
    data_dir = tmp_path / "data"
    start_from_migrated(data_dir / "studio.db", migrated_sqlite)
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    # main.py points the process's temp and cache folders into its data folder; in this process they must
    # come back afterwards (chromium's socket path under a test's data folder is too long for later tests).
    process_folders = {variable: os.environ.get(variable) for variable in ("TMPDIR", "XDG_CACHE_HOME")}
    monkeypatch.setattr(tempfile, "tempdir", tempfile.tempdir)
    yield data_dir
    for variable, value in process_folders.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value
    # NiceGUI's reset between simulated users removes routes but not mounts; a stale /api or /thumbs
    # mount would keep serving the previous test's studio (its database, its data folder).
    app.routes[:] = [route for route in app.routes if not isinstance(route, Mount) or route.path not in PER_STUDIO]
