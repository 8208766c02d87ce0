"""Characters: design prompt, structured appearance, reference images, and the prompt preview."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.bible.events import BibleChanged
from services.bible.projects import Projects
from services.bible.schemas import CharacterChanges, CharacterDraft, slugify
from services.bible.styles import GenerationStyles, PromptLibrary
from services.errors import Conflict, Invalid, NotFound
from services.imaging import check_image
from services.media_store import MediaStore
from services.prompts import (
    CharacterInput,
    LearnedParams,
    LoraInput,
    PromptPlan,
    StyleInput,
    build_prompt,
    classify_species,
)
from services.prompts.params import DEFAULT_MIN_CONFIDENCE, Confidence
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus
from studio.models import Character, DatasetImage, GenerationStyle, ReferenceImage

MAX_REFERENCES = 24


@dataclass(frozen=True)
class CharacterCard:
    """What a character card shows: the row, its references, dataset counts by state, species verdict."""

    character: Character
    references: list[ReferenceImage]
    dataset: dict[str, int] = field(default_factory=dict)
    non_human: bool = False


class LearnedSource(Protocol):
    """Learning as a plan asks it (services.autonomy.Learning): the recommendation for a character drawn with a
    checkpoint, and the confidence the settings ask for before the plan uses it."""

    @property
    def min_confidence(self) -> Confidence: ...

    async def planned(self, character: Character, checkpoint: str) -> LearnedParams | None: ...


class Characters:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        media: MediaStore,
        projects: Projects,
        styles: GenerationStyles,
        library: PromptLibrary,
        active_lora: Callable[[Character], Awaitable[LoraInput | None]] | None = None,
        *,
        learning: LearnedSource | None = None,
    ) -> None:
        """`active_lora`: the character's registered LoRA for its plans (services.training.LoraRegistry.planned).
        `learning`: the parameters its reviews recommend, first in the parameter cascade when trusted."""
        self._active_lora = active_lora
        self._learning = learning
        self._db = db
        self._events = events
        self._clock = clock
        self._media = media
        self._projects = projects
        self._styles = styles
        self._library = library

    # --- reading ---------------------------------------------------------------------------------

    async def get(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character

    async def cards(
        self, project_id: int, *, species: str | None = None, include_deleted: bool = False
    ) -> list[CharacterCard]:
        """The project's characters for the Characters page, optionally filtered by species text."""
        await self._projects.get(project_id)
        query = select(Character).where(Character.project_id == project_id).order_by(func.lower(Character.name))
        if not include_deleted:
            query = query.where(col(Character.deleted_at).is_(None))
        async with self._db.session() as session:
            characters = list((await session.exec(query)).all())
            ids = [c.id for c in characters]
            refs = (
                await session.exec(
                    select(ReferenceImage)
                    .where(col(ReferenceImage.character_id).in_(ids))
                    .order_by(col(ReferenceImage.position), col(ReferenceImage.id))
                )
            ).all()
            counts = (
                await session.exec(
                    select(DatasetImage.character_id, DatasetImage.approval_state, func.count())
                    .where(col(DatasetImage.character_id).in_(ids))
                    .group_by(DatasetImage.character_id, DatasetImage.approval_state)
                )
            ).all()
        rules = await self._library.species_rules()
        cards = []
        for character in characters:
            text = str(character.appearance_data.get("species", ""))
            if species and species.lower() not in text.lower():
                continue
            non_human, _matched, _reason = classify_species(text, rules)
            cards.append(
                CharacterCard(
                    character=character,
                    references=[r for r in refs if r.character_id == character.id],
                    dataset={str(state): n for cid, state, n in counts if cid == character.id},
                    non_human=non_human,
                )
            )
        return cards

    async def reference(self, reference_id: int) -> ReferenceImage:
        async with self._db.session() as session:
            reference = await session.get(ReferenceImage, reference_id)
        if reference is None:
            raise NotFound(f"there is no reference image {reference_id}")
        return reference

    async def references(self, character_id: int) -> list[ReferenceImage]:
        async with self._db.session() as session:
            query = (
                select(ReferenceImage)
                .where(ReferenceImage.character_id == character_id)
                .order_by(col(ReferenceImage.position), col(ReferenceImage.id))
            )
            return list((await session.exec(query)).all())

    # --- writing ---------------------------------------------------------------------------------

    async def create(self, project_id: int, draft: CharacterDraft, actor: str) -> Character:
        """Conflict: another character of the project has the same slug (names differing only in case)."""
        project = await self._projects.get(project_id)
        if project.archived_at is not None:
            raise Conflict(f"project '{project.name}' is archived; restore it before adding characters")
        character = Character(
            project_id=project_id,
            name=draft.name,
            slug=slugify(draft.name),
            design_prompt=draft.design_prompt,
            appearance_data=draft.appearance_data.model_dump(),
        )
        try:
            async with self._db.session() as session:
                await self._check_slug_free(session, project_id, character.slug, None)
                session.add(character)
        except IntegrityError as exc:
            raise Conflict(f"project '{project.name}' already has a character named '{draft.name}'") from exc
        await self._announce(actor, character, "created")
        return character

    async def update(self, character_id: int, changes: CharacterChanges, actor: str) -> Character:
        values = changes.model_dump(exclude_unset=True)
        deleted = values.pop("deleted", None)
        try:
            async with self._db.session() as session:
                character = await session.get(Character, character_id)
                if character is None:
                    raise NotFound(f"there is no character {character_id}")
                if "name" in values and values["name"] != character.name:
                    character.slug = slugify(values["name"])
                    await self._check_slug_free(session, character.project_id, character.slug, character.id)
                for key, value in values.items():
                    setattr(character, key, value)
                change = "updated"
                if deleted is True and character.deleted_at is None:
                    character.deleted_at, change = self._clock.now(), "deleted"
                elif deleted is False and character.deleted_at is not None:
                    character.deleted_at, change = None, "restored"
                session.add(character)
        except IntegrityError as exc:
            raise Conflict(f"another character is already named '{values.get('name')}'") from exc
        await self._announce(actor, character, change)
        return character

    async def delete(self, character_id: int, actor: str) -> Character:
        """Soft delete: hidden from lists, restorable with `update(deleted=False)`; nothing is lost."""
        return await self.update(character_id, CharacterChanges(deleted=True), actor)

    async def add_reference(self, character_id: int, data: bytes, original_name: str, actor: str) -> ReferenceImage:
        """Store a validated reference image (named by content hash). Invalid: not a safe image."""
        character = await self.get(character_id)
        # A full decode of up to 40 megapixels: not on the event loop.
        checked = await asyncio.to_thread(check_image, data, "reference_image")
        existing = await self.references(character_id)
        if any(r.content_hash == checked.content_hash for r in existing):
            raise Conflict(f"{character.name} already has this reference image")
        if len(existing) >= MAX_REFERENCES:
            raise Invalid("reference_image", f"a character keeps at most {MAX_REFERENCES} reference images")
        relative = (
            f"projects/{character.project_id}/characters/{character_id}/references/"
            f"{checked.content_hash[:32]}.{checked.extension}"
        )
        await self._media.write(relative, checked.data)
        reference = ReferenceImage(
            character_id=character_id,
            file_path=relative,
            content_hash=checked.content_hash,
            media_type=checked.media_type,
            width=checked.width,
            height=checked.height,
            original_name=_display_name(original_name),
            position=len(existing),
        )
        async with self._db.session() as session:
            session.add(reference)
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity="reference",
                entity_id=str(reference.id),
                change="created",
                label=f"{character.name}: {reference.original_name or 'reference'}",
                project_id=character.project_id,
            )
        )
        return reference

    async def remove_reference(self, reference_id: int, actor: str) -> None:
        async with self._db.session() as session:
            reference = await session.get(ReferenceImage, reference_id)
            if reference is None:
                raise NotFound(f"there is no reference image {reference_id}")
            character = await session.get(Character, reference.character_id)
            await session.delete(reference)
        # The row is gone first: a crash between the two leaves an orphan file, never a broken row.
        await self._media.delete(reference.file_path)
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity="reference",
                entity_id=str(reference_id),
                change="deleted",
                label=f"{character.name if character else '?'}: {reference.original_name or 'reference'}",
                project_id=character.project_id if character else None,
            )
        )

    # --- prompts ---------------------------------------------------------------------------------

    async def prompt_preview(self, character_id: int, style_name: str | None = None, pose: str = "") -> PromptPlan:
        """The exact prompts the studio would send for this character and style, with every reason.

        Without a style name, the project's default style is used. Invalid: no style to preview with.
        """
        plan, _style = await self.plan(await self.get(character_id), style_name, pose)
        return plan

    async def plan(
        self, character: Character, style_name: str | None, pose: str = ""
    ) -> tuple[PromptPlan, GenerationStyle]:
        """Plan a generation of `character` in a style (the project's default when None): what the
        preview shows and what generation sends are the same plan. Invalid: no style to use."""
        project = await self._projects.get(character.project_id)
        name = style_name or project.default_style
        if not name:
            raise Invalid("style", f"project '{project.name}' has no default style; choose a style")
        style = await self._styles.get(name)
        world = await self._projects.world(project.id)  # type: ignore[arg-type]
        profiles, rules = await self._library.engine_inputs()
        lora = await self._active_lora(character) if self._active_lora is not None else None
        learned = await self._learning.planned(character, style.checkpoint_model) if self._learning else None
        plan = build_prompt(
            CharacterInput.from_record(character, lora),
            StyleInput.from_record(style),
            profiles,
            rules,
            world_negative=world.negative_prompt_guidance,
            pose=pose,
            learned=learned,
            min_confidence=self._learning.min_confidence if self._learning else DEFAULT_MIN_CONFIDENCE,
        )
        return plan, style

    @staticmethod
    async def _check_slug_free(session, project_id: int, slug: str, own_id: int | None) -> None:
        query = select(Character.id, Character.name).where(Character.project_id == project_id, Character.slug == slug)
        for other_id, other_name in (await session.exec(query)).all():
            if other_id != own_id:
                raise Conflict(f"this project already has a character named '{other_name}' (same slug '{slug}')")

    async def _announce(self, actor: str, character: Character, change: str) -> None:
        await self._events.emit(
            BibleChanged(
                actor=actor,
                entity="character",
                entity_id=str(character.id),
                change=change,  # type: ignore[arg-type]
                label=character.name,
                project_id=character.project_id,
            )
        )


def _display_name(name: str) -> str:
    """The uploaded file's name, for display only: no directories, no control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in base if ch.isprintable())[:200]
