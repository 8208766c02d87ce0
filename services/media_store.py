"""Files under the data folder: written atomically, never outside it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath


class OutsideDataFolder(ValueError):
    pass


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path_of(self, relative: str) -> Path:
        """The absolute path of a stored file; refuses anything that would leave the data folder."""
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts or not pure.parts:
            raise OutsideDataFolder(f"'{relative}' is not a path inside the data folder")
        path = (self.root / pure).resolve()
        if not path.is_relative_to(self.root):
            raise OutsideDataFolder(f"'{relative}' leads outside the data folder")
        return path

    def _write(self, relative: str, data: bytes) -> None:
        path = self.path_of(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # readers see the old file or the new one, never half of one

    async def write(self, relative: str, data: bytes) -> str:
        await asyncio.to_thread(self._write, relative, data)
        return relative

    async def read(self, relative: str) -> bytes:
        return await asyncio.to_thread(self.path_of(relative).read_bytes)

    async def delete(self, relative: str) -> None:
        await asyncio.to_thread(self.path_of(relative).unlink, True)

    @contextlib.asynccontextmanager
    async def partial(self, relative: str) -> AsyncIterator[Path]:
        """A hidden file beside `relative` to write into; renamed into place when the block succeeds and
        removed when it fails or is cancelled, so a failed render leaves no half file."""
        path = self.path_of(relative)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.part{path.suffix}")
        try:
            yield partial
            await asyncio.to_thread(os.replace, partial, path)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(partial.unlink, True))
            raise
