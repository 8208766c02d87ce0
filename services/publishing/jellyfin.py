"""JellyfinLibrary: the folder layout written into Jellyfin's library folder, then a targeted refresh
(`POST /Library/Media/Updated`, or a full `/Library/Refresh` on servers without it) and a check through the
items API that the episode appeared with the right season and episode numbers.

Only the `Authorization: MediaBrowser Token="…"` header is sent: Jellyfin 12 dropped X-Emby-Token and the
api_key query parameter.
"""

from __future__ import annotations

import asyncio
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx

from services.backends.probes import jellyfin_auth_header
from services.publishing.files import FileMode
from services.publishing.folder import FolderLibrary, Written
from services.publishing.layout import episode_code
from services.publishing.release import Progress, Publication, PublishError, Release
from services.unreachable import why_unreachable

UpdateType = Literal["Created", "Modified", "Deleted"]

REQUEST_SECONDS = 30.0  # one HTTP exchange; connecting has the (shorter) backend timeout
PAGE_SIZE = 200
FIRST_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 3.0
# Servers before targeted refresh answer 404/405; anything else non-2xx also gets the full scan.
_NO_TARGETED = "older servers lack it"


class JellyfinError(PublishError):
    """Jellyfin could not be told about the episode; the message names the server and the fix."""


class JellyfinUnreachable(JellyfinError):
    pass


class JellyfinRefused(JellyfinError):
    """Jellyfin refused the API key (401/403)."""


@dataclass(frozen=True)
class Sighting:
    """How the items API lists the published file: found with the right numbers, or not (yet)."""

    found: bool
    problem: str | None = None  # why not: wrong numbers, a failing items API...


class JellyfinClient:
    """The few Jellyfin endpoints publishing needs. Use as an async context manager."""

    def __init__(self, url: str, api_key: str, *, connect_seconds: float, key_hint: str) -> None:
        self.url = url.rstrip("/")
        self.key_hint = key_hint
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={**jellyfin_auth_header(api_key), "Accept": "application/json"},
            timeout=httpx.Timeout(REQUEST_SECONDS, connect=connect_seconds),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def media_updated(self, updates: Sequence[tuple[str, UpdateType]]) -> str | None:
        """Report changed paths (a targeted refresh). None when accepted; otherwise why not (the caller
        falls back to a full scan). Raises JellyfinRefused, JellyfinUnreachable."""
        body = {"Updates": [{"Path": path, "UpdateType": kind} for path, kind in updates]}
        response = await self._send("POST", "/Library/Media/Updated", json=body)
        if response.is_success:
            return None
        if response.status_code in (404, 405):
            return f"HTTP {response.status_code}: {_NO_TARGETED}"
        return f"HTTP {response.status_code}"

    async def refresh_library(self) -> None:
        """Start a full library scan. Raises JellyfinError when the server will not."""
        response = await self._send("POST", "/Library/Refresh")
        if not response.is_success:
            raise JellyfinError(
                f"Jellyfin at {self.url} answered HTTP {response.status_code} to a library scan request; "
                "check its log (Dashboard → Logs)"
            )

    async def find_episode(self, path: str, season: int, episode: int) -> Sighting:
        """Page through the episodes (newest first) for the one at `path`."""
        start = 0
        misnumbered = None
        while True:
            params: dict[str, str | int] = {
                "Recursive": "true",
                "IncludeItemTypes": "Episode",
                "Fields": "Path",
                "SortBy": "DateCreated,SortName",
                "SortOrder": "Descending",
                "StartIndex": start,
                "Limit": PAGE_SIZE,
            }
            response = await self._send("GET", "/Items", params=params)
            if not response.is_success:
                return Sighting(False, f"its items API answered HTTP {response.status_code}")
            try:
                body = response.json()
            except ValueError:
                return Sighting(False, "its items API answered something that is not JSON")
            items = body.get("Items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                return Sighting(False, "its items API answered without an Items list")
            for item in items:
                if not isinstance(item, dict) or item.get("Path") != path:
                    continue
                if item.get("ParentIndexNumber") == season and item.get("IndexNumber") == episode:
                    return Sighting(True)
                shown = episode_code(_int(item.get("ParentIndexNumber")), _int(item.get("IndexNumber")))
                misnumbered = f"Jellyfin lists the file as {shown}, not {episode_code(season, episode)}"
            total = body.get("TotalRecordCount")
            start += len(items)
            if not items or not isinstance(total, int) or start >= total:
                return Sighting(False, misnumbered)

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise JellyfinUnreachable(
                f"Jellyfin at {self.url} did not answer in time ({type(exc).__name__}): is it overloaded? "
                "Otherwise correct jellyfin_url (STUDIO_JELLYFIN_URL)"
            ) from exc
        except httpx.HTTPError as exc:
            why = why_unreachable(exc)
            reason = {"refused": "connection refused", "unknown_host": "unknown host name"}.get(why.kind, why.reason)
            raise JellyfinUnreachable(
                f"Jellyfin at {self.url} is not reachable ({reason}): start it or correct jellyfin_url "
                "(STUDIO_JELLYFIN_URL)"
            ) from exc
        if response.status_code in (401, 403):
            raise JellyfinRefused(
                f"Jellyfin at {self.url} refused the API key (HTTP {response.status_code}): check {self.key_hint} "
                "(make a key under Dashboard → API Keys)"
            )
        return response


class JellyfinLibrary:
    """Publishes into the folder of a Jellyfin Shows library and makes Jellyfin list the episode."""

    kind = "jellyfin"

    def __init__(
        self,
        url: str,
        api_key: str | None,
        library_dir: Path,
        *,
        library_path: str | None = None,
        file_mode: FileMode = "hardlink",
        verify_seconds: float = 60.0,
        connect_seconds: float = 4.0,
        key_hint: str = "STUDIO_JELLYFIN_API_KEY or the Vault key jellyfin_api_key",
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.library_path = library_path or str(library_dir)
        self.verify_seconds = verify_seconds
        self.connect_seconds = connect_seconds
        self.key_hint = key_hint
        self.label = f"Jellyfin ({self.url})"
        self._files = FolderLibrary(
            library_dir,
            file_mode,
            create_root=False,
            missing_hint="mount Jellyfin's library folder here or correct jellyfin_library_dir "
            "(STUDIO_JELLYFIN_LIBRARY_DIR)",
            label=self.label,
        )

    @property
    def root(self) -> Path:
        return self._files.root

    def jellyfin_path(self, relative: str) -> str:
        """Where Jellyfin sees a library file (its own mount point may differ from ours)."""
        return posixpath.join(self.library_path, relative)

    async def publish(self, release: Release, previous: Publication | None, progress: Progress) -> Publication:
        """Write the episode into Jellyfin's library folder, refresh, and check that Jellyfin lists it.
        Raises Invalid (unusable release), PublishError (folder), JellyfinRefused (the API key),
        JellyfinUnreachable/JellyfinError (after the files were written: the message says they are there).
        An episode that does not show in time is not an error: `verified` is False and the note says why."""
        client = self._client()  # before writing: without a key nothing is written

        async def file_progress(fraction: float, message: str) -> None:
            await progress(0.5 * fraction, message)

        async with client:
            written = await self._files.write(release, previous, file_progress)
            await progress(0.52, f"Telling Jellyfin at {self.url} about the episode")
            path = self.jellyfin_path(written.layout.video)
            try:
                how = await self._announce(client, self._updates(written, previous))
                sighting = await self._verify(client, path, release, progress)
            except JellyfinError as exc:
                raise type(exc)(
                    f"{exc}. The episode's files are already in {self.root}, so Jellyfin's next scan will list "
                    "them; publish again once Jellyfin is reachable to confirm"
                ) from exc
        code = episode_code(release.season, release.episode)
        if sighting.found:
            note = f"Jellyfin listed {code} after {how} ({written.summary()})"
        else:
            why = f": {sighting.problem}" if sighting.problem else ""
            note = (
                f"The files of {code} are in Jellyfin's library folder and Jellyfin was asked for {how}, but it "
                f"did not list the episode within {self.verify_seconds:g} s{why}; it may still be scanning "
                f"(Dashboard → Scheduled Tasks) ({written.summary()})"
            )
        await progress(1.0, "Published" if sighting.found else "Published; Jellyfin has not listed it yet")
        return written.publication(self.kind, sighting.found, note)

    async def unpublish(self, publication: Publication) -> str:
        """Remove the files, then tell Jellyfin. A Jellyfin that cannot be told is a note, not an error: the
        files are gone and its next scan drops the episode. Raises PublishError for the folder."""
        removed = await self._files.remove(publication)
        note = removed.summary("Jellyfin library folder", publication)
        if removed.elsewhere:
            return note
        if not self.api_key:
            return f"{note}; Jellyfin was not told (no API key: set {self.key_hint}), its next scan drops it"
        try:
            async with self._client() as client:
                how = await self._announce(client, [(self.jellyfin_path(publication.episode_file), "Deleted")])
        except JellyfinError as exc:
            return f"{note}; Jellyfin could not be told ({exc}), so its next scan drops the episode"
        return f"{note}; Jellyfin was asked for {how}"

    def _client(self) -> JellyfinClient:
        if not self.api_key:
            raise JellyfinRefused(
                f"Publishing to Jellyfin at {self.url} needs an API key: set {self.key_hint} "
                "(make one under Dashboard → API Keys)"
            )
        return JellyfinClient(self.url, self.api_key, connect_seconds=self.connect_seconds, key_hint=self.key_hint)

    def _updates(self, written: Written, previous: Publication | None) -> list[tuple[str, UpdateType]]:
        video = written.layout.video
        same_place = previous is not None and written.previous_elsewhere is None
        replaced = same_place and previous is not None and previous.episode_file == video
        updates: list[tuple[str, UpdateType]] = [(self.jellyfin_path(video), "Modified" if replaced else "Created")]
        if same_place and previous is not None and previous.episode_file != video:
            updates.append((self.jellyfin_path(previous.episode_file), "Deleted"))
        return updates

    async def _announce(self, client: JellyfinClient, updates: list[tuple[str, UpdateType]]) -> str:
        """A targeted refresh, or a full scan when the server will not take one; returns which, for the note."""
        refused = await client.media_updated(updates)
        if refused is None:
            return "a targeted refresh"
        await client.refresh_library()
        return f"a full library scan (the targeted refresh answered {refused})"

    async def _verify(self, client: JellyfinClient, path: str, release: Release, progress: Progress) -> Sighting:
        """Poll the items API, with growing pauses, until the episode shows or verify_seconds pass."""
        started = time.monotonic()
        wait = FIRST_POLL_SECONDS
        while True:
            try:
                sighting = await client.find_episode(path, release.season, release.episode)
            except JellyfinRefused:
                raise
            except JellyfinError as exc:  # a busy server mid-scan: keep asking until the time is up
                sighting = Sighting(False, str(exc))
            if sighting.found:
                return sighting
            elapsed = time.monotonic() - started
            remaining = self.verify_seconds - elapsed
            if remaining <= 0:
                return sighting
            await progress(
                0.55 + 0.44 * min(elapsed / self.verify_seconds, 1.0),
                f"Waiting for Jellyfin to list the episode ({elapsed:.0f} s of {self.verify_seconds:g} s)",
            )
            await asyncio.sleep(min(wait, remaining))
            wait = min(wait * 1.5, MAX_POLL_SECONDS)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0
