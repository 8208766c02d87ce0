"""Start Anime Studio: build the Studio from settings, mount pages and API, and serve."""

from __future__ import annotations

import gc
import logging
import os
import tempfile

from services.partial_files import TEMP_FOLDER
from studio.config import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # NiceGUI reads its storage folder when first imported; keep its session files in the data dir.
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(settings.data_dir / "ui-sessions"))
    # Nothing is written outside the data folder: onnxruntime (triage, Piper) keeps a device id and a database
    # under $XDG_CACHE_HOME (~/.cache) and a session file in $TMPDIR; every library's temp files go to
    # <data_dir>/tmp, which the studio empties when it starts.
    for variable, folder in (("XDG_CACHE_HOME", "cache"), ("TMPDIR", TEMP_FOLDER)):
        os.environ[variable] = str(settings.data_dir / folder)
        os.makedirs(os.environ[variable], mode=0o700, exist_ok=True)
    tempfile.tempdir = os.environ["TMPDIR"]

    from nicegui import app, ui

    from services.children import EVENT_LOOP
    from studio.root import Studio
    from studio.web import ASSETS_DIR, mount

    studio = Studio.build(settings)
    studio.migrate()
    mount(studio)
    app.on_startup(_freeze_start_up_heap)  # after the studio's own start: what it loaded is frozen too
    ui.run(
        host=settings.host,
        port=settings.port,
        title="Anime Studio",
        favicon=ASSETS_DIR / "favicon.svg",
        dark=None,
        storage_secret=studio.secrets.session_key(),
        reload=False,
        show=False,
        # Forwarded headers are judged by the studio's own access guard against STUDIO_TRUSTED_PROXIES;
        # uvicorn's own rewriting would trust any local peer.
        proxy_headers=False,
        forwarded_allow_ips="",
        uvicorn_logging_level=settings.log_level,
        # Not uvloop: its fork() can hang the studio next to the in-process models (services/children.py).
        loop=EVENT_LOOP,
    )


def _freeze_start_up_heap() -> None:
    """What start-up loaded (modules, models, the studio's services) lives as long as the process: keep it out of
    the garbage collector's full passes, which otherwise walk all of it and pause requests for 100-140 ms
    (measured by tests.bench.analytics; the test suite freezes its heap the same way)."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    main()
