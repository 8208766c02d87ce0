"""Triage's smallest side follows the model profile of the images' style, so a valid small style is not rejected
wholesale; the `triage_min_side` setting still overrides it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.bible.schemas import StyleDraft
from services.datasets import NewImage
from studio.config import Settings
from studio.models import Character
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.dataset_helpers import drawing

# A valid SD 1.5 style at 256 x 384 px (the DreamShaper profile allows sides from 256 px).
TINY = StyleDraft(name="tiny", checkpoint_model="dreamshaper_8.safetensors", width=256, height=384)
NOOB = StyleDraft(name="noob", checkpoint_model="noobaiXLVpred_v10.safetensors", width=832, height=1216)


async def _studio(tmp_path: Path, **settings: int) -> Studio:
    studio = Studio.build(Settings(data_dir=tmp_path / "data", **settings))  # type: ignore[arg-type]
    studio.migrate()
    await studio.start()
    return studio


@pytest.fixture
async def studio(tmp_path: Path) -> AsyncIterator[Studio]:
    built = await _studio(tmp_path)
    yield built
    await built.stop()


async def _character_in_style(studio: Studio, style: StyleDraft) -> Character:
    await studio.styles.create(style, "aiko")
    project = await studio.projects.create(
        GALAXY.model_copy(update={"name": f"{style.name} project", "default_style": style.name}), "aiko"
    )
    return await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]


async def _rejected_as_small(studio: Studio, character: Character, size: tuple[int, int], **new: object) -> list[str]:
    added = await studio.dataset_store.add(character, NewImage(drawing(size[0] + size[1], size), "upload", **new), "a")
    await studio.curation.admit([added], "aiko")
    image = await studio.images.image(added.image.id)  # type: ignore[arg-type]
    return [reason for reason in image.triage["failures"] if reason.startswith("shorter side")]


async def test_the_images_of_a_256_by_384_style_pass_and_smaller_ones_do_not(studio: Studio) -> None:
    koopa = await _character_in_style(studio, TINY)
    assert await _rejected_as_small(studio, koopa, (256, 384)) == []
    assert await _rejected_as_small(studio, koopa, (200, 300)) == [
        "shorter side 200 px is below 256 px (the min_side of model profile DreamShaper; set triage_min_side to "
        "override)"
    ]


async def test_an_sdxl_project_still_wants_512_px_unless_the_image_was_made_with_a_smaller_profile(
    studio: Studio,
) -> None:
    koopa = await _character_in_style(studio, NOOB)
    assert await _rejected_as_small(studio, koopa, (384, 384)) == [
        "shorter side 384 px is below 512 px (the min_side of model profile NoobAI-XL v-pred; set triage_min_side "
        "to override)"
    ]
    # Generated with an SD 1.5 style in this SDXL project: judged by the profile it was made with.
    generated = {"provenance": {"profile": "DreamShaper"}}
    assert await _rejected_as_small(studio, koopa, (256, 320), **generated) == []


async def test_the_setting_overrides_the_profile(tmp_path: Path) -> None:
    studio = await _studio(tmp_path, triage_min_side=512)
    try:
        koopa = await _character_in_style(studio, TINY)
        assert await _rejected_as_small(studio, koopa, (256, 384)) == [
            "shorter side 256 px is below 512 px (triage_min_side)"
        ]
    finally:
        await studio.stop()
