"""The caption writer on SQLite and PostgreSQL: the exact training caption per model profile, blacklists,
the trigger word, never empty, and a fixed number of queries for any number of images."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from services.bible.schemas import ProjectDraft, StyleDraft
from services.tags import MachineTag
from studio.models import Character, TagCategory, TagSource
from studio.root import Studio
from tests.bible_helpers import KOOPA
from tests.integration.test_tag_store import seed_images

BOORU = StyleDraft(name="noob", checkpoint_model="noobaiXL_v10.safetensors")
PROSE = StyleDraft(name="real", checkpoint_model="cyberrealistic_v4.safetensors")


async def _character(studio: Studio) -> Character:
    await studio.styles.create(BOORU, "test")
    await studio.styles.create(PROSE, "test")
    project = await studio.projects.create(ProjectDraft(name="Castle", default_style="noob"), "test")
    return await studio.characters.create(project.id, KOOPA, "test")  # type: ignore[arg-type]


async def _tag(studio: Studio, image_id: int) -> None:
    tagger = [
        MachineTag("koopa", 0.95, TagCategory.CHARACTER),
        MachineTag("spiked shell", 0.8),
        MachineTag("general", 0.9, TagCategory.RATING),
        MachineTag("night", 0.4),
    ]
    await studio.tags.set_machine_tags(image_id, TagSource.TAGGER, tagger)
    await studio.tags.set_machine_tags(image_id, TagSource.PROMPT, [MachineTag("spiked shell"), MachineTag("castle")])


async def test_booru_caption_orders_tags_and_keeps_blacklisted_ones_out(studio: Studio) -> None:
    character = await _character(studio)
    assert character.id is not None
    (image_id,) = await seed_images(studio, character, 1)
    await _tag(studio, image_id)
    await studio.tags.put_tags(
        image_id, [*(t.tag for t in (await studio.tags.tags_of(image_id)).tags), "crown"], None, "mira"
    )
    await studio.tags.set_trigger(character.id, "kpa", "mira")
    await studio.tags.set_blacklist(character.project_id, ["Night"], "mira")
    await studio.tags.set_character_blacklist(character.id, ["castle"], "mira")

    preview = await studio.captions.preview(image_id)
    # Trigger first, character tags, then by confidence (a person's crown is 1.0); rating and blacklist out.
    assert preview.text == "kpa, koopa, crown, spiked shell"
    assert preview.prompt_format == "booru_tags" and preview.profile == "NoobAI-XL"
    assert sorted(preview.dropped) == ["castle", "night"]
    assert await studio.captions.captions([image_id, 999_999]) == {image_id: preview.text}


async def test_prose_profile_uses_the_caption_text_after_the_trigger(studio: Studio) -> None:
    character = await _character(studio)
    assert character.id is not None
    with_text, without_text = await seed_images(studio, character, 2, provenance={"style": "real"})
    for image_id in (with_text, without_text):
        await _tag(studio, image_id)
    await studio.tags.set_machine_tags(with_text, TagSource.LLM, [], caption="A turtle king on a throne")
    await studio.tags.set_trigger(character.id, "kpa", "mira")
    prose = await studio.captions.preview(with_text)
    assert (prose.text, prose.prompt_format, prose.profile) == (
        "kpa, A turtle king on a throne",
        "prose",
        "CyberRealistic",
    )
    # No caption text yet: the tags stand in.
    assert (await studio.captions.preview(without_text)).text == "kpa, koopa, spiked shell, night, castle"
    # A checkpoint in the provenance decides when no style is named.
    (by_checkpoint,) = await seed_images(
        studio, character, 1, provenance={"checkpoint": "realisticVision_v6.safetensors"}
    )
    assert (await studio.captions.preview(by_checkpoint)).profile == "Realistic Vision"
    # The profile the provenance names wins; a style's own prompt format overrides its profile's.
    (by_profile,) = await seed_images(studio, character, 1, provenance={"profile": "Pony Diffusion", "style": "real"})
    await studio.tags.set_machine_tags(by_profile, TagSource.LLM, [MachineTag("koopa")], caption="A turtle")
    assert (await studio.captions.preview(by_profile)).profile == "Pony Diffusion"
    await studio.styles.create(
        StyleDraft(name="noob-prose", checkpoint_model="noobai.safetensors", prompt_format="prose"), "t"
    )
    (overridden,) = await seed_images(studio, character, 1, provenance={"style": "noob-prose"})
    await studio.tags.set_machine_tags(overridden, TagSource.LLM, [MachineTag("koopa")], caption="A turtle")
    preview = await studio.captions.preview(overridden)
    assert (preview.text, preview.prompt_format, preview.profile) == ("kpa, A turtle", "prose", "NoobAI-XL")


async def test_a_caption_is_never_empty_and_starts_with_the_slug_until_a_trigger_is_pinned(studio: Studio) -> None:
    character = await _character(studio)
    assert character.id is not None
    bare, trigger_only = await seed_images(studio, character, 2)
    assert (await studio.captions.preview(bare)).text == "koopa_king"  # as the training set's folder names it
    await studio.tags.set_trigger(character.id, "kpa", "mira")
    await studio.tags.set_machine_tags(trigger_only, TagSource.TAGGER, [MachineTag("KPA", 0.9)])
    assert await studio.captions.captions([bare, trigger_only]) == {bare: "kpa", trigger_only: "kpa"}


@contextmanager
def _counting(studio: Studio) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = studio.db.async_engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_captions_of_many_images_take_as_many_queries_as_of_a_few(studio: Studio) -> None:
    character = await _character(studio)
    ids = await seed_images(studio, character, 40, provenance={"style": "real"})
    for image_id in ids:
        await studio.tags.set_machine_tags(image_id, TagSource.PROMPT, [MachineTag("castle")])
    await studio.captions.captions(ids[:1])  # profiles seeded, connections warm
    with _counting(studio) as few:
        await studio.captions.captions(ids[:3])
    with _counting(studio) as many:
        captions = await studio.captions.captions(ids)
    assert 3 < len(few) == len(many) and set(captions.values()) == {"koopa_king, castle"}
