"""Local programs the embedded engines need (ffmpeg, ffprobe), found and versioned without blocking."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from dataclasses import dataclass

from services.children import spawn

INSTALL_HINT = "install it with `sudo apt-get install -y --no-install-recommends ffmpeg`"


@dataclass(frozen=True)
class LocalTool:
    name: str
    path: str | None
    version: str | None

    @property
    def available(self) -> bool:
        return self.path is not None and self.version is not None


# Versions by (path, size, modified time): the same binary answers the same, and starting ffmpeg only to
# read its version costs a tenth of a second each time a studio starts.
_known_versions: dict[tuple[str, int, int], str] = {}


async def probe_tool(name: str, version_flag: str = "-version") -> LocalTool:
    path = shutil.which(name)
    if path is None:
        return LocalTool(name, None, None)
    try:
        stat = os.stat(path)
    except OSError:
        return LocalTool(name, None, None)
    identity = (path, stat.st_size, stat.st_mtime_ns)
    if identity in _known_versions:
        return LocalTool(name, path, _known_versions[identity])
    proc = await spawn(path, version_flag, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return LocalTool(name, path, None)
    first_line = out.decode(errors="replace").splitlines()[0] if out else ""
    match = re.search(r"version\s+(\S+)", first_line)
    version = match.group(1) if match else (first_line or None)
    if version is not None:
        _known_versions[identity] = version
    return LocalTool(name, path, version)


async def probe_media_tools() -> list[LocalTool]:
    return list(await asyncio.gather(probe_tool("ffmpeg"), probe_tool("ffprobe")))
