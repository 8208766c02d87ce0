"""Serving files an assembly wrote (videos, posters, subtitles) from the media folder."""

from __future__ import annotations

import asyncio

from fastapi.responses import FileResponse

from services.errors import NotFound
from services.media_store import MediaStore
from studio.api.deps import IMMUTABLE_CACHE


async def stored_file(
    media: MediaStore,
    relative: str | None,
    media_type: str,
    version: str | None,
    *,
    missing: str,
    suffix: str = "",
) -> FileResponse:
    """The stored file as a response that answers Range requests (so a player can seek).

    `missing` is the 404's sentence when there is no such file yet; `suffix` swaps the file's suffix (the
    subtitles are written as .srt and .vtt of one name). A `version` in the address names one assembly,
    whose files are never rewritten (each assembly writes new names), so a browser may cache it for good.
    NotFound: not made yet, or the file has gone from the media folder.
    """
    if not relative:
        raise NotFound(missing)
    file = media.path_of(relative)
    if suffix:
        file = file.with_suffix(suffix)
    if not await asyncio.to_thread(file.is_file):
        raise NotFound(f"{file.name} is missing from the media folder; assemble again to write it anew")
    return FileResponse(file, media_type=media_type, headers=IMMUTABLE_CACHE if version else None)
