"""Atomic writing, linking and removing of files under a library root.

Every file goes to a hidden temp name beside its target (`.<name>.<token>.part`) and is renamed into place,
so a media server scanning the folder never sees half a file. A `Staging` holds a whole publish: nothing
is renamed until every file is staged, so a failure midway leaves the library as it was. Every path is
checked to stay inside the root (following symlinked folders), and nothing outside it is ever touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import io
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any, BinaryIO, Literal, Self, TypeVar

from PIL import Image

from services.errors import Invalid
from services.imaging import UNREADABLE, unreadable_image
from services.publishing.layout import EPISODE_VIDEO_SUFFIXES
from services.publishing.release import LibraryPathError, PublishError

FileMode = Literal["hardlink", "copy", "symlink"]
Fraction = Callable[[float], Awaitable[None]]
_T = TypeVar("_T")

COPY_CHUNK = 8 * 1024 * 1024
JPEG_QUALITY = 92
FILE_PERMISSIONS = 0o644  # the media server usually runs as another user
# A hard link cannot cross file systems (EXDEV) and some file systems or mounts refuse links at all.
_NO_LINK = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOTSUP})


class LibraryFolder:
    """A library root and the checked operations on relative paths under it (all blocking; run them in a
    thread)."""

    def __init__(self, root: Path, *, create: bool = True, missing_hint: str = "") -> None:
        self.root = root
        self.create = create
        self.missing_hint = missing_hint

    def ensure_root(self) -> None:
        """Create the root when allowed; otherwise refuse a missing one (an unmounted share must not be
        replaced by a fresh empty folder)."""
        if self.root.is_dir():
            return
        if self.root.exists():
            raise PublishError(f"The library folder {self.root} is a file, not a folder: {self.missing_hint}")
        if not self.create:
            raise PublishError(f"The library folder {self.root} does not exist: {self.missing_hint}")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(
                f"Cannot create the library folder {self.root} ({exc.strerror}): {self.missing_hint}"
            ) from exc

    def path(self, relative: str) -> Path:
        """The absolute path of `relative`, refusing anything that would land outside the root. The last
        component is not resolved, so a symlinked video (symlink mode) is handled as the link itself."""
        pure = PurePosixPath(relative)
        if not relative or pure.is_absolute() or any(part in ("", ".", "..") for part in pure.parts):
            raise LibraryPathError(f"{relative!r} is not a path inside the library {self.root}; refusing it")
        root = self.root.resolve()
        parent = (root / pure.parent).resolve()
        if parent != root and not parent.is_relative_to(root):
            raise LibraryPathError(
                f"{relative!r} leads outside the library {self.root} (to {parent}, through a symlinked folder); "
                "refusing to write or delete there"
            )
        return parent / pure.name

    def remove_files(self, relatives: Iterable[str]) -> list[str]:
        """Delete these files (missing ones are fine); returns the ones that were there."""
        removed = []
        for relative in relatives:
            path = self.path(relative)
            if path.is_dir() and not path.is_symlink():
                raise LibraryPathError(f"{relative!r} in {self.root} is a folder, not a file the studio wrote")
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise PublishError(f"Cannot delete {path} ({exc.strerror}); check the folder's permissions") from exc
            removed.append(relative)
        return removed

    def remove_empty_folder(self, relative: str) -> bool:
        """rmdir when empty; a folder with anything in it stays. True when it is gone."""
        path = self.path(relative)
        try:
            path.rmdir()
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                return False
            raise PublishError(f"Cannot delete the folder {path} ({exc.strerror})") from exc
        return True

    def holds_video(self, relative_folder: str) -> bool:
        """Whether any episode video (of any studio publish or the user's own) is under this folder."""
        path = self.path(relative_folder)
        if not path.is_dir():
            return False
        for _folder, _dirs, names in os.walk(path):
            if any(Path(name).suffix.lower() in EPISODE_VIDEO_SUFFIXES and not name.startswith(".") for name in names):
                return True
        return False

    def exists(self, relative: str) -> bool:
        return os.path.lexists(self.path(relative))

    def staging(self) -> Staging:
        return Staging(self)


class Staging:
    """Files written to temp names beside their targets, renamed into place (in staging order) by commit();
    on discard (or an exception inside `async with`), the temp files and folders it created go away."""

    def __init__(self, folder: LibraryFolder) -> None:
        self.folder = folder
        self._staged: list[tuple[Path, Path]] = []  # (temp, target)
        self._made_folders: list[Path] = []
        self._committed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            await self.discard()

    # --- staging ---------------------------------------------------------------------------------

    async def write(self, relative: str, data: bytes) -> None:
        await asyncio.to_thread(self._write, relative, data)

    async def jpeg(self, relative: str, source: Path, field: str) -> None:
        """Stage `source` as a JPEG (converted when it is a PNG or WEBP). Raises Invalid(field) for a
        missing or unreadable picture."""
        data = await asyncio.to_thread(jpeg_bytes, source, field)
        await self.write(relative, data)

    async def video(self, relative: str, source: Path, mode: FileMode, progress: Fraction) -> str:
        """Stage the video by hard link, copy or symlink; returns how it was placed, for the note."""
        temp = await asyncio.to_thread(self._temp_for, relative)
        if mode == "symlink":
            await asyncio.to_thread(self._guarded, temp, os.symlink, source, temp)
            return "symbolic link"
        if mode == "hardlink":
            try:
                await asyncio.to_thread(os.link, source, temp)
            except FileNotFoundError as exc:
                raise Invalid("video", f"{source} is gone: assemble the episode again") from exc
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise self._failed(temp, exc) from exc
            else:
                return "hard link"
        await self._copy(source, temp, progress)
        return "copy (a hard link is not possible there)" if mode == "hardlink" else "copy"

    async def _copy(self, source: Path, temp: Path, progress: Fraction) -> None:
        try:
            src = await asyncio.to_thread(open, source, "rb")
        except OSError as exc:
            raise Invalid("video", f"cannot read {source} ({exc.strerror}): assemble the episode again") from exc
        try:
            dst = await asyncio.to_thread(self._guarded, temp, _create, temp)
            try:
                total = max(await asyncio.to_thread(lambda: os.fstat(src.fileno()).st_size), 1)
                done = 0
                while chunk := await asyncio.to_thread(self._guarded, temp, _copy_chunk, src, dst):
                    done += chunk
                    await progress(min(done / total, 1.0))
                await asyncio.to_thread(self._guarded, temp, _sync, dst)
            finally:
                await asyncio.to_thread(dst.close)
        finally:
            await asyncio.to_thread(src.close)

    def _write(self, relative: str, data: bytes) -> None:
        temp = self._temp_for(relative)
        handle = self._guarded(temp, _create, temp)
        try:
            self._guarded(temp, handle.write, data)
            self._guarded(temp, _sync, handle)
        finally:
            handle.close()

    def _temp_for(self, relative: str) -> Path:
        """A fresh temp path beside the target (its folders created and remembered), registered for commit."""
        target = self.folder.path(relative)
        self._make_folders(target.parent)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        self._staged.append((temp, target))
        return temp

    def _make_folders(self, folder: Path) -> None:
        root = self.folder.root.resolve()
        missing = []
        current = folder
        while current != root and not current.exists():
            missing.append(current)
            current = current.parent
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._failed(path, exc) from exc
            self._made_folders.append(path)

    def _guarded(self, where: Path, call: Callable[..., _T], *args: Any) -> _T:
        """Run one file operation, turning an OSError into a PublishError that names the place."""
        try:
            return call(*args)
        except OSError as exc:
            raise self._failed(where, exc) from exc

    def _failed(self, where: Path, exc: OSError) -> PublishError:
        return PublishError(
            f"Cannot write into {where.parent} ({exc.strerror or exc}); check that folder's permissions "
            f"and free space (library {self.folder.root})"
        )

    # --- finishing -------------------------------------------------------------------------------

    async def commit(self) -> None:
        """Rename every staged file into place, replacing same-named files atomically."""
        await asyncio.to_thread(self._commit)

    def _commit(self) -> None:
        folders: set[Path] = set()
        for index, (temp, target) in enumerate(self._staged):
            try:
                os.replace(temp, target)
            except OSError as exc:
                self._staged = self._staged[index:]
                self._discard()
                raise PublishError(
                    f"Cannot move {target.name} into place in {target.parent} ({exc.strerror}); "
                    "check the folder's permissions"
                ) from exc
            # rename() between two links of one file succeeds without doing anything (a republish of
            # the same hard-linked video), leaving the temp name behind.
            if os.path.lexists(temp):
                temp.unlink()
            folders.add(target.parent)
        for folder in folders:
            _sync_folder(folder)
        self._committed = True

    async def discard(self) -> None:
        await asyncio.to_thread(self._discard)

    def _discard(self) -> None:
        for temp, _target in self._staged:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self._staged = []
        for folder in reversed(self._made_folders):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made_folders = []


def jpeg_bytes(source: Path, field: str) -> bytes:
    """The picture as JPEG bytes: JPEG files as they are, other formats converted (alpha on black)."""
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise Invalid(field, f"cannot read {source} ({exc.strerror}); make the picture again") from exc
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format == "JPEG":
                return data
            image.load()
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (0, 0, 0))
                flat.paste(rgba, mask=rgba.getchannel("A"))
            else:
                flat = image.convert("RGB")
            out = io.BytesIO()
            flat.save(out, "JPEG", quality=JPEG_QUALITY)
            return out.getvalue()
    except UNREADABLE as exc:
        raise Invalid(field, f"{source.name} is {unreadable_image(exc)}") from exc


def _create(path: Path) -> BinaryIO:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_PERMISSIONS)
    return os.fdopen(fd, "wb")


def _copy_chunk(src: BinaryIO, dst: BinaryIO) -> int:
    chunk = src.read(COPY_CHUNK)
    if chunk:
        dst.write(chunk)
    return len(chunk)


def _sync(handle: BinaryIO) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    """Make the renames durable; some file systems cannot fsync a folder, which is harmless."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
