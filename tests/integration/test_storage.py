"""The same storage tests on SQLite and PostgreSQL (the `database_url` fixture runs each twice)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from studio import migrate
from studio.db import Database
from studio.events import UserAdded
from studio.models import (
    ApprovalState,
    AuditRecord,
    Character,
    DatasetImage,
    Episode,
    EpisodeScene,
    GenerationStyle,
    Job,
    JobState,
    Project,
    Scene,
    Shot,
    Storyline,
    WorldSettings,
    metadata,
)
from studio.models.datasets import generation_parameters
from studio.root import Studio

DOMAIN_TABLES = {
    "projects",
    "generation_styles",
    "characters",
    "storylines",
    "world_settings",
    "scenes",
    "shots",
    "episodes",
    "episode_scenes",
    "images",
    "jobs",
    "audit_events",
    "users",
    "user_preferences",
}


def test_migration_creates_the_whole_schema_and_matches_the_models(database: Database) -> None:
    inspector = sa.inspect(database.sync_engine)
    assert DOMAIN_TABLES <= set(inspector.get_table_names())
    assert migrate.current_revision(database) == migrate.head_revision()
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.sync_engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_migrating_twice_changes_nothing(database: Database) -> None:
    assert migrate.upgrade(database) == migrate.head_revision()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal' / 'studio.db'}")
    migrate.upgrade(database)
    with database.sync_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def _insert_row(conn: sa.Connection, table: str, **given: object) -> int:
    """A row of `table` as the schema stands at an old revision: `given` values, placeholders for the rest of the
    required columns."""
    values: dict[str, object] = {}
    for _, name, kind, not_null, default, primary in conn.exec_driver_sql(f"PRAGMA table_info({table})"):
        if name in given:
            values[name] = given[name]
        elif not_null and default is None and not primary:
            kind = kind.upper()
            numeric = any(word in kind for word in ("INT", "FLOAT", "BOOL", "NUM", "REAL"))
            timed = "DATE" in kind or "TIME" in kind
            values[name] = 0 if numeric else "2026-01-01 00:00:00" if timed else "{}" if "JSON" in kind else "x"
    names, marks = ", ".join(values), ", ".join("?" for _ in values)
    return int(
        conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values())).lastrowid
    )


def test_upgrading_sqlite_keeps_every_row_of_the_tables_it_rebuilds(tmp_path: Path) -> None:
    """SQLite rebuilds a table to change it; with foreign keys on, dropping the old `projects` deleted every
    character and image of an upgraded studio (0010 rebuilds it)."""
    database = Database(f"sqlite:///{tmp_path / 'old' / 'studio.db'}")
    migrate.upgrade(database, "0001")
    with database.sync_engine.begin() as conn:
        project = _insert_row(conn, "projects", name="Mario Galaxy")
        character = _insert_row(conn, "characters", project_id=project, name="Koopa", slug="koopa")
        _insert_row(conn, "images", project_id=project, character_id=character, content_hash="a" * 64)
    assert migrate.upgrade(database) == migrate.head_revision()
    with database.sync_engine.connect() as conn:
        counts = [
            conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in ("projects", "characters", "images")
        ]
        assert counts == [1, 1, 1]
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # on again for the pooled connection
    database.sync_engine.dispose()


# Provenances as older studios and hand edits left them: whole and half steps, names too long, numbers as text,
# no parameters at all.
OLD_PROVENANCES = [
    {"checkpoint": "noob.safetensors", "sampler": "euler", "scheduler": "karras", "steps": 28, "cfg": 5.5},
    {"checkpoint": "x" * 300, "sampler": "dpmpp_2m", "steps": 27.5, "cfg": 7},
    {"checkpoint": "pony.safetensors", "steps": 24.4, "cfg": 4.75},
    {"steps": "28", "cfg": "high", "sampler": 3, "scheduler": None, "checkpoint": ["a"]},
    {"steps": 1e12, "cfg": True},
    {},
]


def test_migrating_to_0018_copies_the_generation_parameters_out_of_the_provenance(database: Database) -> None:
    """Images already there get the parameter columns by the rule admission follows (generation_parameters)."""
    config = migrate.alembic_config()
    with database.sync_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
    old = sa.MetaData()
    images = sa.Table("images", old, autoload_with=database.sync_engine)
    now = datetime.now(UTC)
    with database.sync_engine.begin() as conn:
        project = conn.execute(
            sa.insert(Project.__table__).values(  # type: ignore[attr-defined]
                name="Mario Galaxy", description="", genre="", premise="", content_rating="PG-13", frame_width=1280,
                frame_height=720, frame_rate=24.0, tag_blacklist=[], created_at=now, updated_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
        rows = [
            {
                "project_id": project,
                "file_path": f"images/{n}.png",
                "content_hash": f"{n:064d}",
                **{"width": 64, "height": 64, "source": "generated", "source_ref": "", "approval_state": "PENDING"},
                **{"triage": {}, "review": {}, "triage_flags": "", "vision_status": "NONE", "caption": ""},
                **{"rejection_categories": [], "caption_source": "", "version": 1},
                **{"created_at": now, "updated_at": now, "provenance": provenance},
            }
            for n, provenance in enumerate(OLD_PROVENANCES)
        ]
        conn.execute(sa.insert(images), rows)
    assert migrate.upgrade(database) == migrate.head_revision()
    columns = ["checkpoint", "sampler", "scheduler", "steps", "cfg"]
    table = DatasetImage.__table__  # type: ignore[attr-defined]
    with database.sync_engine.connect() as conn:
        found = conn.execute(sa.select(*(table.c[name] for name in columns)).order_by(table.c.id)).all()
    assert [dict(zip(columns, row, strict=True)) for row in found] == [
        generation_parameters(provenance) for provenance in OLD_PROVENANCES
    ]
    assert found[1][0] == "x" * 200
    assert [row[3] for row in found] == [28, 28, 24, None, None, None]


async def _project(db: Database, name: str = "Mario Galaxy") -> Project:
    async with db.session() as session:
        session.add(GenerationStyle(name="noob-vpred", checkpoint_model="noobaiXLVpred_v10.safetensors"))
        project = Project(name=name, premise="Stars fall", default_style="noob-vpred")
        session.add(project)
    return project


async def test_a_whole_production_round_trips(database: Database) -> None:
    project = await _project(database)
    assert project.id is not None
    async with database.session() as session:
        session.add(Storyline(project_id=project.id, summary="A quest", themes=["friendship", "courage"]))
        session.add(WorldSettings(project_id=project.id, color_palette={"sky": "#112244"}))
        koopa = Character(
            project_id=project.id,
            name="Koopa",
            slug="koopa",
            design_prompt="turtle king",
            appearance_data={"species": "turtle (NOT human)", "key_colors": ["green", "yellow"]},
        )
        session.add(koopa)
        scene = Scene(project_id=project.id, scene_number=1, title="Castle", mood="tense")
        session.add(scene)
        await session.flush()
        session.add(Shot(scene_id=scene.id, shot_number=1, characters_present=[koopa.id], dialogue_text="Ha!"))
        episode = Episode(project_id=project.id, episode_number=1, title="Pilot")
        session.add(episode)
        await session.flush()
        session.add(EpisodeScene(episode_id=episode.id, scene_id=scene.id, position=0))
        session.add(
            DatasetImage(
                project_id=project.id,
                character_id=koopa.id,
                file_path="images/ab/abc.png",
                content_hash="abc",
                width=512,
                height=768,
                provenance={"seed": 42},
            )
        )
    async with database.session() as session:
        loaded = (await session.exec(select(Character).where(Character.slug == "koopa"))).one()
        assert loaded.appearance_data["key_colors"] == ["green", "yellow"]
        assert loaded.created_at.tzinfo is not None
        shot = (await session.exec(select(Shot))).one()
        assert isinstance(shot.scene_id, uuid.UUID) and shot.characters_present == [loaded.id]
        image = (await session.exec(select(DatasetImage))).one()
        assert image.approval_state == ApprovalState.PENDING and image.provenance == {"seed": 42}
        storyline = (await session.exec(select(Storyline))).one()
        assert storyline.themes == ["friendship", "courage"]


async def test_character_slugs_are_unique_per_project_only(database: Database) -> None:
    first = await _project(database, "One")
    async with database.session() as session:
        second = Project(name="Two")
        session.add(second)
        await session.flush()
        session.add(Character(project_id=first.id, name="Mario", slug="mario"))
        session.add(Character(project_id=second.id, name="Mario", slug="mario"))
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Character(project_id=first.id, name="Mario again", slug="mario"))


async def test_deleting_a_project_removes_its_production(database: Database) -> None:
    project = await _project(database)
    async with database.session() as session:
        scene = Scene(project_id=project.id)
        session.add(scene)
        await session.flush()
        session.add(Shot(scene_id=scene.id, shot_number=1))
    async with database.session() as session:
        await session.delete(await session.get(Project, project.id))
    async with database.session() as session:
        assert (await session.exec(select(Scene))).all() == []
        assert (await session.exec(select(Shot))).all() == []
        assert (await session.get(GenerationStyle, "noob-vpred")) is not None


async def test_a_failed_transaction_leaves_the_previous_state(database: Database) -> None:
    await _project(database, "Kept")
    with pytest.raises(IntegrityError):
        async with database.session() as session:
            session.add(Project(name="Half written"))
            session.add(Project(name="Kept"))  # duplicate name: the whole transaction rolls back
    async with database.session() as session:
        names = [p.name for p in (await session.exec(select(Project))).all()]
    assert names == ["Kept"]


async def test_jobs_keep_their_payload_and_state(database: Database) -> None:
    async with database.session() as session:
        job = Job(kind="image.generate", payload={"character_id": 1, "count": 4}, device="rtx3060")
        session.add(job)
    async with database.session() as session:
        stored = await session.get(Job, job.id)
        assert stored is not None and stored.state == JobState.QUEUED and stored.payload["count"] == 4
        stored.state = JobState.RUNNING
        stored.started_at = datetime.now(UTC)
        session.add(stored)
    async with database.session() as session:
        assert (await session.get(Job, job.id)).state == "running"  # type: ignore[union-attr]


async def test_every_event_leaves_an_audit_record(studio: Studio) -> None:
    await studio.events.emit(UserAdded(actor="cli", user="aiko"))
    records = await studio.audit.recent(limit=10)
    assert [r.event for r in records][:2] == ["user.added", "studio.started"]
    added = records[0]
    assert isinstance(added, AuditRecord)
    assert (added.actor, added.subject_type, added.subject_id) == ("cli", "user", "aiko")
    assert added.summary == "User aiko was added"
    assert [r.event for r in await studio.audit.recent(event_prefix="studio.")] == ["studio.started"]
