"""Reading an uploaded file as it arrives, so a handler never holds a whole upload in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import UploadFile

CHUNK = 1024 * 1024


async def chunks_of(upload: UploadFile) -> AsyncIterator[bytes]:
    """The upload's bytes in chunks of at most `CHUNK`."""
    while chunk := await upload.read(CHUNK):
        yield chunk
