"""What the studio accepts must fit where it is stored, on SQLite (which ignores VARCHAR lengths) and on
PostgreSQL (which refuses what does not fit): every API schema field against its column, and the largest values
the studio itself writes (seeds up to 2^32-1, the longest worker identity, a renamed import) on both databases."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Annotated, Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlmodel import SQLModel, select

import services.bible.schemas
import services.episodes.schemas
import services.scenes.schemas
from services.bible.archive import ArchiveCharacter, ArchiveReference
from services.bible.schemas import (
    CharacterChanges,
    CharacterDraft,
    ProfileDraft,
    ProjectChanges,
    ProjectDraft,
    SpeciesRuleDraft,
    StorylineDraft,
    StyleDraft,
    WorldDraft,
)
from services.episodes.schemas import EpisodeChanges, EpisodeDraft, EpisodeSceneEntry
from services.generation.images import MAX_SEED
from services.scenes.schemas import SceneChanges, SceneDraft, ShotChanges, ShotDraft
from services.scenes.story import PlannedScene, PlannedShot
from studio.api.tags import BulkEditIn, TagsIn, TriggerIn
from studio.db import Database
from studio.models import (
    Character,
    DatasetImage,
    Episode,
    EpisodeScene,
    GenerationStyle,
    Job,
    ModelProfileRow,
    Project,
    ReferenceImage,
    Scene,
    Shot,
    SpeciesRuleRow,
    Storyline,
    TagEdit,
    WorldSettings,
)
from studio.root import Studio
from tests.bible_helpers import chunks

# Where each schema's fields are stored, column by column of the same name.
STORED_AS: dict[type[BaseModel], type[SQLModel]] = {
    ProjectDraft: Project,
    ProjectChanges: Project,
    StorylineDraft: Storyline,
    WorldDraft: WorldSettings,
    StyleDraft: GenerationStyle,
    ProfileDraft: ModelProfileRow,
    SpeciesRuleDraft: SpeciesRuleRow,
    CharacterDraft: Character,
    CharacterChanges: Character,
    ArchiveCharacter: Character,
    ArchiveReference: ReferenceImage,
    SceneDraft: Scene,
    SceneChanges: Scene,
    PlannedScene: Scene,
    ShotDraft: Shot,
    ShotChanges: Shot,
    PlannedShot: Shot,
    EpisodeDraft: Episode,
    EpisodeChanges: Episode,
    EpisodeSceneEntry: EpisodeScene,
    TagsIn: DatasetImage,
    BulkEditIn: TagEdit,
    TriggerIn: Character,
}
# Schemas whose fields live inside another row's JSON, or that only carry a list of other schemas.
NOT_STORED_BY_FIELD = {"StoryArc", "AppearanceData", "EpisodeScenes"}
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def _schemas() -> Iterator[type[BaseModel]]:
    for module in (services.bible.schemas, services.scenes.schemas, services.episodes.schemas):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                if not value.__name__.startswith("_"):
                    yield value


def _accepts(adapter: TypeAdapter[Any], value: object) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _literals(annotation: object) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [a for a in typing.get_args(annotation) if isinstance(a, str)]
    return [v for arg in typing.get_args(annotation) for v in _literals(arg)]


def _mismatches(schema: type[BaseModel], table: type[SQLModel]) -> Iterator[str]:
    columns = table.__table__.columns  # type: ignore[attr-defined]
    for name, field in schema.model_fields.items():
        column = columns.get(name)
        if column is None or column.foreign_keys:  # a reference is looked up before it is stored
            continue
        constrained = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        adapter: TypeAdapter[Any] = TypeAdapter(constrained)  # type: ignore[arg-type]
        where = f"{schema.__name__}.{name} -> {table.__tablename__}.{name}"  # type: ignore[attr-defined]
        # SQLModel's strings are a TypeDecorator over VARCHAR(length).
        stored = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
        length = getattr(column.type, "length", None)
        if isinstance(stored, sa.String) and length is not None:
            too_long = [v for v in _literals(field.annotation) if len(v) > length]
            if too_long or _accepts(adapter, "a" * (length + 1)):
                yield f"{where}: accepts more than the column's {length} characters"
        elif isinstance(stored, sa.Integer):
            limit = INT64_MAX if isinstance(stored, sa.BigInteger) else INT32_MAX
            if _accepts(adapter, limit + 1):
                yield f"{where}: accepts {limit + 1}, more than the column holds"


def test_every_schema_that_is_stored_says_where() -> None:
    unmapped = {s.__name__ for s in _schemas()} - {s.__name__ for s in STORED_AS} - NOT_STORED_BY_FIELD
    assert unmapped == set(), "add these schemas to STORED_AS (or NOT_STORED_BY_FIELD)"


def test_every_value_a_schema_accepts_fits_its_column() -> None:
    problems = [problem for schema, table in STORED_AS.items() for problem in _mismatches(schema, table)]
    assert problems == []


def test_an_over_long_sampler_is_refused_with_the_limit() -> None:
    with pytest.raises(ValidationError, match="at most 64 characters"):
        StyleDraft(name="s", checkpoint_model="m.safetensors", sampler="x" * 65)


# --- what the studio itself writes, on both databases -------------------------------------------------


async def test_the_largest_seed_and_the_longest_worker_identity_are_kept(database: Database) -> None:
    # The longest worker identity: a 60-character host, a 32-character device and FramePack's own app.
    identity = "h" * 60 + "-0123abcd/" + "d" * 32 + ":framepack"
    async with database.session() as session:
        project = Project(name="Seeds")
        session.add(project)
        await session.flush()
        scene = Scene(project_id=project.id)  # type: ignore[arg-type]
        session.add(scene)
        await session.flush()
        session.add(Shot(scene_id=scene.id, shot_number=1, seed=MAX_SEED))
        session.add(Job(kind="scene.generate", claimed_by=identity))
    async with database.session() as session:
        assert (await session.exec(select(Shot.seed))).one() == MAX_SEED
        assert (await session.exec(select(Job.claimed_by))).one() == identity


async def test_importing_a_project_whose_name_is_taken_fits_the_new_name(studio: Studio) -> None:
    name = "N" * 200  # the longest name a project may have
    project = await studio.projects.create(ProjectDraft(name=name), "aiko")
    _, archive = await studio.archives.export(project.id)  # type: ignore[arg-type]
    first = await studio.archives.import_archive(chunks(archive), "aiko")
    second = await studio.archives.import_archive(chunks(archive), "aiko")
    names = [first.project.name, second.project.name]
    assert all(len(n) <= 200 for n in names) and len({name, *names}) == 3
    assert names[0].endswith(" (imported)") and names[1].endswith(" (imported 2)")
