"""Fake Jellyfin: public and authenticated system info, with Jellyfin's `MediaBrowser Token="…"` auth, and a
Shows library that really scans a folder.

Only the `Authorization: MediaBrowser Token="<key>"` form is accepted: the legacy X-Emby-Token and
X-MediaBrowser-Token headers are gone in Jellyfin 12, so code relying on them must fail here too.

The library: `library_dir` is the folder on this machine, `library_path` the same folder as "Jellyfin" sees
it (a container mount point). `POST /Library/Media/Updated` records the updates and, `scan_delay` seconds
later, scans each Created/Modified path (a video file, or every video under a folder) into an Episode item
read from the episode NFO beside it (numbers from the file name when there is none) and the series'
tvshow.nfo; Deleted drops items at or under the path. `POST /Library/Refresh` rescans the whole folder the
same way. `GET /Items` lists the items with Jellyfin's paging and (only when asked with `Fields=Path`) paths.
Knobs: `targeted_refresh=False` makes /Library/Media/Updated answer 404 like servers before it existed;
`scan_finds_nothing=True` makes every scan add nothing.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import FastAPI, Request, Response

from tests.fakes.base import FakeServer

SERVER_ID = "6b3e6f0d4c2a4f8e9a1b2c3d4e5f6a7b"
_PARAM = re.compile(r'(\w+)="([^"]*)"')
_EPISODE_CODE = re.compile(r"[Ss](\d{1,4})[Ee](\d{1,4})")
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".m4v", ".avi", ".webm", ".mov", ".ts"})


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
        library_dir: Path | None = None,
        library_path: str | None = None,
        scan_delay: float = 0.2,
    ) -> None:
        self.api_key = api_key
        self.version = version
        self.server_name = server_name
        self.library_dir = library_dir
        self.library_path = library_path
        self.scan_delay = scan_delay
        self.targeted_refresh = True
        self.scan_finds_nothing = False
        self.items: dict[str, dict[str, Any]] = {}  # Jellyfin path -> Episode item
        self.media_updates: list[list[dict[str, Any]]] = []  # the Updates of each /Library/Media/Updated
        self.refreshes = 0  # how many full scans were asked for
        self._scans: set[asyncio.Task[None]] = set()
        super().__init__(latency=latency, fail_with=fail_with)

    def reset(self) -> None:
        """Also forget the library items, the recorded updates and scans, and restore the library knobs."""
        scans, self._scans = list(self._scans), set()
        if scans and self._loop is not None and not self._loop.is_closed():
            # Tasks belong to the server's loop (another thread): cancel them there.
            self._loop.call_soon_threadsafe(lambda: [task.cancel() for task in scans])
        self.items.clear()
        self.media_updates.clear()
        self.refreshes = 0
        self.targeted_refresh = True
        self.scan_finds_nothing = False
        super().reset()

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of every request received, oldest first (names lower-case)."""
        return [r.headers for r in self.requests]

    def register_routes(self, app: FastAPI) -> None:
        app.get("/System/Info/Public")(self.public_info)
        app.get("/System/Info")(self.info)
        app.post("/Library/Media/Updated")(self.media_updated)
        app.post("/Library/Refresh")(self.refresh)
        app.get("/Items")(self.list_items)

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

    # --- the library ------------------------------------------------------------------------------

    async def media_updated(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response(status_code=401)
        if not self.targeted_refresh:
            return Response(status_code=404)
        try:
            body = await request.json()
        except ValueError:
            return Response(status_code=400)
        updates = body.get("Updates") if isinstance(body, dict) else None
        if not isinstance(updates, list) or not all(
            isinstance(u, dict) and isinstance(u.get("Path"), str) and u.get("UpdateType") in _UPDATE_TYPES
            for u in updates
        ):
            return Response(status_code=400)
        self.media_updates.append(updates)
        self._later(self._apply_updates(updates))
        return Response(status_code=204)

    async def refresh(self, request: Request) -> Response:
        if not self._authorized(request):
            return Response(status_code=401)
        self.refreshes += 1
        self._later(self._full_scan())
        return Response(status_code=204)

    async def list_items(self, request: Request) -> Any:
        if not self._authorized(request):
            return Response(status_code=401)
        query = request.query_params
        items = list(self.items.values())
        if query.get("Recursive", "").lower() != "true":
            items = []  # without Recursive, /Items lists the top-level folders: none of them are episodes
        kinds = {k for k in query.get("IncludeItemTypes", "").split(",") if k}
        if kinds:
            items = [i for i in items if i["Type"] in kinds]
        newest_first = query.get("SortOrder", "Ascending") == "Descending"
        if query.get("SortBy", "").split(",")[0] == "DateCreated":
            items.sort(key=lambda i: (i["DateCreated"], i["Name"]), reverse=newest_first)
        else:
            items.sort(key=lambda i: i["Name"], reverse=newest_first)
        start = int(query.get("StartIndex", 0))
        limit = int(query.get("Limit", 0)) or len(items)
        fields = {f for f in query.get("Fields", "").split(",") if f}
        page = [
            {k: v for k, v in item.items() if k != "Path" or "Path" in fields} for item in items[start : start + limit]
        ]
        return {"Items": page, "TotalRecordCount": len(items), "StartIndex": start}

    def _later(self, scan: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(self.scan_delay)
            await scan

        task = asyncio.get_running_loop().create_task(run())
        self._scans.add(task)
        task.add_done_callback(self._scans.discard)

    async def _apply_updates(self, updates: list[dict[str, Any]]) -> None:
        for update in updates:
            path = update["Path"]
            if update["UpdateType"] == "Deleted":
                self._drop(path)
                continue
            local = self._local(path)
            if local is not None:
                found = await asyncio.to_thread(self._scan, local)
                self._drop_missing_under(path)
                self._add(found)

    async def _full_scan(self) -> None:
        if self.library_dir is None:
            return
        found = await asyncio.to_thread(self._scan, self.library_dir)
        self._drop_missing_under(self.library_path or str(self.library_dir))
        self._add(found)

    def _add(self, found: list[dict[str, Any]]) -> None:
        if self.scan_finds_nothing:
            return
        for item in found:
            known = self.items.get(item["Path"])
            if known is not None:  # a rescan keeps the item's identity
                item = {**item, "Id": known["Id"], "DateCreated": known["DateCreated"]}
            self.items[item["Path"]] = item

    def _drop(self, path: str) -> None:
        for known in [p for p in self.items if p == path or p.startswith(path.rstrip("/") + "/")]:
            del self.items[known]

    def _drop_missing_under(self, path: str) -> None:
        for known in [p for p in self.items if p == path or p.startswith(path.rstrip("/") + "/")]:
            local = self._local(known)
            if local is None or not local.exists():
                del self.items[known]

    def _local(self, path: str) -> Path | None:
        """The file on this machine behind a path as Jellyfin sees it (None outside the library)."""
        if self.library_dir is None:
            return None
        base = PurePosixPath(self.library_path or str(self.library_dir))
        pure = PurePosixPath(path)
        if pure != base and base not in pure.parents:
            return None
        return self.library_dir.joinpath(*pure.relative_to(base).parts)

    def _jellyfin_path(self, local: Path) -> str:
        assert self.library_dir is not None
        base = PurePosixPath(self.library_path or str(self.library_dir))
        return str(base.joinpath(*local.relative_to(self.library_dir).parts))

    def _scan(self, local: Path) -> list[dict[str, Any]]:
        """Episode items for a video file, or for every video under a folder (hidden files skipped)."""
        if local.is_file():
            videos = [local]
        elif local.is_dir():
            videos = sorted(p for p in local.rglob("*") if p.is_file())
        else:
            return []
        found = []
        for video in videos:
            if video.suffix.lower() not in VIDEO_SUFFIXES or video.name.startswith("."):
                continue
            item = self._episode(video)
            if item is not None:
                found.append(item)
        return found

    def _episode(self, video: Path) -> dict[str, Any] | None:
        season = number = None
        name = video.stem
        nfo = video.with_suffix(".nfo")
        if nfo.is_file():
            root = ET.parse(nfo).getroot()
            if root.tag == "episodedetails":
                name = root.findtext("title") or name
                season = _number(root.findtext("season"))
                number = _number(root.findtext("episode"))
        if season is None or number is None:
            match = _EPISODE_CODE.search(video.name)
            if match is None:
                return None
            season, number = int(match[1]), int(match[2])
        return {
            "Id": uuid.uuid4().hex,
            "Name": name,
            "Type": "Episode",
            "Path": self._jellyfin_path(video),
            "IndexNumber": number,
            "ParentIndexNumber": season,
            "SeriesName": self._series_name(video),
            "DateCreated": datetime.now(UTC).isoformat(),
        }

    def _series_name(self, video: Path) -> str | None:
        assert self.library_dir is not None
        folder = video.parent
        while folder != self.library_dir and self.library_dir in folder.parents:
            tvshow = folder / "tvshow.nfo"
            if tvshow.is_file():
                return ET.parse(tvshow).getroot().findtext("title")
            folder = folder.parent
        return None


_UPDATE_TYPES = ("Created", "Modified", "Deleted")


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None
