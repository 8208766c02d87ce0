import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui import Client, app
from nicegui.testing import User
from starlette.routing import Mount

from services.datasets import THUMBS_URL

PER_STUDIO = ("/api", THUMBS_URL)
LOADED_RETRIES = 400  # 0.05 s apart: a page has 20 s to fill in after its first paint


@pytest.fixture
def user(user: User) -> User:
    """NiceGUI's simulated user, whose `open` returns once the page has filled in, as a person waits for it.

    Pages answer with their frame and a loading line, then load their data (components/shell.py). A test
    of that first paint calls NiceGUI's own `User.open(user, path)`.
    """
    first_paint = user.open

    async def open_loaded(path: str, *, clear_forward_history: bool = True) -> Client:
        client = await first_paint(path, clear_forward_history=clear_forward_history)
        await user.should_not_see(marker="page-loading", retries=LOADED_RETRIES)
        return client

    user.open = open_loaded  # type: ignore[method-assign]
    return user


@pytest.fixture(autouse=True)
def studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """main.py builds the studio from the environment: give each UI test its own data folder."""
    data_dir = tmp_path / "data"
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
