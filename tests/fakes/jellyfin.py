"""Fake Jellyfin: public and authenticated system info, with Jellyfin's `MediaBrowser Token="…"` auth.

Only the `Authorization: MediaBrowser Token="<key>"` form is accepted: the legacy X-Emby-Token and
X-MediaBrowser-Token headers are gone in Jellyfin 12, so code relying on them must fail here too.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request, Response

from tests.fakes.base import FakeServer

SERVER_ID = "6b3e6f0d4c2a4f8e9a1b2c3d4e5f6a7b"
_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_mediabrowser(header: str | None) -> dict[str, str]:
    """Parameters of a `MediaBrowser k="v", …` header ({} for anything else)."""
    if not header:
        return {}
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() not in ("mediabrowser", "emby"):
        return {}
    return dict(_PARAM.findall(rest))


class FakeJellyfin(FakeServer):
    def __init__(
        self,
        *,
        api_key: str = "jf-test-key",
        version: str = "10.10.7",
        server_name: str = "fake-jellyfin",
        latency: float = 0.0,
        fail_with: int | None = None,
    ) -> None:
        self.api_key = api_key
        self.version = version
        self.server_name = server_name
        super().__init__(latency=latency, fail_with=fail_with)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of every request received, oldest first (names lower-case)."""
        return [r.headers for r in self.requests]

    def register_routes(self, app: FastAPI) -> None:
        app.get("/System/Info/Public")(self.public_info)
        app.get("/System/Info")(self.info)

    def _authorized(self, request: Request) -> bool:
        return parse_mediabrowser(request.headers.get("authorization")).get("Token") == self.api_key

    async def public_info(self, request: Request) -> dict[str, Any]:
        return {
            "LocalAddress": f"http://127.0.0.1:{request.url.port}",
            "ServerName": self.server_name,
            "Version": self.version,
            "ProductName": "Jellyfin Server",
            "OperatingSystem": "",
            "Id": SERVER_ID,
            "StartupWizardCompleted": True,
        }

    async def info(self, request: Request) -> Any:
        if not self._authorized(request):
            return Response(status_code=401)
        public = await self.public_info(request)
        return {
            **public,
            "OperatingSystemDisplayName": "Linux",
            "PackageName": "deb",
            "HasPendingRestart": False,
            "IsShuttingDown": False,
            "SupportsLibraryMonitor": True,
            "WebSocketPortNumber": request.url.port,
            "CompletedInstallations": [],
            "CanSelfRestart": True,
            "CanLaunchWebBrowser": False,
            "ProgramDataPath": "/var/lib/jellyfin",
            "WebPath": "/usr/share/jellyfin/web",
            "ItemsByNamePath": "/var/lib/jellyfin/metadata",
            "CachePath": "/var/cache/jellyfin",
            "LogPath": "/var/log/jellyfin",
            "InternalMetadataPath": "/var/lib/jellyfin/metadata",
            "TranscodingTempPath": "/var/cache/jellyfin/transcodes",
            "CastReceiverApplications": [],
            "HasUpdateAvailable": False,
            "EncoderLocation": "System",
            "SystemArchitecture": "X64",
        }
