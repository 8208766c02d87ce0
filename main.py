"""Start Anime Studio: build the Studio from settings, mount pages and API, and serve."""

from __future__ import annotations

import logging
import os

from studio.config import Settings


def main() -> None:
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # NiceGUI reads its storage folder when first imported; keep its session files in the data dir.
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(settings.data_dir / "ui-sessions"))

    from nicegui import ui

    from studio.root import Studio
    from studio.web import ASSETS_DIR, mount

    studio = Studio.build(settings)
    studio.migrate()
    mount(studio)
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
    )


if __name__ == "__main__":
    main()
