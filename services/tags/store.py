"""The tag store: each image's tags per source, a person's edits on top, bulk edits with undo, frequencies.

A person's edits are rows of source "person" (see studio.models.tags): an added tag, or a removal that hides the
machine rows of that tag on that image. Re-tagging replaces only the machine source's rows and copies the
person's removals onto the new rows, so a person's edits survive it. Every person edit is one transaction, one
`TagEdit` row (what undoing needs) and one audited `TagsEdited` event. Bulk edits are set-based SQL over the
affected images, never one statement per image.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.datasets.events import ImagesReassigned
from services.errors import Conflict, Invalid, NotFound
from services.tags.events import ImageTagged, TagsEdited, TagSettingsChanged
from services.tags.filters import has_tag
from services.tags.prompt_tags import clean_tag, clean_tags
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import (
    ApprovalState,
    Character,
    DatasetImage,
    ImageTag,
    Project,
    TagCategory,
    TagEdit,
    TagEditImage,
    TagSource,
)

Operation = Literal["add", "remove", "replace", "rename"]
OPERATIONS: tuple[str, ...] = ("add", "remove", "replace", "rename")
PERSON = TagSource.PERSON.value
MAX_BULK_IMAGES = 20_000
MAX_TAGS_PER_IMAGE = 500
MAX_BLACKLIST = 500
MAX_CAPTION = 4000
MAX_TRIGGER = 100
# Keeps IN lists well under SQLite's bound-parameter limit and PostgreSQL's statement sizes.
CHUNK = 2000

_TAGS = ImageTag.__table__  # type: ignore[attr-defined]
_IMAGES = DatasetImage.__table__  # type: ignore[attr-defined]
_EDITED = TagEditImage.__table__  # type: ignore[attr-defined]
_EDITS = TagEdit.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MachineTag:
    tag: str
    confidence: float | None = None
    category: TagCategory = TagCategory.GENERAL


@dataclass(frozen=True)
class EffectiveTag:
    """A tag an image has, whoever gave it; a person's tag counts as confidence 1.0."""

    tag: str
    category: str
    confidence: float | None
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ImageTags:
    image_id: int
    tags: list[EffectiveTag]
    caption: str
    caption_source: str
    # Set when this answer comes from a person's edit: the token that undoes it.
    undo_token: str | None = None


@dataclass(frozen=True)
class TagCount:
    tag: str
    category: str
    count: int
    share: float


@dataclass(frozen=True)
class TagFrequencies:
    images: int
    tags: list[TagCount]


@dataclass(frozen=True)
class BulkEdit:
    operation: Operation
    tag: str
    new_tag: str | None = None
    image_ids: tuple[int, ...] | None = None  # None: every image of the character


@dataclass(frozen=True)
class BulkResult:
    images_changed: int
    message: str
    undo_token: str | None
    merged: bool


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


class TagStore:
    def __init__(self, db: Database, events: EventBus, clock: Clock) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        events.subscribe(ImagesReassigned, self._follow_reassigned)

    # --- machine tags ----------------------------------------------------------------------------------

    async def set_machine_tags(
        self, image_id: int, source: TagSource, tags: Sequence[MachineTag], caption: str | None = None
    ) -> int:
        """Replace one machine source's tags on an image (a person's tags and removals stay); returns how many
        tags the image now shows from that source. NotFound: no such image. Invalid: `person` or a bad tag."""
        source = TagSource(source)
        if source is TagSource.PERSON:
            raise Invalid("source", "a person's tags are set with put_tags, not as machine tags")
        best: dict[str, MachineTag] = {}
        for machine in tags:
            tag = clean_tag(machine.tag, "tags")
            known = best.get(tag)
            if known is None or (machine.confidence or 0.0) > (known.confidence or 0.0):
                best[tag] = MachineTag(tag, machine.confidence, TagCategory(machine.category))
        async with self._writing() as session:
            image = await session.get(DatasetImage, image_id)
            if image is None:
                raise NotFound(f"image {image_id} does not exist")
            removed_by_person = set(
                (
                    await session.exec(
                        select(ImageTag.tag).where(
                            ImageTag.image_id == image_id, ImageTag.source == PERSON, col(ImageTag.removed)
                        )
                    )
                ).all()
            )
            await session.exec(sa.delete(_TAGS).where(_TAGS.c.image_id == image_id, _TAGS.c.source == source.value))  # type: ignore[call-overload]
            rows = [
                {
                    "image_id": image_id,
                    "tag": machine.tag,
                    "source": source.value,
                    "character_id": image.character_id,
                    "confidence": machine.confidence,
                    "category": machine.category.value,
                    "removed": machine.tag in removed_by_person,
                }
                for machine in best.values()
            ]
            if rows:
                await session.exec(sa.insert(_TAGS), params=rows)  # type: ignore[call-overload]
            if caption is not None and image.caption_source != PERSON:
                image.caption = caption.strip()[:MAX_CAPTION]
                image.caption_source = TagSource.LLM.value if image.caption else ""
                session.add(image)
            project_id, character_id = image.project_id, image.character_id
        await self._events.emit(
            ImageTagged(image_id=image_id, project_id=project_id, character_id=character_id, source=source.value)
        )
        return sum(1 for row in rows if not row["removed"])

    # --- reading ---------------------------------------------------------------------------------------

    async def tags_of(self, image_id: int) -> ImageTags:
        """The image's effective tags, most confident first, and its caption. NotFound: no such image."""
        async with self._db.session() as session:
            image = await session.get(DatasetImage, image_id)
            if image is None:
                raise NotFound(f"image {image_id} does not exist")
            rows = await _live_rows(session, [image_id])
        return ImageTags(image_id, _effective(rows.get(image_id, [])), image.caption, image.caption_source)

    async def tags_of_many(self, image_ids: Sequence[int]) -> dict[int, list[EffectiveTag]]:
        """Effective tags of several images in one query set (the caption writer and the grid use it)."""
        async with self._db.session() as session:
            rows = await _live_rows(session, list(dict.fromkeys(image_ids)))
        return {image_id: _effective(rows.get(image_id, [])) for image_id in image_ids}

    async def frequencies(self, character_id: int) -> TagFrequencies:
        """How many of the character's images carry each tag, most frequent first. NotFound: no such character."""
        images_query = select(func.count()).select_from(DatasetImage).where(DatasetImage.character_id == character_id)
        count = func.count(sa.distinct(_TAGS.c.image_id))
        tags_query = (
            sa.select(_TAGS.c.tag, func.min(_TAGS.c.category), count)
            .where(_TAGS.c.character_id == character_id, _TAGS.c.removed.is_(False))
            .group_by(_TAGS.c.tag)
            .order_by(count.desc(), _TAGS.c.tag)
        )
        async with self._db.session() as session:
            await _character(session, character_id)
            images = int((await session.exec(images_query)).one())
            rows = (await session.exec(tags_query)).all()  # type: ignore[call-overload]
        return TagFrequencies(
            images, [TagCount(tag, category, n, round(n / images, 4) if images else 0.0) for tag, category, n in rows]
        )

    async def image_ids(
        self, character_id: int, tag: str | None = None, states: Sequence[ApprovalState] = ()
    ) -> list[int]:
        """The character's images, optionally only those with a tag or in some approval states (bulk filters)."""
        query = select(DatasetImage.id).where(DatasetImage.character_id == character_id)
        if tag is not None:
            query = query.where(has_tag(tag))
        if states:
            query = query.where(col(DatasetImage.approval_state).in_(list(states)))
        async with self._db.session() as session:
            await _character(session, character_id)
            return [int(i) for i in (await session.exec(query.order_by(col(DatasetImage.id)))).all() if i is not None]

    # --- a person's edits ------------------------------------------------------------------------------

    async def put_tags(self, image_id: int, tags: Sequence[str], caption: str | None, actor: str) -> ImageTags:
        """A person's edit of one image: afterwards its effective tags are exactly `tags` (and its caption
        `caption`, when given). Undoable with the returned `undo_token`. NotFound: no such image. Invalid: a bad tag."""
        wanted = clean_tags(tags, "tags", MAX_TAGS_PER_IMAGE)
        if caption is not None:
            caption = caption.strip()
            if len(caption) > MAX_CAPTION or "\n" in caption:
                raise Invalid("caption", f"a caption is one line of at most {MAX_CAPTION} characters")
        async with self._writing() as session:
            image = await session.get(DatasetImage, image_id)
            if image is None:
                raise NotFound(f"image {image_id} does not exist")
            have = {t.tag: t for t in _effective((await _live_rows(session, [image_id])).get(image_id, []))}
            to_remove = [tag for tag in have if tag not in wanted]
            to_add = [tag for tag in wanted if tag not in have]
            caption_changes = caption is not None and caption != image.caption
            if not to_remove and not to_add and not caption_changes:
                return ImageTags(image_id, list(have.values()), image.caption, image.caption_source)
            edit = await self._start_edit(
                session, image.project_id, image.character_id, "put", "", None, actor, [image_id], [*to_remove, *to_add]
            )
            assert edit.id is not None
            for tag in to_remove:
                await _remove(session, edit.id, tag, have[tag].category)
            for tag in to_add:
                await _add(session, edit.id, tag, await _category_of(session, image.character_id, tag))
            caption_now, source_now = image.caption, image.caption_source
            if caption_changes:
                edit.captions_before = {str(image_id): [image.caption, image.caption_source]}
                caption_now, source_now = caption or "", PERSON if caption else ""
                await session.exec(  # type: ignore[call-overload]
                    sa.update(_IMAGES)
                    .where(_IMAGES.c.id == image_id)
                    .values(caption=caption_now, caption_source=source_now)
                )
                session.add(edit)
            rows = await _live_rows(session, [image_id])
            result = ImageTags(image_id, _effective(rows.get(image_id, [])), caption_now, source_now, edit.token)
        await self._announce(edit, undo=False)
        return result

    async def bulk(self, character_id: int, edit: BulkEdit, actor: str) -> BulkResult:
        """Add, remove, replace or rename a tag on some or all of a character's images, as one undoable edit.

        NotFound: no such character. Invalid: a bad tag, a missing or identical new tag, or images that are not
        the character's (then nothing changes).
        """
        if edit.operation not in OPERATIONS:
            raise Invalid("operation", f"use one of {', '.join(OPERATIONS)}")
        tag = clean_tag(edit.tag, "tag")
        new_tag: str | None = None
        if edit.operation in ("replace", "rename"):
            if edit.new_tag is None or not edit.new_tag.strip():
                raise Invalid("new_tag", f"{edit.operation} needs the new tag")
            new_tag = clean_tag(edit.new_tag, "new_tag")
            if new_tag == tag:
                raise Invalid("new_tag", f"'{tag}' would be replaced by itself")
        if edit.operation == "rename" and edit.image_ids is not None:
            raise Invalid("image_ids", "rename works across the whole character; use replace on a selection")
        if edit.image_ids is not None and len(edit.image_ids) > MAX_BULK_IMAGES:
            raise Invalid("image_ids", f"edit at most {MAX_BULK_IMAGES} images at once")
        async with self._writing() as session:
            character = await _character(session, character_id)
            # The images the edit changes: those without the tag (add), or with it (the others). Across the whole
            # character they stay a subquery, so a rename of 10,000 images never ships 10,000 ids back and forth.
            targets: list[int] | sa.Select[Any]
            shows = _shows(tag)
            if edit.image_ids is None:
                if edit.operation == "add":
                    targets = (
                        sa.select(_IMAGES.c.id)
                        .where(_IMAGES.c.character_id == character_id, sa.not_(shows))
                        .correlate(None)
                    )
                else:  # read from the frequency index, like the frequency list
                    targets = (
                        sa.select(_TAGS.c.image_id)
                        .where(_TAGS.c.character_id == character_id, _TAGS.c.removed.is_(False), _TAGS.c.tag == tag)
                        .distinct()
                        .correlate(None)
                    )
                count = int((await session.exec(sa.select(func.count()).select_from(targets.subquery()))).scalar())  # type: ignore[call-overload]
            else:
                scope = list(dict.fromkeys(edit.image_ids))
                await _check_images_of(session, character, scope)
                having = set(await _images_with(session, tag, scope))
                targets = [i for i in scope if (i in having) != (edit.operation == "add")]
                count = len(targets)
            if count == 0:
                return BulkResult(0, _nothing_message(edit.operation, tag), None, False)
            merged = new_tag is not None and await _character_shows(session, character_id, new_tag)
            touched = [tag] if new_tag is None else [tag, new_tag]
            record = await self._start_edit(
                session, character.project_id, character_id, edit.operation, tag, new_tag, actor, targets, touched
            )
            assert record.id is not None
            category = await _category_of(session, character_id, tag)
            if edit.operation == "add":
                await _add(session, record.id, tag, category)
            else:
                await _remove(session, record.id, tag, category)
            if new_tag is not None:
                new_category = await _category_of(session, character_id, new_tag) if merged else category
                await _add(session, record.id, new_tag, new_category)
        await self._announce(record, undo=False)
        message = _done_message(edit.operation, tag, new_tag, record.images_changed, merged)
        return BulkResult(record.images_changed, message, record.token, merged)

    async def undo(self, token: str, actor: str) -> BulkResult:
        """Put the tags (and captions) an edit changed back as they were. NotFound: unknown token. Conflict: undone
        already, or an image it touched was edited since (undo that edit first)."""
        async with self._writing() as session:
            edit = (await session.exec(select(TagEdit).where(TagEdit.token == token))).first()
            if edit is None:
                raise NotFound(f"no tag edit has undo token '{token[:40]}'")
            if edit.undone_at is not None:
                raise Conflict("this tag edit was undone already")
            assert edit.id is not None
            await _refuse_if_edited_since(session, edit.id)
            marked = _marked(edit.id)
            still = int((await session.exec(sa.select(func.count()).select_from(marked.subquery()))).scalar())  # type: ignore[call-overload]
            await session.exec(  # type: ignore[call-overload]
                sa.delete(_TAGS).where(
                    _TAGS.c.source == PERSON, _TAGS.c.tag.in_(edit.tags), _TAGS.c.image_id.in_(marked)
                )
            )
            owners = await _owners(session, sorted({row[0] for row in edit.before}))
            rows = [
                {
                    "image_id": image_id,
                    "tag": tag,
                    "source": PERSON,
                    "character_id": owners[image_id],
                    "confidence": None,
                    "category": category,
                    "removed": removed,
                }
                for image_id, tag, removed, category in edit.before
                if image_id in owners  # images deleted since have nothing to restore
            ]
            if rows:
                await session.exec(sa.insert(_TAGS), params=rows)  # type: ignore[call-overload]
            await _sync_machine_rows(session, edit.id, edit.tags)
            for image_id, (caption, source) in edit.captions_before.items():
                await session.exec(  # type: ignore[call-overload]
                    sa.update(_IMAGES)
                    .where(_IMAGES.c.id == int(image_id))
                    .values(caption=caption, caption_source=source)
                )
            edit.undone_at = self._clock.now()
            session.add(edit)
        await self._announce(edit, undo=True, by=actor)
        what = _done_message(edit.operation, edit.tag, edit.new_tag, edit.images_changed, False)
        return BulkResult(still, f"Undone: {what[0].lower()}{what[1:]}", None, False)

    # --- trigger word and blacklists -------------------------------------------------------------------

    async def trigger(self, character_id: int) -> str:
        """The character's trigger word ('' when none is pinned). NotFound: no such character."""
        async with self._db.session() as session:
            return (await _character(session, character_id)).trigger_word

    async def character_blacklist(self, character_id: int) -> list[str]:
        async with self._db.session() as session:
            return list((await _character(session, character_id)).tag_blacklist)

    async def blacklist(self, project_id: int) -> list[str]:
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
        if project is None:
            raise NotFound(f"project {project_id} does not exist")
        return list(project.tag_blacklist)

    async def set_trigger(self, character_id: int, word: str, actor: str) -> None:
        """Pin the word every caption of the character starts with ('' clears it). Invalid: too long, or a comma."""
        word = " ".join(word.split())
        if len(word) > MAX_TRIGGER or "," in word:
            raise Invalid("trigger_word", f"a trigger word has at most {MAX_TRIGGER} characters and no comma")
        async with self._db.session() as session:
            character = await _character(session, character_id)
            character.trigger_word = word
            session.add(character)
            project_id = character.project_id
        await self._events.emit(
            TagSettingsChanged(
                actor=actor, project_id=project_id, character_id=character_id, setting="trigger_word", value=word
            )
        )

    async def set_blacklist(self, project_id: int, tags: Sequence[str], actor: str) -> None:
        """The tags that never reach a caption of any character of the project. Invalid: a bad tag."""
        cleaned = clean_tags(tags, "tags", MAX_BLACKLIST)
        async with self._db.session() as session:
            project = await session.get(Project, project_id)
            if project is None:
                raise NotFound(f"project {project_id} does not exist")
            project.tag_blacklist = cleaned
            session.add(project)
        await self._events.emit(
            TagSettingsChanged(
                actor=actor, project_id=project_id, character_id=None, setting="tag_blacklist", value=", ".join(cleaned)
            )
        )

    async def set_character_blacklist(self, character_id: int, tags: Sequence[str], actor: str) -> None:
        """Tags kept out of this character's captions, on top of the project's blacklist. Invalid: a bad tag."""
        cleaned = clean_tags(tags, "tags", MAX_BLACKLIST)
        async with self._db.session() as session:
            character = await _character(session, character_id)
            character.tag_blacklist = cleaned
            session.add(character)
            project_id = character.project_id
        await self._events.emit(
            TagSettingsChanged(
                actor=actor,
                project_id=project_id,
                character_id=character_id,
                setting="tag_blacklist",
                value=", ".join(cleaned),
            )
        )

    # --- internals -------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction; two writers that both add the same row (two stations editing the same images at
        once, or an image deleted meanwhile) end in a Conflict to retry, not a server error."""
        try:
            async with self._db.session() as session:
                yield session
        except IntegrityError as exc:
            raise Conflict("another change to these images' tags landed at the same moment; try again") from exc

    async def _start_edit(
        self,
        session: AsyncSession,
        project_id: int,
        character_id: int | None,
        operation: str,
        tag: str,
        new_tag: str | None,
        actor: str,
        targets: Sequence[int] | sa.Select[Any],
        tags: Sequence[str],
    ) -> TagEdit:
        """The TagEdit row with the images it touches (tag_edit_images) and what undoing needs: the person rows of
        `tags` on those images as they are now."""
        edit = TagEdit(
            token=secrets.token_urlsafe(16),
            project_id=project_id,
            character_id=character_id,
            operation=operation,
            tag=tag,
            new_tag=new_tag,
            actor=actor,
            tags=list(tags),
        )
        session.add(edit)
        await session.flush()
        for chosen in _selections(targets):
            images = sa.select(sa.literal(edit.id, sa.Integer), _IMAGES.c.id).where(_IMAGES.c.id.in_(chosen))
            await session.exec(sa.insert(_EDITED).from_select(["edit_id", "image_id"], images))  # type: ignore[call-overload]
        person = sa.select(_TAGS.c.image_id, _TAGS.c.tag, _TAGS.c.removed, _TAGS.c.category).where(
            _TAGS.c.source == PERSON,
            _TAGS.c.tag.in_(list(tags)),
            _TAGS.c.image_id.in_(_marked(edit.id)),  # type: ignore[arg-type]
        )
        edit.before = [list(row) for row in (await session.exec(person)).all()]  # type: ignore[call-overload]
        count = sa.select(func.count()).select_from(_EDITED).where(_EDITED.c.edit_id == edit.id)
        edit.images_changed = int((await session.exec(count)).scalar())  # type: ignore[call-overload]
        session.add(edit)
        return edit

    async def _announce(self, edit: TagEdit, *, undo: bool, by: str | None = None) -> None:
        await self._events.emit(
            TagsEdited(
                actor=by or edit.actor,
                project_id=edit.project_id,
                character_id=edit.character_id,
                operation=edit.operation,
                tag=edit.tag,
                new_tag=edit.new_tag,
                images_changed=edit.images_changed,
                undo_token=edit.token,
                undo=undo,
            )
        )

    async def _follow_reassigned(self, event: ImagesReassigned) -> None:
        """Moved images take their tags to the new character's frequency list."""
        async with self._db.session() as session:
            for chunk in _chunks(list(event.image_ids)):
                await session.exec(  # type: ignore[call-overload]
                    sa.update(_TAGS).where(_TAGS.c.image_id.in_(chunk)).values(character_id=event.character_id)
                )


def _selections(targets: Sequence[int] | sa.Select[Any]) -> Iterator[Any]:
    """A subquery as it is, or a list of ids in chunks (IN lists stay well under the databases' limits)."""
    if isinstance(targets, sa.Select):
        yield targets
    else:
        yield from _chunks(list(targets))


def _marked(edit_id: int) -> sa.Select[Any]:
    """The images an edit works on: recorded first, then every statement selects them by that record."""
    return sa.select(_EDITED.c.image_id).where(_EDITED.c.edit_id == edit_id).correlate(None)


def _shows(tag: str) -> Any:
    """SQL condition on images: the image shows `tag` (some row of it is not removed)."""
    return sa.exists().where(_TAGS.c.image_id == _IMAGES.c.id, _TAGS.c.tag == tag, _TAGS.c.removed.is_(False))


async def _character(session: AsyncSession, character_id: int) -> Character:
    character = await session.get(Character, character_id)
    if character is None or character.deleted_at is not None:
        raise NotFound(f"character {character_id} does not exist")
    return character


async def _check_images_of(session: AsyncSession, character: Character, image_ids: Sequence[int]) -> None:
    found: set[int] = set()
    for chunk in _chunks(image_ids):
        query = sa.select(_IMAGES.c.id).where(_IMAGES.c.id.in_(chunk), _IMAGES.c.character_id == character.id)
        found.update((await session.exec(query)).scalars().all())  # type: ignore[call-overload]
    strangers = [i for i in image_ids if i not in found]
    if strangers:
        shown = ", ".join(str(i) for i in strangers[:5]) + (" ..." if len(strangers) > 5 else "")
        raise Invalid("image_ids", f"image(s) {shown} are not images of {character.name}; nothing was changed")


async def _images_with(session: AsyncSession, tag: str, scope: Sequence[int]) -> list[int]:
    """The images of `scope` that show `tag`."""
    found: list[int] = []
    for chunk in _chunks(scope):
        query = (
            sa.select(_TAGS.c.image_id)
            .where(_TAGS.c.image_id.in_(chunk), _TAGS.c.tag == tag, _TAGS.c.removed.is_(False))
            .distinct()
        )
        found.extend((await session.exec(query)).scalars().all())  # type: ignore[call-overload]
    return found


async def _character_shows(session: AsyncSession, character_id: int, tag: str) -> bool:
    query = (
        sa.select(_TAGS.c.image_id)
        .where(_TAGS.c.character_id == character_id, _TAGS.c.removed.is_(False), _TAGS.c.tag == tag)
        .limit(1)
    )
    return (await session.exec(query)).first() is not None  # type: ignore[call-overload]


async def _category_of(session: AsyncSession, character_id: int | None, tag: str) -> str:
    """The category the character's images already give `tag` (a tagger knows it), else general."""
    query = sa.select(func.min(_TAGS.c.category)).where(_TAGS.c.character_id == character_id, _TAGS.c.tag == tag)
    found = (await session.exec(query)).scalar()  # type: ignore[call-overload]
    return str(found) if found else TagCategory.GENERAL.value


async def _add(session: AsyncSession, edit_id: int, tag: str, category: str) -> None:
    """Make `tag` show on the images the edit touches: where a person removed it, that removal becomes the
    person's tag and the machine rows it hid show again; where no source has it, a person row says so."""
    await session.exec(  # type: ignore[call-overload]
        sa.update(_TAGS)
        .where(_TAGS.c.image_id.in_(_marked(edit_id)), _TAGS.c.tag == tag, _TAGS.c.removed.is_(True))
        .values(removed=False)
    )
    await _insert_person_rows(session, edit_id, tag, category, removed=False, unless_any_source=True)


async def _remove(session: AsyncSession, edit_id: int, tag: str, category: str) -> None:
    """Hide `tag` for good on the images the edit touches: every source's row hidden, and a person removal row."""
    await session.exec(  # type: ignore[call-overload]
        sa.update(_TAGS)
        .where(_TAGS.c.image_id.in_(_marked(edit_id)), _TAGS.c.tag == tag, _TAGS.c.removed.is_(False))
        .values(removed=True)
    )
    await _insert_person_rows(session, edit_id, tag, category, removed=True, unless_any_source=False)


async def _insert_person_rows(
    session: AsyncSession, edit_id: int, tag: str, category: str, *, removed: bool, unless_any_source: bool
) -> None:
    """A person row for `tag` on each marked image without one (or without any row of it), in one INSERT."""
    existing = sa.exists().where(_TAGS.c.image_id == _IMAGES.c.id, _TAGS.c.tag == tag)
    if not unless_any_source:
        existing = existing.where(_TAGS.c.source == PERSON)
    rows = sa.select(
        _IMAGES.c.id,
        sa.literal(tag, sa.String),
        sa.literal(PERSON, sa.String),
        _IMAGES.c.character_id,
        sa.null(),
        sa.literal(category, sa.String),
        sa.literal(removed, sa.Boolean),
    ).where(_IMAGES.c.id.in_(_marked(edit_id)), sa.not_(existing))
    columns = ["image_id", "tag", "source", "character_id", "confidence", "category", "removed"]
    await session.exec(sa.insert(_TAGS).from_select(columns, rows))  # type: ignore[call-overload]


async def _sync_machine_rows(session: AsyncSession, edit_id: int, tags: Sequence[str]) -> None:
    """Machine rows of `tags` on the marked images are hidden exactly when a person removed that tag there."""
    person = _TAGS.alias("person")
    removal = sa.exists().where(
        person.c.image_id == _TAGS.c.image_id,
        person.c.tag == _TAGS.c.tag,
        person.c.source == PERSON,
        person.c.removed.is_(True),
    )
    await session.exec(  # type: ignore[call-overload]
        sa.update(_TAGS)
        .where(
            _TAGS.c.source != PERSON,
            _TAGS.c.tag.in_(list(tags)),
            _TAGS.c.image_id.in_(_marked(edit_id)),
            _TAGS.c.removed.is_distinct_from(removal),  # write only the rows that change
        )
        .values(removed=removal)
    )


async def _refuse_if_edited_since(session: AsyncSession, edit_id: int) -> None:
    """Conflict naming the images a later edit (not undone) touched too: that edit must be undone first."""
    later = _EDITED.alias("later")
    query = (
        sa.select(later.c.image_id)
        .join(_EDITS, _EDITS.c.id == later.c.edit_id)
        .where(later.c.image_id.in_(_marked(edit_id)), later.c.edit_id > edit_id, _EDITS.c.undone_at.is_(None))
        .distinct()
        .order_by(later.c.image_id)
        .limit(6)
    )
    edited_since = list((await session.exec(query)).scalars().all())  # type: ignore[call-overload]
    if edited_since:
        shown = ", ".join(str(i) for i in edited_since[:5])
        more = " and more" if len(edited_since) > 5 else ""
        raise Conflict(f"image(s) {shown}{more} had their tags edited since; undo the later edit first")


async def _owners(session: AsyncSession, image_ids: Sequence[int]) -> dict[int, int | None]:
    owners: dict[int, int | None] = {}
    for chunk in _chunks(image_ids):
        query = sa.select(_IMAGES.c.id, _IMAGES.c.character_id).where(_IMAGES.c.id.in_(chunk))
        owners.update({i: c for i, c in (await session.exec(query)).all()})  # type: ignore[call-overload]
    return owners


async def _live_rows(session: AsyncSession, image_ids: Sequence[int]) -> dict[int, list[Any]]:
    """The rows that show, per image, for a set of images (chunked, so any number of images is a few queries)."""
    found: dict[int, list[Any]] = {}
    for chunk in _chunks(image_ids):
        query = sa.select(_TAGS.c.image_id, _TAGS.c.tag, _TAGS.c.source, _TAGS.c.confidence, _TAGS.c.category).where(
            _TAGS.c.image_id.in_(chunk), _TAGS.c.removed.is_(False)
        )
        for row in (await session.exec(query)).all():  # type: ignore[call-overload]
            found.setdefault(row.image_id, []).append(row)
    return found


def _effective(rows: Sequence[Any]) -> list[EffectiveTag]:
    """Merge one image's live rows into tags: a person's tag is 1.0, else the best machine confidence."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = merged.setdefault(row.tag, {"sources": [], "confidence": None, "category": row.category})
        entry["sources"].append(row.source)
        confidence = 1.0 if row.source == PERSON else row.confidence
        if confidence is not None and (entry["confidence"] is None or confidence > entry["confidence"]):
            entry["confidence"] = confidence
        # A machine source knows the WD14 category; a person's tag is "general" unless one does.
        if row.source != PERSON and row.category != TagCategory.GENERAL.value:
            entry["category"] = row.category
    tags = [
        EffectiveTag(tag, entry["category"], entry["confidence"], tuple(sorted(entry["sources"])))
        for tag, entry in merged.items()
    ]
    # Tags without a confidence (from the prompt) come after the scored ones.
    return sorted(tags, key=lambda t: (t.confidence is None, -(t.confidence or 0.0), t.tag))


def _nothing_message(operation: str, tag: str) -> str:
    if operation == "add":
        return f"Every image already has '{tag}'; nothing changed"
    return f"No image has '{tag}'; nothing changed"


def _done_message(operation: str, tag: str, new_tag: str | None, images: int, merged: bool) -> str:
    if operation == "add":
        return f"Added '{tag}' to {images} image(s)"
    if operation == "remove":
        return f"Removed '{tag}' from {images} image(s)"
    if operation == "put":
        return f"Edited the tags of {images} image(s)"
    verb = "Renamed" if operation == "rename" else "Replaced"
    if merged:
        return f"{verb} '{tag}' on {images} image(s): merged into '{new_tag}', which existed already"
    return f"{verb} '{tag}' with '{new_tag}' on {images} image(s)"
