"""A character's training set in kohya's layout: what kohya sd-scripts, OneTrainer and ComfyUI's folder loader
all read.

    dataset.toml
    <repeats>_<trigger> <class>/<image id>.<ext>   each approved image, in its own format
    <repeats>_<trigger> <class>/<image id>.txt     its caption from the caption writer, UTF-8, never empty

The TOML sets `caption_extension = ".txt"` explicitly: kohya's trainer defaults to `.caption` and would
silently train on the class tokens alone. `keep_tokens = 1` keeps the trigger word (first in every caption)
in place while the rest of the caption is shuffled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import sqlalchemy as sa

from services.bible.characters import Characters
from services.errors import Invalid, NotFound
from services.media_store import MediaStore, OutsideDataFolder
from services.partial_files import TEMP_FOLDER
from services.prompts import Appearance
from services.tags import CaptionWriter, trigger_of
from studio.config import Settings
from studio.db import Database
from studio.models import ApprovalState, Character, DatasetImage

# The training resolution each base model family was trained at (kohya's `resolution`).
RESOLUTIONS = {"sd15": 512, "sdxl": 1024}
MAX_REPEATS = 1_000
TOML_NAME = "dataset.toml"
# Characters a folder name cannot hold on Linux, Windows or macOS (a trigger word may contain any of them).
_UNSAFE_IN_NAMES = str.maketrans({c: "_" for c in '/\\:*?"<>|'} | {chr(c): "_" for c in range(32)})
# How many image ids an error message names before it says "and N more".
_NAMED = 10

_IMAGES = DatasetImage.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ExportedImage:
    image_id: int
    file_path: str  # in the media store
    name: str  # "<id>.<ext>" in the subset folder
    caption: str

    @property
    def caption_name(self) -> str:
        return f"{PurePosixPath(self.name).stem}.txt"


@dataclass(frozen=True)
class TrainingSet:
    """What one export of a character holds, decided before a file is written."""

    character_id: int
    slug: str
    trigger: str
    class_token: str
    repeats: int
    resolution: int
    architecture: str
    images: tuple[ExportedImage, ...]
    batch_size: int = 1

    @property
    def subset(self) -> str:
        """kohya's subset folder: `<repeats>_<class tokens>`, the repeats before the first underscore."""
        return f"{self.repeats}_{self.class_tokens}".translate(_UNSAFE_IN_NAMES)

    @property
    def class_tokens(self) -> str:
        return f"{self.trigger} {self.class_token}"

    @property
    def download_name(self) -> str:
        return f"{self.slug}-training-set.zip"

    def toml(self, image_dir: str) -> str:
        """The dataset config; `image_dir` is the subset folder as the trainer will find it."""
        return "\n".join(
            [
                f"# Training set of character {self.character_id} ({self.slug}): {len(self.images)} approved images,",
                f"# {self.architecture} at {self.resolution} px. Written by Anime Studio for kohya sd-scripts.",
                "[general]",
                # kohya's default is ".caption": without this line every caption would be ignored.
                'caption_extension = ".txt"',
                "shuffle_caption = true",
                "keep_tokens = 1  # the first caption token (the trigger word, when set) is never shuffled",
                "",
                "[[datasets]]",
                f"resolution = {self.resolution}",
                f"batch_size = {self.batch_size}",
                "enable_bucket = true",
                f"min_bucket_reso = {self.resolution // 2}",
                f"max_bucket_reso = {self.resolution * 2}",
                "bucket_no_upscale = true",
                "",
                "[[datasets.subsets]]",
                f"image_dir = {_toml_string(image_dir)}",
                f"num_repeats = {self.repeats}",
                f"class_tokens = {_toml_string(self.class_tokens)}",
                "",
            ]
        )


class TrainingExport:
    def __init__(
        self, settings: Settings, db: Database, media: MediaStore, characters: Characters, captions: CaptionWriter
    ) -> None:
        self._settings = settings
        self._db = db
        self._media = media
        self._characters = characters
        self._captions = captions

    async def training_set(self, character_id: int, repeats: int | None = None) -> TrainingSet:
        """Decide what an export of the character holds. NotFound: no such character. Invalid: repeats out of
        range, fewer approved images than `training_min_images`, an image without a caption, or no style to
        tell the base model."""
        repeats = self._settings.training_default_repeats if repeats is None else repeats
        if not 1 <= repeats <= MAX_REPEATS:
            raise Invalid("repeats", f"repeats must be between 1 and {MAX_REPEATS}, not {repeats}")
        character = await self._characters.get(character_id)
        if character.deleted_at is not None:
            raise NotFound(f"character {character_id} ({character.name}) is deleted; restore it to export its images")
        async with self._db.session() as session:
            rows = (
                await session.exec(
                    sa.select(_IMAGES.c.id, _IMAGES.c.file_path)
                    .where(_IMAGES.c.character_id == character_id, _IMAGES.c.approval_state == ApprovalState.APPROVED)
                    .order_by(_IMAGES.c.id)
                )
            ).all()
        needed = self._settings.training_min_images
        if len(rows) < needed:
            raise Invalid(
                "images",
                f"{character.name} has {len(rows)} approved image{'s' if len(rows) != 1 else ''}; a training set "
                f"needs at least {needed} (approve more on the Datasets page, or lower the training_min_images "
                "setting)",
            )
        captions = await self._captions.captions([row.id for row in rows])
        uncaptioned = [row.id for row in rows if not captions.get(row.id, "").strip()]
        if uncaptioned:
            raise Invalid("images", f"images without a caption: {_named(uncaptioned)}; tag them or set a trigger word")
        architecture, class_token = await self._base_model_and_class(character)
        images = tuple(
            ExportedImage(
                image_id=row.id,
                file_path=row.file_path,
                name=f"{row.id}{PurePosixPath(row.file_path).suffix.lower()}",
                caption=_one_line(captions[row.id]),
            )
            for row in rows
        )
        return TrainingSet(
            character_id=character_id,
            slug=character.slug,
            trigger=trigger_of(character),
            class_token=class_token,
            repeats=repeats,
            resolution=RESOLUTIONS[architecture],
            architecture=architecture,
            images=images,
        )

    async def write_folder(
        self,
        character_id: int,
        target_dir: Path,
        repeats: int | None = None,
        *,
        resolution: int | None = None,
        batch_size: int = 1,
    ) -> TrainingSet:
        """Write the character's training set into `target_dir` (replacing what was there) for a trainer on this
        machine, at a run's `resolution` (default: the base model's) and `batch_size` (kohya reads both from the
        dataset config, over its command line). All or nothing: it is written beside the target and renamed into
        place. Errors as `training_set`; Invalid also when an image's file is missing from the data folder."""
        training_set = await self.training_set(character_id, repeats)
        training_set = replace(training_set, resolution=resolution or training_set.resolution, batch_size=batch_size)
        await asyncio.to_thread(_write_folder, training_set, self._media, target_dir)
        return training_set

    async def write_zip(self, character_id: int, repeats: int | None = None) -> tuple[TrainingSet, Path]:
        """The training set as a zip in the studio's temp folder, for a download; the caller removes the file
        when sent (the temp folder is emptied at start in case it never is). Errors as `write_folder`."""
        training_set = await self.training_set(character_id, repeats)
        temp = self._settings.data_dir / TEMP_FOLDER
        path = temp / f"{training_set.slug}-training-set.{uuid.uuid4().hex[:8]}.zip"
        await asyncio.to_thread(_write_zip, training_set, self._media, path)
        return training_set, path

    async def _base_model_and_class(self, character: Character) -> tuple[str, str]:
        """(architecture of the project's default style, kohya class token from the appearance data)."""
        try:
            plan, _style = await self._characters.plan(character, None)
        except Invalid as exc:
            raise Invalid(
                "style",
                f"{exc.message}: the training set's resolution follows the style's base model (512 for SD1.5, "
                "1024 for SDXL)",
            ) from exc
        if plan.non_human:
            # A species rule names the creature ("turtle"); without one the text alone cannot give a token.
            rule = next((rule for rule in plan.species_rules if rule.non_human), None)
            return plan.architecture, rule.name.replace(" ", "_") if rule is not None else "character"
        gender = Appearance.from_data(character.appearance_data).gender
        return plan.architecture, {"female": "1girl", "male": "1boy"}.get(gender, "character")


def _one_line(caption: str) -> str:
    # kohya reads only a caption file's first line (train_util.read_caption): a prose caption written on
    # several lines would lose all but its first.
    return " ".join(caption.split())


def _toml_string(text: str) -> str:
    # A JSON string is a TOML basic string, except that TOML also forbids a raw DEL.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _named(ids: list[int]) -> str:
    named = ", ".join(str(i) for i in ids[:_NAMED])
    return named + (f" and {len(ids) - _NAMED} more" if len(ids) > _NAMED else "")


def _sources(training_set: TrainingSet, media: MediaStore) -> list[Path]:
    """Each image's file, in order. Invalid: some are missing (all are named)."""
    sources: list[Path] = []
    missing: list[int] = []
    for image in training_set.images:
        try:
            source = media.path_of(image.file_path)
        except OutsideDataFolder:
            missing.append(image.image_id)
            continue
        sources.append(source)
        if not source.is_file():
            missing.append(image.image_id)
    if missing:
        raise Invalid(
            "images",
            f"the files of approved images {_named(missing)} are missing from the data folder; restore them or "
            "reject those images",
        )
    return sources


def _write_folder(training_set: TrainingSet, media: MediaStore, target: Path) -> None:
    sources = _sources(training_set, media)
    target = target.resolve()  # the TOML names the images' folder absolutely: trainers start anywhere
    target.parent.mkdir(parents=True, exist_ok=True)
    # A partial name (services.partial_files): a crash mid-export leaves nothing the next start does not sweep.
    building = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        subset = building / training_set.subset
        subset.mkdir(parents=True)
        for image, source in zip(training_set.images, sources, strict=True):
            _place(source, subset / image.name)
            (subset / image.caption_name).write_text(image.caption, encoding="utf-8")
        (building / TOML_NAME).write_text(training_set.toml(str(target / training_set.subset)), encoding="utf-8")
        _swap_in(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def _place(source: Path, destination: Path) -> None:
    # Media files are never changed in place (named by content hash), so a hard link is a safe, instant copy.
    try:
        os.link(source, destination)
    except OSError:  # another file system, or one without hard links
        shutil.copyfile(source, destination)


def _swap_in(building: Path, target: Path) -> None:
    """Rename the finished folder to `target`; an earlier export there is moved aside first and removed after,
    so a reader sees the old set or the new one."""
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old.part")
    had_old = target.exists()
    if had_old:
        os.replace(target, old)
    try:
        os.replace(building, target)
    except BaseException:
        if had_old:
            os.replace(old, target)
        raise
    if had_old:
        shutil.rmtree(old, ignore_errors=True)


def _write_zip(training_set: TrainingSet, media: MediaStore, path: Path) -> None:
    sources = _sources(training_set, media)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = PurePosixPath(training_set.download_name).stem  # one folder, so unpacking makes no mess
    subset = f"{root}/{training_set.subset}"
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            # Relative: kohya resolves it from where it is started, so start it in the unpacked folder.
            archive.writestr(f"{root}/{TOML_NAME}", training_set.toml(training_set.subset))
            for image, source in zip(training_set.images, sources, strict=True):
                # Images are compressed already; written from the file in chunks, never whole in memory.
                archive.write(source, f"{subset}/{image.name}", compress_type=zipfile.ZIP_STORED)
                archive.writestr(f"{subset}/{image.caption_name}", image.caption.encode())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise
