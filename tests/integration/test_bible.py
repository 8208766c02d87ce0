"""The creative bible's services on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from services.bible.schemas import (
    CharacterChanges,
    ProfileDraft,
    ProjectChanges,
    SpeciesRuleDraft,
    StorylineDraft,
    StyleDraft,
    WorldDraft,
)
from services.errors import Conflict, Invalid, NotFound
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA, NOOB_VPRED, PEACH, noisy_png, png


async def _production(studio: Studio) -> tuple[int, int, int]:
    await studio.styles.create(NOOB_VPRED, "local")
    await studio.styles.create(COUNTERFEIT, "local")
    project = await studio.projects.create(GALAXY.model_copy(update={"default_style": "noob-vpred"}), "local")
    koopa = await studio.characters.create(project.id, KOOPA, "local")  # type: ignore[arg-type]
    peach = await studio.characters.create(project.id, PEACH, "local")  # type: ignore[arg-type]
    return project.id, koopa.id, peach.id  # type: ignore[return-value]


async def test_projects_are_created_listed_archived_and_restored(studio: Studio) -> None:
    project = await studio.projects.create(GALAXY, "aiko")
    with pytest.raises(Conflict, match="already exists"):
        await studio.projects.create(GALAXY.model_copy(update={"name": "mario galaxy"}), "aiko")
    await studio.projects.archive(project.id, "aiko")  # type: ignore[arg-type]
    assert await studio.projects.list() == []
    assert [s.project.name for s in await studio.projects.list(include_archived=True)] == ["Mario Galaxy"]
    restored = await studio.projects.update(project.id, ProjectChanges(archived=False, genre="comedy"), "aiko")  # type: ignore[arg-type]
    assert restored.archived_at is None and restored.genre == "comedy"
    changes = [r.summary for r in await studio.audit.recent(event_prefix="bible.")]
    assert changes == [
        "aiko restored project 'Mario Galaxy'",
        "aiko archived project 'Mario Galaxy'",
        "aiko created project 'Mario Galaxy'",
    ]


async def test_storyline_and_world_are_saved_per_project(studio: Studio) -> None:
    project = await studio.projects.create(GALAXY, "local")
    assert (await studio.projects.storyline(project.id)).summary == ""  # type: ignore[arg-type]
    await studio.projects.save_storyline(project.id, StorylineDraft(summary="A quest", themes=["hope"]), "local")  # type: ignore[arg-type]
    await studio.projects.save_world(
        project.id,
        WorldDraft(art_style="cel shaded", negative_prompt_guidance="photo, 3d render"),
        "local",  # type: ignore[arg-type]
    )
    assert (await studio.projects.storyline(project.id)).themes == ["hope"]  # type: ignore[arg-type]
    assert (await studio.projects.world(project.id)).art_style == "cel shaded"  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await studio.projects.storyline(9999)


async def test_styles_are_validated_against_their_model_profile(studio: Studio) -> None:
    with pytest.raises(Invalid) as error:
        await studio.styles.create(NOOB_VPRED.model_copy(update={"width": 830}), "local")
    assert error.value.field == "width" and "multiple of 8" in error.value.message
    with pytest.raises(Invalid, match="exceeds"):
        await studio.styles.create(COUNTERFEIT.model_copy(update={"height": 2048}), "local")
    await studio.styles.create(NOOB_VPRED, "local")
    with pytest.raises(Conflict):
        await studio.styles.create(NOOB_VPRED, "local")
    with pytest.raises(Invalid, match="address names"):
        await studio.styles.put("other", NOOB_VPRED, "local")


async def test_a_style_in_use_cannot_be_deleted(studio: Studio) -> None:
    await _production(studio)
    with pytest.raises(Conflict, match="default style of Mario Galaxy"):
        await studio.styles.delete("noob-vpred", "local")
    await studio.styles.delete("counterfeit", "local")
    assert [s.name for s in await studio.styles.list()] == ["noob-vpred"]


async def test_characters_have_unique_slugs_per_project_and_soft_delete(studio: Studio) -> None:
    project_id, koopa_id, _ = await _production(studio)
    with pytest.raises(Conflict, match="same slug"):
        await studio.characters.create(project_id, KOOPA.model_copy(update={"name": "koopa king"}), "local")
    await studio.characters.delete(koopa_id, "local")
    assert [c.character.name for c in await studio.characters.cards(project_id)] == ["Princess Peach"]
    deleted = await studio.characters.cards(project_id, include_deleted=True)
    assert {c.character.name for c in deleted} == {"Koopa King", "Princess Peach"}
    await studio.characters.update(koopa_id, CharacterChanges(deleted=False), "local")
    cards = await studio.characters.cards(project_id, species="turtle")
    assert [(c.character.name, c.non_human) for c in cards] == [("Koopa King", True)]


async def test_reference_images_are_validated_and_stored_by_content(studio: Studio) -> None:
    _, koopa_id, _ = await _production(studio)
    reference = await studio.characters.add_reference(koopa_id, png(), "../../etc/koopa.png", "local")
    assert (reference.width, reference.height, reference.media_type) == (64, 96, "image/png")
    assert reference.original_name == "koopa.png"
    stored = studio.media.path_of(reference.file_path)
    assert stored.read_bytes() == png() and stored.is_relative_to(studio.settings.data_dir)
    with pytest.raises(Conflict, match="already has this reference"):
        await studio.characters.add_reference(koopa_id, png(), "again.png", "local")
    with pytest.raises(Invalid, match="not a readable image"):
        await studio.characters.add_reference(koopa_id, b"<html>not an image</html>", "x.png", "local")
    with pytest.raises(Invalid, match="not a readable image"):
        await studio.characters.add_reference(koopa_id, noisy_png()[:20_000], "truncated.png", "local")
    await studio.characters.remove_reference(reference.id, "local")  # type: ignore[arg-type]
    assert not stored.exists()
    assert await studio.characters.references(koopa_id) == []


async def test_prompt_preview_uses_the_project_style_and_explains_itself(studio: Studio) -> None:
    project_id, koopa_id, peach_id = await _production(studio)
    await studio.projects.save_world(project_id, WorldDraft(negative_prompt_guidance="photo"), "local")
    plan = await studio.characters.prompt_preview(koopa_id)
    assert plan.profile.name == "NoobAI-XL v-pred" and plan.prompt_format == "booru_tags"
    assert plan.non_human and [r.name for r in plan.species_rules] == ["turtle"]
    assert "neon-noir" not in plan.positive  # a style tag booru models do not get
    for negative in ("human", "human face", "human skin", "realistic person", "cute", "photo"):
        assert negative in [t.strip() for t in plan.negative.split(",")]
    assert plan.params.prediction_type == "v_prediction"
    assert plan.verification_questions
    prose = await studio.characters.prompt_preview(peach_id, "counterfeit")
    assert prose.prompt_format == "prose" and "a princess in a pink gown" in prose.positive
    assert not prose.non_human and "human face" not in prose.negative
    # The stored design prompt is never changed by translation.
    assert (await studio.characters.get(koopa_id)).design_prompt == KOOPA.design_prompt
    with pytest.raises(NotFound):
        await studio.characters.prompt_preview(koopa_id, "no-such-style")


async def test_users_extend_the_prompt_library(studio: Studio) -> None:
    project_id, _, _ = await _production(studio)
    assert "turtle" in [r.name for r in await studio.library.rules()]
    await studio.library.save_rule(
        SpeciesRuleDraft(
            name="slime",
            keywords=["slime"],
            negatives=["human hands"],
            verification_question="Is it a round blob of slime?",
        ),
        "local",
    )
    goo = await studio.characters.create(
        project_id,
        KOOPA.model_copy(
            update={
                "name": "Goo",
                "appearance_data": KOOPA.appearance_data.model_copy(update={"species": "blue slime"}),
            }
        ),
        "local",
    )
    plan = await studio.characters.prompt_preview(goo.id)  # type: ignore[arg-type]
    assert "human hands" in plan.negative and plan.verification_questions == ("Is it a round blob of slime?",)
    with pytest.raises(Conflict, match="built in"):
        await studio.library.delete_rule("turtle", "local")
    await studio.library.save_profile(
        ProfileDraft(
            name="My Mix",
            match=["mymix"],
            priority=1,
            architecture="sdxl",
            prompt_format="booru_tags",
            quality_prefix="best_quality",
            min_side=512,
            max_side=2048,
        ),
        "local",
    )
    await studio.styles.create(
        StyleDraft(name="mine", checkpoint_model="MyMix_v2.safetensors", width=1024, height=1024), "local"
    )
    plan = await studio.characters.prompt_preview(goo.id, "mine")  # type: ignore[arg-type]
    assert plan.profile.name == "My Mix" and plan.positive.startswith("best_quality")
    turtle = next(r for r in await studio.library.rules() if r.name == "turtle")
    await studio.library.save_rule(SpeciesRuleDraft(name="turtle", keywords=["tortoise"]), "local")
    await studio.library.reset_builtin("species_rule", "turtle", "local")
    assert next(r for r in await studio.library.rules() if r.name == "turtle").keywords == turtle.keywords


async def test_profiles_are_seeded_on_first_use_and_a_missing_catch_all_is_a_clear_error(settings: Settings) -> None:
    studio = Studio.build(settings)
    studio.migrate()  # not started: a request can arrive before start-up has seeded the built-ins
    try:
        profiles = await studio.library.model_profiles()
        assert any(p.name == "Default" and p.is_catch_all for p in profiles)
        await studio.library.save_profile(ProfileDraft(name="Default", match=["only-this"], priority=1000), "aiko")
        with pytest.raises(Invalid, match="no model profile is a catch-all"):
            await studio.styles.check(COUNTERFEIT)
    finally:
        await studio.stop()
