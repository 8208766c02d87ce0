from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui import app
from starlette.routing import Mount

from services.datasets import THUMBS_URL

PER_STUDIO = ("/api", THUMBS_URL)


@pytest.fixture(autouse=True)
def studio_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """main.py builds the studio from the environment: give each UI test its own data folder."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("STUDIO_DATA_DIR", str(data_dir))
    yield data_dir
    # NiceGUI's reset between simulated users removes routes but not mounts; a stale /api or /thumbs
    # mount would keep serving the previous test's studio (its database, its data folder).
    app.routes[:] = [route for route in app.routes if not isinstance(route, Mount) or route.path not in PER_STUDIO]
