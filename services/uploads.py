"""Receiving an upload stream into a file without holding it in memory, refusing it past a size limit."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from services.errors import Invalid

# The data folder's folder for uploads being received and checked; a sweep removes what no job needs.
STAGING = "staging"


async def receive_upload(
    chunks: AsyncIterator[bytes], path: Path, limit_mb: int, what: str, setting: str | None = None
) -> str:
    """Write `chunks` to `path` and return their SHA-256. Invalid("file"): empty, or past `limit_mb`
    (the message names `what` was sent and the `setting` that sets the limit, if one does). The caller
    removes `path` when it refuses the upload."""
    limit = limit_mb * 1024 * 1024
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    digest = hashlib.sha256()
    written = 0
    handle = await asyncio.to_thread(open, path, "wb")
    try:
        async for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise Invalid("file", f"the {what} is larger than {limit_mb} MB" + (f" ({setting})" if setting else ""))
            digest.update(chunk)
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if written == 0:
        raise Invalid("file", "the file is empty")
    return digest.hexdigest()
