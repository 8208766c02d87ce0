"""Registered character LoRAs: which LoRA file each character's image generations load, and with what.

A character can have several registered LoRAs (epochs, retrainings); at most one is active. Registering makes
the new one active and keeps the previous one, inactive, to switch back to. Deleting is soft, for Undo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.bible import GenerationStyles, Projects, PromptLibrary
from services.comfyui import DeviceCapabilities
from services.errors import Conflict, Invalid, NotFound
from services.prompts import Architecture, LoraInput, match_profile
from studio.clock import Clock
from studio.db import Database
from studio.events import EventBus, StudioEvent
from studio.models import Character, CharacterLora

FAMILIES: tuple[Architecture, ...] = ("sd15", "sdxl")
FAMILY_NAMES = {"sd15": "SD 1.5", "sdxl": "SDXL"}
LoraChange = Literal["registered", "activated", "deactivated", "deleted", "restored"]


class LoraDraft(BaseModel):
    """A LoRA file to register for a character (`POST /api/characters/{id}/loras`)."""

    model_config = ConfigDict(extra="forbid")
    file_name: str = Field(
        min_length=1,
        max_length=255,
        description="The file as the devices' LoraLoader names it (inside ComfyUI's loras folder), "
        "e.g. koopa_v2-000008.safetensors or characters/koopa.safetensors.",
    )
    family: Architecture = Field(description="What the LoRA loads on: sd15 or sdxl (SDXL families included).")
    family_label: str = Field("", max_length=64, description="The finer family, e.g. Illustrious, Pony, NoobAI.")
    trigger_word: str = Field("", max_length=100, description="Put first in every positive prompt.")
    weight: float = Field(0.8, ge=0.0, le=2.0, description="Default strength (model and CLIP).")
    epoch: int | None = Field(None, ge=0, le=100_000, description="The training epoch the file is from.")

    @field_validator("file_name")
    @classmethod
    def _loader_name(cls, value: str) -> str:
        value = value.strip()
        parts = PurePosixPath(value.replace("\\", "/")).parts
        if not value or value.startswith(("/", "\\")) or ".." in parts or not all(ch.isprintable() for ch in value):
            raise ValueError("name the file inside ComfyUI's loras folder, e.g. koopa_lora.safetensors")
        return value

    @field_validator("trigger_word", "family_label")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = value.strip()
        if not all(ch.isprintable() for ch in value):
            raise ValueError("must be one line of printable text")
        return value


@dataclass(frozen=True)
class Registration:
    """A registered LoRA, and the ComfyUI devices whose loras folder does not list its file (they would fail
    to load it: copy the file there)."""

    lora: CharacterLora
    missing_on: tuple[str, ...] = ()

    @property
    def warning(self) -> str:
        if not self.missing_on:
            return ""
        devices = ", ".join(self.missing_on)
        verb = "does" if len(self.missing_on) == 1 else "do"
        return (
            f"{devices} {verb} not list {self.lora.file_name} in ComfyUI's loras folder (or did not answer): "
            "copy the file into ComfyUI/models/loras there before generating on it"
        )


@dataclass(frozen=True, kw_only=True)
class LoraChanged(StudioEvent):
    name: ClassVar[str] = "character_lora.changed"
    change: LoraChange
    lora_id: int
    character_id: int
    file_name: str
    label: str  # the character's name

    def subject(self) -> tuple[str | None, str | None]:
        return "character_lora", str(self.lora_id)

    def summary(self) -> str:
        return f"{self.actor} {self.change} LoRA {self.file_name} of {self.label}"


def describe(lora: CharacterLora, character_name: str) -> str:
    """How explanations name a LoRA: "registered LoRA of Koopa, epoch 8"."""
    epoch = f", epoch {lora.epoch}" if lora.epoch is not None else ""
    return f"registered LoRA of {character_name}{epoch}"


class LoraRegistry:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        projects: Projects,
        styles: GenerationStyles,
        library: PromptLibrary,
        capabilities: DeviceCapabilities,
    ) -> None:
        self._db = db
        self._events = events
        self._clock = clock
        self._projects = projects
        self._styles = styles
        self._library = library
        self._capabilities = capabilities

    # --- reading ---------------------------------------------------------------------------------

    async def list(self, character_id: int, *, include_deleted: bool = False) -> list[CharacterLora]:
        """The character's LoRAs, newest first. NotFound: no such character."""
        await self._character(character_id)
        query = select(CharacterLora).where(CharacterLora.character_id == character_id)
        if not include_deleted:
            query = query.where(col(CharacterLora.deleted_at).is_(None))
        async with self._db.session() as session:
            return list((await session.exec(query.order_by(col(CharacterLora.id).desc()))).all())

    async def get(self, character_id: int, lora_id: int) -> CharacterLora:
        """NotFound: no such LoRA of this character (a deleted one is still found, for Undo)."""
        async with self._db.session() as session:
            lora = await session.get(CharacterLora, lora_id)
        if lora is None or lora.character_id != character_id:
            raise NotFound(f"character {character_id} has no LoRA {lora_id}")
        return lora

    async def active(self, character_id: int) -> CharacterLora | None:
        return (await self.active_for([character_id])).get(character_id)

    async def active_for(self, character_ids: Sequence[int]) -> dict[int, CharacterLora]:
        """The active LoRA of each character that has one, in one query."""
        if not character_ids:
            return {}
        query = select(CharacterLora).where(
            col(CharacterLora.character_id).in_(list(character_ids)),
            col(CharacterLora.active).is_(True),
            col(CharacterLora.deleted_at).is_(None),
        )
        async with self._db.session() as session:
            return {lora.character_id: lora for lora in (await session.exec(query)).all()}

    async def planned(self, character: Character) -> LoraInput | None:
        """The character's active LoRA as the prompt engine takes it (Characters.plan asks for it)."""
        lora = await self.active(character.id)  # type: ignore[arg-type]
        if lora is None:
            return None
        return LoraInput(
            file_name=lora.file_name,
            family=lora.family,  # type: ignore[arg-type]
            weight=lora.weight,
            trigger_word=lora.trigger_word,
            because=describe(lora, character.name),
        )

    # --- writing ---------------------------------------------------------------------------------

    async def register(
        self,
        character_id: int,
        file_name: str,
        *,
        family: str,
        trigger_word: str,
        weight: float = 0.8,
        epoch: int | None = None,
        family_label: str = "",
        metadata: Mapping[str, str] | None = None,
        run_id: int | None = None,
        actor: str,
    ) -> Registration:
        """Register a LoRA file and make it the character's active one (the previous one stays, inactive).

        Invalid: a bad value, or a family that cannot load on the architecture of the character's style.
        The result warns about devices that do not list the file (allowed: it may be copied there later).
        """
        try:
            draft = LoraDraft(
                file_name=file_name,
                family=family,  # type: ignore[arg-type]
                family_label=family_label,
                trigger_word=trigger_word,
                weight=weight,
                epoch=epoch,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise Invalid(".".join(str(p) for p in error["loc"]) or "lora", error["msg"]) from exc
        character = await self._character(character_id)
        await self._check_family(character, draft.family)
        metadata = dict(metadata or {})
        lora = CharacterLora(
            character_id=character_id,
            file_name=draft.file_name,
            family=draft.family,
            family_label=draft.family_label,
            epoch=draft.epoch if draft.epoch is not None else _epoch_of(metadata),
            trigger_word=draft.trigger_word,
            weight=draft.weight,
            file_metadata=metadata,
            run_id=run_id,
            active=True,
        )
        try:
            async with self._db.session() as session:
                await self._clear_active(session, character_id)
                session.add(lora)
        except IntegrityError as exc:
            raise Conflict(f"{character.name}'s LoRAs changed at the same time; try again") from exc
        await self._announce(actor, lora, character, "registered")
        files = await self._capabilities.model_files_by_device("loras")
        missing = tuple(device for device, names in files.items() if draft.file_name not in names)
        return Registration(lora, missing)

    async def activate(self, character_id: int, lora_id: int, actor: str) -> CharacterLora:
        """Switch the character to this LoRA. Invalid: it is deleted, or does not fit the character's style."""
        character = await self._character(character_id)
        lora = await self.get(character_id, lora_id)
        if lora.deleted_at is not None:
            raise Invalid("lora", f"{lora.file_name} is deleted; restore it before using it")
        await self._check_family(character, lora.family)
        try:
            async with self._db.session() as session:
                await self._clear_active(session, character_id)
                await session.exec(update(CharacterLora).where(col(CharacterLora.id) == lora_id).values(active=True))  # type: ignore[call-overload]
        except IntegrityError as exc:
            raise Conflict(f"{character.name}'s LoRAs changed at the same time; try again") from exc
        lora.active = True
        await self._announce(actor, lora, character, "activated")
        return lora

    async def deactivate(self, character_id: int, actor: str) -> CharacterLora | None:
        """Use no LoRA for the character (its LoRAs stay registered). Returns the one that was active."""
        character = await self._character(character_id)
        lora = await self.active(character_id)
        if lora is None:
            return None
        async with self._db.session() as session:
            await self._clear_active(session, character_id)
        lora.active = False
        await self._announce(actor, lora, character, "deactivated")
        return lora

    async def delete(self, character_id: int, lora_id: int, actor: str) -> CharacterLora:
        """Soft delete (Undo: `restore`). A deleted active LoRA is no longer loaded; it keeps its `active`
        flag so a restore brings it back as it was, unless another LoRA became active meanwhile."""
        character = await self._character(character_id)
        lora = await self.get(character_id, lora_id)
        if lora.deleted_at is None:
            lora.deleted_at = self._clock.now()
            async with self._db.session() as session:
                session.add(lora)
            await self._announce(actor, lora, character, "deleted")
        return lora

    async def restore(self, character_id: int, lora_id: int, actor: str) -> CharacterLora:
        character = await self._character(character_id)
        lora = await self.get(character_id, lora_id)
        if lora.deleted_at is not None:
            lora.deleted_at = None
            async with self._db.session() as session:
                session.add(lora)
            await self._announce(actor, lora, character, "restored")
        return lora

    # --- helpers ---------------------------------------------------------------------------------

    async def _character(self, character_id: int) -> Character:
        async with self._db.session() as session:
            character = await session.get(Character, character_id)
        if character is None:
            raise NotFound(f"there is no character {character_id}")
        return character

    async def _check_family(self, character: Character, family: str) -> None:
        """Invalid when the character's style (its project's default) draws with another architecture."""
        project = await self._projects.get(character.project_id)
        if not project.default_style:
            return  # no style yet: the prompt plan skips a LoRA that does not fit the style chosen later
        style = await self._styles.get(project.default_style)
        architecture = (
            style.model_architecture
            or match_profile(style.checkpoint_model, await self._library.model_profiles())[0].architecture
        )
        if family != architecture:
            raise Invalid(
                "family",
                f"an {FAMILY_NAMES.get(family, family)} LoRA cannot load on {FAMILY_NAMES.get(architecture)}: "
                f"{character.name} is drawn with style {style.name} ({style.checkpoint_model}); register a LoRA "
                f"trained on {FAMILY_NAMES.get(architecture)}, or change the project's default style",
            )

    @staticmethod
    async def _clear_active(session: Any, character_id: int) -> None:
        # Before the new active row is written: the partial unique index allows one active row per character.
        statement = (
            update(CharacterLora)
            .where(col(CharacterLora.character_id) == character_id, col(CharacterLora.active).is_(True))
            .values(active=False)
        )
        await session.exec(statement)
        await session.flush()

    async def _announce(self, actor: str, lora: CharacterLora, character: Character, change: LoraChange) -> None:
        await self._events.emit(
            LoraChanged(
                actor=actor,
                change=change,
                lora_id=lora.id,  # type: ignore[arg-type]
                character_id=character.id,  # type: ignore[arg-type]
                file_name=lora.file_name,
                label=character.name,
            )
        )


def _epoch_of(metadata: Mapping[str, str]) -> int | None:
    """kohya writes the epoch a file was saved at as `ss_epoch`."""
    value = str(metadata.get("ss_epoch", "")).strip()
    return int(value) if value.isdigit() else None
