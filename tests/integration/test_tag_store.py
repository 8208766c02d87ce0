"""The tag store on SQLite and PostgreSQL: re-tagging keeps a person's edits, bulk edits with undo, filters."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import col, select

from services.datasets import ImageQuery
from services.errors import Conflict, Invalid, NotFound
from services.tags import BulkEdit, BulkResult, MachineTag, TagsEdited
from studio import migrate
from studio.db import Database
from studio.models import AuditRecord, Character, DatasetImage, TagCategory, TagSource
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA

CHAR = TagCategory.CHARACTER


async def seed_images(studio: Studio, character: Character, count: int, **fields: object) -> list[int]:
    """Image rows without files: the tag store and the caption writer never open the pictures."""
    async with studio.db.session() as session:
        rows = [
            DatasetImage(
                project_id=character.project_id,
                character_id=character.id,
                file_path=f"images/{character.id}/{n}.png",
                content_hash=uuid.uuid4().hex,
                width=512,
                height=512,
                **fields,  # type: ignore[arg-type]
            )
            for n in range(count)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]  # type: ignore[misc]


async def koopa(studio: Studio, count: int = 3) -> tuple[Character, list[int]]:
    project = await studio.projects.create(GALAXY, "test")
    character = await studio.characters.create(project.id, KOOPA, "test")  # type: ignore[arg-type]
    return character, await seed_images(studio, character, count)


async def names(studio: Studio, image_id: int) -> list[str]:
    return [t.tag for t in (await studio.tags.tags_of(image_id)).tags]


async def test_a_persons_edits_survive_retagging(studio: Studio) -> None:
    _, (first, *_) = await koopa(studio, 1)
    tagger = [MachineTag("1boy", 0.9), MachineTag("spiked_shell", 0.8), MachineTag("koopa", 0.95, CHAR)]
    assert await studio.tags.set_machine_tags(first, TagSource.TAGGER, tagger) == 3
    await studio.tags.set_machine_tags(first, TagSource.PROMPT, [MachineTag("spiked shell"), MachineTag("night")])
    tags = (await studio.tags.tags_of(first)).tags
    assert [t.tag for t in tags] == ["koopa", "1boy", "spiked shell", "night"]
    assert tags[2].sources == ("prompt", "tagger") and tags[2].confidence == 0.8
    assert tags[0].category == "character"

    edited = await studio.tags.put_tags(first, ["koopa", "spiked shell", "night", "Red_Hair"], "a turtle", "mira")
    assert edited.undo_token and edited.caption == "a turtle" and edited.caption_source == "person"
    assert [t.tag for t in edited.tags] == ["red hair", "koopa", "spiked shell", "night"]  # a person: 1.0

    # The tagger runs again and says 1boy again and drops red hair: the person's word stands.
    kept = await studio.tags.set_machine_tags(first, TagSource.TAGGER, tagger, caption="a man")
    assert kept == 2  # 1boy is there, but hidden
    again = await studio.tags.tags_of(first)
    assert "1boy" not in [t.tag for t in again.tags] and "red hair" in [t.tag for t in again.tags]
    assert again.caption == "a turtle"  # an LLM caption never overwrites a person's

    with pytest.raises(Invalid):
        await studio.tags.set_machine_tags(first, TagSource.PERSON, tagger)
    with pytest.raises(NotFound):
        await studio.tags.tags_of(999_999)
    for bad in (["a, b"], [" "], ["x" * 201], ["line\nbreak"]):
        with pytest.raises(Invalid):
            await studio.tags.put_tags(first, bad, None, "mira")


async def test_bulk_edits_undo_and_refuse_undo_after_a_later_edit(studio: Studio) -> None:
    character, ids = await koopa(studio, 4)
    assert character.id is not None
    for image_id in ids:
        await studio.tags.set_machine_tags(
            image_id, TagSource.TAGGER, [MachineTag("blonde hair", 0.7), MachineTag("smile", 0.5)]
        )
    await studio.tags.set_machine_tags(ids[0], TagSource.PROMPT, [MachineTag("yellow hair")])
    tags = studio.tags

    added = await tags.bulk(character.id, BulkEdit("add", "Solo", image_ids=tuple(ids[:2])), "mira")
    assert added.images_changed == 2 and added.undo_token
    assert (await tags.frequencies(character.id)).tags[0].tag in ("blonde hair", "smile")

    removed = await tags.bulk(character.id, BulkEdit("remove", "smile"), "mira")
    assert removed.images_changed == 4 and "smile" not in await names(studio, ids[3])

    renamed = await tags.bulk(character.id, BulkEdit("rename", "blonde hair", "yellow hair"), "mira")
    assert renamed.merged and "merged into 'yellow hair'" in renamed.message and renamed.images_changed == 4
    frequencies = await tags.frequencies(character.id)
    assert frequencies.images == 4
    assert [(c.tag, c.count, c.share) for c in frequencies.tags] == [("yellow hair", 4, 1.0), ("solo", 2, 0.5)]

    # Undo the rename: exactly the state before it.
    undone = await tags.undo(renamed.undo_token or "", "mira")
    assert undone.images_changed == 4 and undone.message.startswith("Undone")
    assert await names(studio, ids[0]) == ["solo", "blonde hair", "yellow hair"]
    assert await names(studio, ids[3]) == ["blonde hair"]
    with pytest.raises(Conflict, match="undone already"):
        await tags.undo(renamed.undo_token or "", "mira")

    # A later edit of image 0 blocks undoing the earlier removal there; undoing the later one first works.
    later = await tags.put_tags(ids[0], ["blonde hair"], None, "mira")
    with pytest.raises(Conflict, match=f"{ids[0]}"):
        await tags.undo(removed.undo_token or "", "mira")
    await tags.undo(later.undo_token or "", "mira")
    await tags.undo(removed.undo_token or "", "mira")
    assert await names(studio, ids[3]) == ["blonde hair", "smile"]
    with pytest.raises(NotFound):
        await tags.undo("no-such-token", "mira")

    everyone = await tags.bulk(character.id, BulkEdit("add", "koopa"), "mira")
    assert everyone.images_changed == 4 and all(["koopa" in await names(studio, i) for i in ids])
    assert (await tags.bulk(character.id, BulkEdit("add", "koopa"), "mira")).images_changed == 0

    replaced = await tags.bulk(character.id, BulkEdit("replace", "smile", "grin", image_ids=(ids[1],)), "mira")
    assert replaced.images_changed == 1 and not replaced.merged
    assert await names(studio, ids[1]) == ["grin", "koopa", "solo", "blonde hair"]

    async with studio.db.session() as session:
        audited = (
            await session.exec(
                select(AuditRecord).where(AuditRecord.event == TagsEdited.name).order_by(col(AuditRecord.id))
            )
        ).all()
    summaries = [record.summary for record in audited]
    assert "mira renamed tag 'blonde hair' to 'yellow hair' on 4 image(s)" in summaries
    assert any(s.startswith("mira undid: renamed") for s in summaries)


async def test_bulk_refuses_bad_input_and_changes_nothing(studio: Studio) -> None:
    character, ids = await koopa(studio, 2)
    other = await studio.characters.create(character.project_id, KOOPA.model_copy(update={"name": "Bowser Jr"}), "t")
    strangers = await seed_images(studio, other, 1)
    assert character.id is not None
    await studio.tags.set_machine_tags(ids[0], TagSource.TAGGER, [MachineTag("smile", 0.5)])
    with pytest.raises(Invalid, match="not images of"):
        await studio.tags.bulk(character.id, BulkEdit("add", "grin", image_ids=(ids[0], strangers[0])), "mira")
    assert await names(studio, ids[0]) == ["smile"]
    for edit in (
        BulkEdit("rename", "smile"),
        BulkEdit("rename", "smile", "Smile "),
        BulkEdit("add", ""),
        BulkEdit("rename", "smile", "grin", image_ids=(ids[0],)),
        BulkEdit("explode", "smile"),  # type: ignore[arg-type]
    ):
        with pytest.raises(Invalid):
            await studio.tags.bulk(character.id, edit, "mira")
    with pytest.raises(NotFound):
        await studio.tags.bulk(999_999, BulkEdit("add", "grin"), "mira")
    nothing = await studio.tags.bulk(character.id, BulkEdit("remove", "frown"), "mira")
    assert nothing.images_changed == 0 and nothing.undo_token is None


async def test_grid_filters_by_tag_and_by_no_caption(studio: Studio) -> None:
    character, ids = await koopa(studio, 3)
    await studio.tags.set_machine_tags(ids[0], TagSource.TAGGER, [MachineTag("smile", 0.5)])
    await studio.tags.put_tags(ids[1], [], "a turtle on a throne", "mira")
    page = await studio.datasets.page(ImageQuery(project_id=character.project_id, tag="Smile"))
    assert [i.id for i in page.items] == [ids[0]]
    bare = await studio.datasets.page(ImageQuery(project_id=character.project_id, no_caption=True))
    assert [i.id for i in bare.items] == [ids[2]]
    # Images moved to another character take their tags along.
    other = await studio.characters.create(character.project_id, KOOPA.model_copy(update={"name": "Bowser Jr"}), "t")
    await studio.decisions.reassign([ids[0]], other.id, "mira")  # type: ignore[arg-type]
    assert [t.tag for t in (await studio.tags.frequencies(other.id)).tags] == ["smile"]  # type: ignore[arg-type]
    assert (await studio.tags.frequencies(character.id)).tags == []  # type: ignore[arg-type]


def test_the_migration_downgrades_and_upgrades_again(database: Database) -> None:
    config = migrate.alembic_config()
    with database.sync_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
    inspector = sa.inspect(database.sync_engine)
    assert not {"image_tags", "tag_edits", "tag_edit_images"} & set(inspector.get_table_names())
    assert "caption" not in {c["name"] for c in inspector.get_columns("images")}
    assert migrate.upgrade(database) == migrate.head_revision()
    columns = {c["name"] for c in sa.inspect(database.sync_engine).get_columns("images")}
    assert {"caption", "caption_source"} <= columns


async def test_two_studios_adding_the_same_tag_at_once_never_fail_with_a_server_error(
    two_studios: list[Studio],
) -> None:
    one, two = two_studios
    character, ids = await koopa(one, 50)
    assert character.id is not None
    edits = [
        studio.tags.bulk(character.id, BulkEdit("add", "crown"), name) for studio, name in ((one, "a"), (two, "b"))
    ]
    results = await asyncio.gather(*edits, return_exceptions=True)
    assert all(isinstance(r, BulkResult | Conflict) for r in results), results
    assert sum(r.images_changed for r in results if isinstance(r, BulkResult)) >= len(ids)
    counts = (await two.tags.frequencies(character.id)).tags
    assert [(c.tag, c.count) for c in counts] == [("crown", len(ids))]
