"""Generation styles, and the prompt library: model profiles and species rules users can extend."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from services.bible.events import BibleChanged
from services.bible.schemas import ProfileDraft, SpeciesRuleDraft, StyleDraft, require_address_name
from services.errors import Conflict, Invalid, NotFound
from services.prompts import (
    BUILTIN_PROFILES,
    BUILTIN_SPECIES_RULES,
    ModelProfile,
    SamplerNames,
    SpeciesRule,
    match_profile,
    sampler_problems,
    validate_size,
)
from studio.db import Database
from studio.events import EventBus
from studio.models import GenerationStyle, ModelProfileRow, Project, SpeciesRuleRow

Entry = TypeVar("Entry", ModelProfileRow, SpeciesRuleRow)
# The sampler and scheduler names the ComfyUI devices offer (ComfyUI 0.3.64's while none has said).
SamplerSource = Callable[[], SamplerNames]


def check_sampler(sampler: str | None, scheduler: str | None, names: SamplerSource, prefix: str = "") -> None:
    """Invalid (naming the valid names) when a sampler or scheduler is one no ComfyUI device offers."""
    problems = sampler_problems(sampler, scheduler, names())
    if problems:
        raise Invalid(prefix + next(iter(problems)), "; ".join(problems.values()))


def to_profile(row: ModelProfileRow) -> ModelProfile:
    values = row.model_dump(exclude={"builtin", "updated_at"})
    values["match"] = tuple(values["match"])
    values["strip_style_tags"] = tuple(values["strip_style_tags"])
    return ModelProfile(**values)


def to_rule(row: SpeciesRuleRow) -> SpeciesRule:
    values = row.model_dump(exclude={"builtin", "updated_at"})
    return SpeciesRule(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def _row_values(item: ModelProfile | SpeciesRule) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(item).items()}


class PromptLibrary:
    """Model profiles and species rules. Built-ins are seeded once and may be edited or reset."""

    def __init__(self, db: Database, events: EventBus, sampler_names: SamplerSource) -> None:
        self._db = db
        self._seeding = asyncio.Lock()  # start-up and a first request may both seed
        self._events = events
        self._sampler_names = sampler_names

    async def ensure_builtins(self) -> None:
        """Add built-in profiles and rules that are missing; never overwrite a user's edits."""
        async with self._seeding, self._db.session() as session:
            # Two reads instead of one per built-in: this runs at every start.
            profiles = set((await session.exec(select(ModelProfileRow.name))).all())
            rules = set((await session.exec(select(SpeciesRuleRow.name))).all())
            for profile in BUILTIN_PROFILES:
                if profile.name not in profiles:
                    session.add(ModelProfileRow(**_row_values(profile), builtin=True))
            for rule in BUILTIN_SPECIES_RULES:
                if rule.name not in rules:
                    session.add(SpeciesRuleRow(**_row_values(rule), builtin=True))

    async def profiles(self) -> list[ModelProfileRow]:
        async with self._db.session() as session:
            query = select(ModelProfileRow).order_by(col(ModelProfileRow.priority), col(ModelProfileRow.name))
            return list((await session.exec(query)).all())

    async def rules(self) -> list[SpeciesRuleRow]:
        async with self._db.session() as session:
            return list((await session.exec(select(SpeciesRuleRow).order_by(col(SpeciesRuleRow.name)))).all())

    async def model_profiles(self) -> list[ModelProfile]:
        """The profiles as the prompt engine takes them, in matching order.

        Invalid when none is a catch-all (every built-in catch-all was deleted): no checkpoint could be
        planned. Start-up seeds the built-ins in the background, so a request arriving first seeds them.
        """
        rows = await self.profiles()
        if not rows:
            await self.ensure_builtins()
            rows = await self.profiles()
        profiles = [to_profile(r) for r in rows]
        if not any(p.is_catch_all for p in profiles):
            raise Invalid(
                "model_profile",
                "no model profile is a catch-all (one without match strings); reset a built-in profile or add one",
            )
        return profiles

    async def species_rules(self) -> list[SpeciesRule]:
        return [to_rule(r) for r in await self.rules()]

    async def engine_inputs(self) -> tuple[list[ModelProfile], list[SpeciesRule]]:
        return await self.model_profiles(), await self.species_rules()

    async def save_profile(self, draft: ProfileDraft, actor: str) -> ModelProfileRow:
        if draft.min_side > draft.max_side:
            raise Invalid("min_side", "must not exceed max_side")
        check_sampler(draft.default_sampler, draft.default_scheduler, self._sampler_names, "default_")
        return await self._save(ModelProfileRow, "model_profile", draft, actor)

    async def save_rule(self, draft: SpeciesRuleDraft, actor: str) -> SpeciesRuleRow:
        return await self._save(SpeciesRuleRow, "species_rule", draft, actor)

    async def _save(self, table: type[Entry], entity: str, draft: ProfileDraft | SpeciesRuleDraft, actor: str) -> Entry:
        """Create or replace the entry named by the draft (a built-in stays marked built-in)."""
        async with self._db.session() as session:
            row = await session.get(table, draft.name)
            change = "updated" if row else "created"
            row = row or table(name=draft.name)
            for key, value in draft.model_dump().items():
                setattr(row, key, value)
            session.add(row)
        await self._announce(actor, entity, draft.name, change)
        return row

    async def delete_profile(self, name: str, actor: str) -> None:
        await self._delete(ModelProfileRow, "model_profile", name, actor)

    async def delete_rule(self, name: str, actor: str) -> None:
        await self._delete(SpeciesRuleRow, "species_rule", name, actor)

    async def reset_builtin(self, entity: str, name: str, actor: str) -> None:
        """Put a built-in profile or rule back to the values the studio ships with."""
        builtins = (
            {p.name: p for p in BUILTIN_PROFILES}
            if entity == "model_profile"
            else {r.name: r for r in BUILTIN_SPECIES_RULES}
        )
        if name not in builtins:
            raise NotFound(f"'{name}' is not a built-in {entity.replace('_', ' ')}")
        table = ModelProfileRow if entity == "model_profile" else SpeciesRuleRow
        async with self._db.session() as session:
            row = await session.get(table, name) or table(name=name)
            for key, value in _row_values(builtins[name]).items():
                setattr(row, key, value)
            row.builtin = True
            session.add(row)
        await self._announce(actor, entity, name, "reset")

    async def _delete(
        self, table: type[ModelProfileRow] | type[SpeciesRuleRow], entity: str, name: str, actor: str
    ) -> None:
        async with self._db.session() as session:
            row = await session.get(table, name)
            if row is None:
                raise NotFound(f"there is no {entity.replace('_', ' ')} named '{name}'")
            if row.builtin:
                raise Conflict(f"'{name}' is built in; edit it or reset it instead of deleting it")
            if isinstance(row, ModelProfileRow) and not row.match:
                raise Conflict("the catch-all profile (no match patterns) cannot be deleted")
            await session.delete(row)
        await self._announce(actor, entity, name, "deleted")

    async def _announce(self, actor: str, entity: str, name: str, change: str) -> None:
        await self._events.emit(
            BibleChanged(actor=actor, entity=entity, entity_id=name, change=change, label=name)  # type: ignore[arg-type]
        )


class GenerationStyles:
    def __init__(self, db: Database, events: EventBus, library: PromptLibrary, sampler_names: SamplerSource) -> None:
        self._db = db
        self._events = events
        self._library = library
        self._sampler_names = sampler_names

    async def list(self) -> list[GenerationStyle]:
        async with self._db.session() as session:
            return list((await session.exec(select(GenerationStyle).order_by(col(GenerationStyle.name)))).all())

    async def get(self, name: str) -> GenerationStyle:
        async with self._db.session() as session:
            style = await session.get(GenerationStyle, name)
        if style is None:
            raise NotFound(f"there is no generation style named '{name}'")
        return style

    async def create(self, draft: StyleDraft, actor: str) -> GenerationStyle:
        async with self._db.session() as session:
            if await session.get(GenerationStyle, draft.name) is not None:
                raise Conflict(f"a generation style named '{draft.name}' already exists")
        return await self._save(draft, actor, "created")

    async def put(self, name: str, draft: StyleDraft, actor: str) -> GenerationStyle:
        """Replace (or create) the style `name`. A rename is refused: styles are referenced by name."""
        require_address_name(name, draft.name)
        async with self._db.session() as session:
            exists = await session.get(GenerationStyle, name) is not None
        return await self._save(draft, actor, "updated" if exists else "created")

    async def delete(self, name: str, actor: str) -> None:
        async with self._db.session() as session:
            style = await session.get(GenerationStyle, name)
            if style is None:
                raise NotFound(f"there is no generation style named '{name}'")
            users = (await session.exec(select(Project.name).where(Project.default_style == name))).all()
            if users:
                raise Conflict(f"'{name}' is the default style of {', '.join(sorted(users))}; pick another first")
            await session.delete(style)
        await self._events.emit(BibleChanged(actor=actor, entity="style", entity_id=name, change="deleted", label=name))

    async def check(self, draft: StyleDraft) -> ModelProfile:
        """Validate the sampler against the devices' names and sizes against the profile the checkpoint
        matches; returns that profile."""
        check_sampler(draft.sampler, draft.scheduler, self._sampler_names)
        profiles = await self._library.model_profiles()
        profile, _reason = match_profile(draft.checkpoint_model, profiles)
        problems = validate_size(draft.width, draft.height, profile)
        if problems:
            field = "height" if all(p.startswith("height") for p in problems) else "width"
            raise Invalid(field, "; ".join(problems))
        return profile

    async def _save(self, draft: StyleDraft, actor: str, change: str) -> GenerationStyle:
        await self.check(draft)
        try:
            async with self._db.session() as session:
                style = await session.get(GenerationStyle, draft.name) or GenerationStyle(
                    name=draft.name, checkpoint_model=draft.checkpoint_model
                )
                for key, value in draft.model_dump().items():
                    setattr(style, key, value)
                session.add(style)
        except IntegrityError as exc:
            raise Conflict(f"a generation style named '{draft.name}' already exists") from exc
        await self._events.emit(
            BibleChanged(actor=actor, entity="style", entity_id=draft.name, change=change, label=draft.name)  # type: ignore[arg-type]
        )
        return style
