"""Files the studio had not finished writing when it stopped: found by their temp names and removed at start.

The studio writes every file (and ffmpeg's working folders) under a hidden temp name beside its target and
renames it into place when complete. A partial name starts with "." and has `part` or `tmp` among its
dot-separated pieces: `.clip.mp4.1a2b3c4d.part`, `.clip.part.mp4`, `.frame.1a2b3c4d.part.png`,
`.clip.mp4.1a2b3c4d.tmp`, `.frames-x1y2z3.part/`. Everything in the data folder's TEMP_FOLDER is temporary
too: the studio process points its libraries' temp files there (main.py). After a crash (or a kill) they stay
behind; nothing can still be writing them when the studio starts, because one data folder belongs to one
studio process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_MARKS = frozenset({"part", "tmp"})
TEMP_FOLDER = "tmp"  # <data_dir>/tmp: the studio's TMPDIR


def is_partial(name: str) -> bool:
    """Whether a file or folder name is one of the studio's temp names."""
    return name.startswith(".") and not _MARKS.isdisjoint(name.split(".")[1:])


def sweep_partial_files(root: Path) -> int:
    """Remove every partial file and folder under the data folder `root`, and what its TEMP_FOLDER holds
    (symbolic links are not followed); how many went."""
    temp = root / TEMP_FOLDER
    removed = 0
    for path in temp.iterdir() if temp.is_dir() and not temp.is_symlink() else ():
        _remove(path)
        removed += 1
    for folder, dirs, files in os.walk(root):
        for name in [d for d in dirs if is_partial(d)]:
            dirs.remove(name)  # gone, so not walked into
            _remove(Path(folder, name))
            removed += 1
        for name in files:
            if is_partial(name):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
