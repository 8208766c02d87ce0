"""Export a whole production's bible as one archive, and import it into another studio.

The archive is a zip with `bible.json` (project, storyline, world, generation styles, model
profiles, species rules, characters) and `references/<sha256>.<ext>` image files. Import receives
the archive into the staging folder and reads one entry at a time with limits on each entry and on the
total, so a hostile archive costs little memory. It checks everything before it writes anything, then
writes the database rows in one transaction: a bad archive changes nothing.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import shutil
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func
from sqlmodel import col, select

from services.bible.events import BibleChanged
from services.bible.schemas import (
    AppearanceData,
    Name,
    ProfileDraft,
    ProjectDraft,
    SpeciesRuleDraft,
    StorylineDraft,
    StyleDraft,
    WorldDraft,
    slugify,
)
from services.bible.styles import GenerationStyles, PromptLibrary
from services.errors import Invalid, NotFound
from services.imaging import MAX_UPLOAD_BYTES, CheckedImage, check_image
from services.media_store import MediaStore
from services.uploads import STAGING, receive_upload
from studio import __version__
from studio.db import Database
from studio.events import EventBus
from studio.models import (
    Character,
    GenerationStyle,
    ModelProfileRow,
    Project,
    ReferenceImage,
    SpeciesRuleRow,
    Storyline,
    WorldSettings,
)

FORMAT = "anime-studio-bible"
VERSION = 1
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_BIBLE_BYTES = 16 * 1024 * 1024  # bible.json; a thousand characters' appearance data fit many times over
MAX_JSON_DEPTH = 32  # the bible's own shape nests less than 10 deep
MAX_ENTRIES = 2_000
MAX_RATIO = 200  # compressed-to-unpacked; real images barely compress, bombs compress thousands of times
_PROJECT_NAME_CHARS = Project.__table__.c.name.type.length  # type: ignore[attr-defined]
_REFERENCE_NAME = re.compile(r"^references/([0-9a-f]{64})\.(png|jpg|webp)$")


class ArchiveReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str
    original_name: str = Field("", max_length=200)
    position: int = Field(0, ge=0, le=10_000)


class ArchiveCharacter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    design_prompt: str = ""
    appearance_data: AppearanceData = Field(default_factory=AppearanceData)
    references: list[ArchiveReference] = Field(default_factory=list, max_length=100)


class BibleArchive(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str
    version: int
    exported_at: str = ""
    studio_version: str = ""
    project: ProjectDraft
    storyline: StorylineDraft = Field(default_factory=StorylineDraft)
    world: WorldDraft = Field(default_factory=WorldDraft)
    styles: list[StyleDraft] = Field(default_factory=list, max_length=500)
    model_profiles: list[ProfileDraft] = Field(default_factory=list, max_length=500)
    species_rules: list[SpeciesRuleDraft] = Field(default_factory=list, max_length=500)
    characters: list[ArchiveCharacter] = Field(default_factory=list, max_length=1000)


@dataclass
class ImportReport:
    """What an import did, in words a person can check."""

    project: Project
    renamed_from: str | None = None
    styles_added: list[str] = field(default_factory=list)
    styles_kept: list[str] = field(default_factory=list)  # same name already here with other values
    library_added: list[str] = field(default_factory=list)
    library_kept: list[str] = field(default_factory=list)


def _draft_fields(model: type[BaseModel], row: object) -> dict:
    return {name: getattr(row, name) for name in model.model_fields}


class BibleArchives:
    def __init__(
        self, db: Database, events: EventBus, media: MediaStore, styles: GenerationStyles, library: PromptLibrary
    ) -> None:
        self._db = db
        self._events = events
        self._media = media
        self._styles = styles
        self._library = library

    # --- export ----------------------------------------------------------------------------------

    async def export(self, project_id: int) -> tuple[str, bytes]:
        """(file name, zip bytes) of the project's whole bible with its reference images."""
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise NotFound(f"there is no project {project_id}")
            storyline = (await session.exec(select(Storyline).where(Storyline.project_id == project_id))).first()
            world = (await session.exec(select(WorldSettings).where(WorldSettings.project_id == project_id))).first()
            characters = (
                await session.exec(
                    select(Character)
                    .where(Character.project_id == project_id, col(Character.deleted_at).is_(None))
                    .order_by(col(Character.id))
                )
            ).all()
            references = (
                await session.exec(
                    select(ReferenceImage)
                    .where(col(ReferenceImage.character_id).in_([c.id for c in characters]))
                    .order_by(col(ReferenceImage.position), col(ReferenceImage.id))
                )
            ).all()
            styles = (await session.exec(select(GenerationStyle).order_by(col(GenerationStyle.name)))).all()
        profiles, rules = await self._library.profiles(), await self._library.rules()
        files: dict[str, bytes] = {}
        archived_characters = []
        for character in characters:
            refs = []
            for reference in (r for r in references if r.character_id == character.id):
                name = f"references/{reference.content_hash}.{reference.file_path.rsplit('.', 1)[-1]}"
                files[name] = await self._media.read(reference.file_path)
                refs.append(
                    ArchiveReference(file=name, original_name=reference.original_name, position=reference.position)
                )
            archived_characters.append(
                ArchiveCharacter(
                    name=character.name,
                    design_prompt=character.design_prompt,
                    appearance_data=AppearanceData(**character.appearance_data),
                    references=refs,
                )
            )
        bible = BibleArchive(
            format=FORMAT,
            version=VERSION,
            exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
            studio_version=__version__,
            project=ProjectDraft(**_draft_fields(ProjectDraft, project)),
            storyline=StorylineDraft(**_draft_fields(StorylineDraft, storyline)) if storyline else StorylineDraft(),
            world=WorldDraft(**_draft_fields(WorldDraft, world)) if world else WorldDraft(),
            styles=[StyleDraft(**_draft_fields(StyleDraft, s)) for s in styles],
            model_profiles=[ProfileDraft(**_draft_fields(ProfileDraft, p)) for p in profiles],
            species_rules=[SpeciesRuleDraft(**_draft_fields(SpeciesRuleDraft, r)) for r in rules],
            characters=archived_characters,
        )
        data = await asyncio.to_thread(_zip, bible, files)
        return f"{slugify(project.name)}.bible.zip", data

    # --- import ----------------------------------------------------------------------------------

    async def import_archive(self, chunks: AsyncIterator[bytes], actor: str) -> ImportReport:
        """Create a new project from an archive as it is uploaded. Invalid: the archive is too large, unsafe
        or malformed (nothing written)."""
        folder = f"{STAGING}/{uuid.uuid4().hex}"
        path = self._media.path_of(f"{folder}/bible.zip")
        try:
            await receive_upload(chunks, path, MAX_ARCHIVE_BYTES // 2**20, "archive")
            archive = await asyncio.to_thread(ArchiveFile, path)
            try:
                report = await self._import(archive, actor)
            finally:
                await asyncio.to_thread(archive.close)
        finally:
            await asyncio.to_thread(shutil.rmtree, self._media.path_of(folder), True)
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity="project",
                entity_id=str(report.project.id),
                change="imported",
                label=report.project.name,
                project_id=report.project.id,
            )
        )
        return report

    async def _import(self, archive: ArchiveFile, actor: str) -> ImportReport:
        bible = await asyncio.to_thread(archive.bible)
        for draft in bible.styles:
            await self._styles.check(draft)
        # One image in memory at a time: each is checked, then only its facts are kept.
        checked: dict[str, CheckedImage] = {}
        for character in bible.characters:
            for ref in character.references:
                if ref.file in checked:
                    continue
                if ref.file not in archive.references:
                    raise Invalid("archive", f"{character.name}'s reference {ref.file} is missing from the archive")
                data = await asyncio.to_thread(archive.read, ref.file, MAX_UPLOAD_BYTES)
                image = await asyncio.to_thread(check_image, data, f"archive {ref.file}")
                if not ref.file.startswith(f"references/{image.content_hash}."):
                    raise Invalid("archive", f"{ref.file} does not match its content (damaged archive?)")
                checked[ref.file] = replace(image, data=b"")
        report, writes = await self._write(bible, checked, actor)
        # Rows commit first, then the content-addressed files: a failed transaction leaves no stray
        # files, and a crash in between is repaired by importing again.
        for path, entry in writes:
            await self._media.write(path, await asyncio.to_thread(archive.read, entry, MAX_UPLOAD_BYTES))
        return report

    async def _write(
        self, bible: BibleArchive, checked: dict[str, CheckedImage], actor: str
    ) -> tuple[ImportReport, list[tuple[str, str]]]:
        """The rows of the import, and (media path, archive entry) of each reference file to write."""
        writes: list[tuple[str, str]] = []
        async with self._db.session() as session:
            name = await _free_project_name(session, bible.project.name)
            project = Project(**bible.project.model_dump(exclude={"default_style", "name"}), name=name)
            report = ImportReport(
                project=project, renamed_from=bible.project.name if name != bible.project.name else None
            )
            for draft in bible.styles:
                existing = await session.get(GenerationStyle, draft.name)
                if existing is None:
                    session.add(GenerationStyle(**draft.model_dump()))
                    report.styles_added.append(draft.name)
                elif StyleDraft(**_draft_fields(StyleDraft, existing)) != draft:
                    report.styles_kept.append(draft.name)
            for table, drafts, draft_type in (
                (ModelProfileRow, bible.model_profiles, ProfileDraft),
                (SpeciesRuleRow, bible.species_rules, SpeciesRuleDraft),
            ):
                for draft in drafts:
                    existing = await session.get(table, draft.name)
                    if existing is None:
                        session.add(table(**draft.model_dump()))
                        report.library_added.append(draft.name)
                    elif draft_type(**_draft_fields(draft_type, existing)) != draft:
                        report.library_kept.append(draft.name)
            await session.flush()
            project.default_style = bible.project.default_style
            session.add(project)
            await session.flush()
            assert project.id is not None
            session.add(Storyline(project_id=project.id, **bible.storyline.model_dump()))
            session.add(WorldSettings(project_id=project.id, **bible.world.model_dump()))
            for entry in bible.characters:
                character = Character(
                    project_id=project.id,
                    name=entry.name,
                    slug=slugify(entry.name),
                    design_prompt=entry.design_prompt,
                    appearance_data=entry.appearance_data.model_dump(),
                )
                session.add(character)
                await session.flush()
                for ref in entry.references:
                    image = checked[ref.file]
                    path = (
                        f"projects/{project.id}/characters/{character.id}/references/"
                        f"{image.content_hash[:32]}.{image.extension}"
                    )
                    session.add(
                        ReferenceImage(
                            character_id=character.id,
                            content_hash=image.content_hash,
                            file_path=path,
                            media_type=image.media_type,
                            width=image.width,
                            height=image.height,
                            original_name=ref.original_name,
                            position=ref.position,
                        )
                    )
                    writes.append((path, ref.file))
        return report, writes


async def _free_project_name(session, name: str) -> str:
    candidate, n = name, 1
    while (await session.exec(select(Project.id).where(func.lower(Project.name) == candidate.lower()))).first():
        n += 1
        suffix = " (imported)" if n == 2 else f" (imported {n - 1})"
        # A name at the length limit gives up its end to the suffix, so the new name still fits.
        candidate = name[: _PROJECT_NAME_CHARS - len(suffix)] + suffix
    return candidate


def _zip(bible: BibleArchive, files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bible.json", bible.model_dump_json(indent=2))
        for name, data in sorted(files.items()):
            archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)  # images are compressed already
    return buffer.getvalue()


class ArchiveFile:
    """A received archive on disk: its listing is checked on opening, then entries are read one at a time,
    each within a limit and all within MAX_UNPACKED_BYTES. Blocking: call it off the event loop."""

    def __init__(self, path: Path) -> None:
        try:
            self._zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise Invalid("archive", "not a zip archive; export a project to get one") from exc
        self._unpacked = 0
        try:
            self.references = self._check_listing()
        except BaseException:
            self._zip.close()
            raise

    def _check_listing(self) -> set[str]:
        entries = self._zip.infolist()
        if len(entries) > MAX_ENTRIES:
            raise Invalid("archive", f"the archive holds {len(entries)} files; at most {MAX_ENTRIES} are accepted")
        if sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
            raise Invalid("archive", f"the archive unpacks to more than {MAX_UNPACKED_BYTES // 2**30} GB")
        for entry in entries:
            if entry.filename != "bible.json" and not _REFERENCE_NAME.match(entry.filename):
                raise Invalid("archive", f"unexpected file '{entry.filename}' in the archive")
            if entry.compress_size and entry.file_size / entry.compress_size > MAX_RATIO:
                raise Invalid("archive", f"'{entry.filename}' compresses suspiciously well (a zip bomb?)")
            if entry.flag_bits & 0x1 or entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise Invalid("archive", f"'{entry.filename}' is encrypted or packed in a way the studio does not read")
        names = {e.filename for e in entries}
        if "bible.json" not in names:
            raise Invalid("archive", "bible.json is missing; this is not a studio bible archive")
        return names - {"bible.json"}

    def read(self, name: str, limit: int) -> bytes:
        """The entry's bytes. Invalid: larger than `limit` or than what is left of MAX_UNPACKED_BYTES, or damaged.

        The header's size is checked first, but the bytes actually unpacked decide."""
        info = self._zip.getinfo(name)
        if info.file_size > limit:
            raise Invalid("archive", f"'{name}' unpacks to more than {limit // 2**20} MB")
        try:
            with self._zip.open(info) as stream:
                data = stream.read(limit + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise Invalid("archive", f"the archive is damaged ({name} cannot be unpacked); export it again") from exc
        if len(data) > limit:
            raise Invalid("archive", f"'{name}' unpacks to more than {limit // 2**20} MB")
        self._unpacked += len(data)
        if self._unpacked > MAX_UNPACKED_BYTES:
            raise Invalid("archive", f"the archive unpacks to more than {MAX_UNPACKED_BYTES // 2**30} GB")
        return data

    def bible(self) -> BibleArchive:
        """bible.json, validated. Invalid: not JSON, nested too deep, not a studio bible, or a bad value."""
        try:
            raw = json.loads(self.read("bible.json", MAX_BIBLE_BYTES))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Invalid("archive", f"bible.json is not valid JSON: {exc}") from exc
        except RecursionError as exc:  # the parser gives up on deep nesting before we could measure it
            raise Invalid("archive", f"bible.json nests deeper than {MAX_JSON_DEPTH} levels") from exc
        if _depth(raw) > MAX_JSON_DEPTH:
            raise Invalid("archive", f"bible.json nests deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise Invalid("archive", "bible.json is not a studio bible (wrong 'format')")
        if raw.get("version") != VERSION:
            raise Invalid(
                "archive", f"bible version {raw.get('version')} is not supported (this studio reads {VERSION})"
            )
        try:
            return BibleArchive.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise Invalid(f"archive.{where}", first["msg"]) from exc

    def close(self) -> None:
        self._zip.close()


def _depth(value: object) -> int:
    """How deep lists and objects nest in parsed JSON, measured without recursion."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_JSON_DEPTH:
            pending.extend((child, level + 1) for child in children)
    return deepest
