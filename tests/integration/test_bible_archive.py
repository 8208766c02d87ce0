"""Export a production and import it into another, empty studio; refuse hostile archives."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.bible.schemas import StorylineDraft, WorldDraft
from services.errors import Invalid
from studio.config import Settings
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA, NOOB_VPRED, PEACH, chunks, noisy_png, png


@pytest.fixture
async def empty_studio(tmp_path: Path) -> AsyncIterator[Studio]:
    other = Studio.build(Settings(data_dir=tmp_path / "other-studio"))
    other.migrate()
    await other.start()
    yield other
    await other.stop()


async def _bible(studio: Studio) -> int:
    await studio.styles.create(NOOB_VPRED, "local")
    await studio.styles.create(COUNTERFEIT, "local")
    project = await studio.projects.create(GALAXY.model_copy(update={"default_style": "noob-vpred"}), "local")
    assert project.id is not None
    await studio.projects.save_storyline(project.id, StorylineDraft(summary="Stars fall", themes=["hope"]), "local")
    await studio.projects.save_world(project.id, WorldDraft(art_style="cel", color_palette={"sky": "navy"}), "local")
    koopa = await studio.characters.create(project.id, KOOPA, "local")
    await studio.characters.create(project.id, PEACH, "local")
    await studio.characters.add_reference(koopa.id, noisy_png(seed=1), "koopa-front.png", "local")  # type: ignore[arg-type]
    await studio.characters.add_reference(koopa.id, noisy_png(seed=2), "koopa-side.png", "local")  # type: ignore[arg-type]
    return project.id


def _comparable(archive: bytes) -> tuple[dict, dict[str, bytes]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        bible = json.loads(zipped.read("bible.json"))
        files = {n: zipped.read(n) for n in zipped.namelist() if n != "bible.json"}
    bible.pop("exported_at")
    return bible, files


async def test_export_then_import_into_an_empty_studio_reproduces_the_bible(
    studio: Studio, empty_studio: Studio
) -> None:
    project_id = await _bible(studio)
    name, archive = await studio.archives.export(project_id)
    assert name == "mario_galaxy.bible.zip"
    report = await empty_studio.archives.import_archive(chunks(archive), "aiko")
    assert report.renamed_from is None and sorted(report.styles_added) == ["counterfeit", "noob-vpred"]
    _, again = await empty_studio.archives.export(report.project.id)  # type: ignore[arg-type]
    assert _comparable(again) == _comparable(archive)
    # Same prompts in both studios: the bible, profiles and rules travelled together.
    koopa_here = next(c for c in await studio.characters.cards(project_id) if c.character.name == "Koopa King")
    koopa_there = next(
        c
        for c in await empty_studio.characters.cards(report.project.id)  # type: ignore[arg-type]
        if c.character.name == "Koopa King"
    )
    here = await studio.characters.prompt_preview(koopa_here.character.id)  # type: ignore[arg-type]
    there = await empty_studio.characters.prompt_preview(koopa_there.character.id)  # type: ignore[arg-type]
    assert (here.positive, here.negative) == (there.positive, there.negative)
    assert [r.width for r in koopa_there.references] == [128, 128]
    for reference in koopa_there.references:
        assert empty_studio.media.path_of(reference.file_path).read_bytes() in (noisy_png(seed=1), noisy_png(seed=2))


async def test_importing_into_the_same_studio_renames_the_project(studio: Studio) -> None:
    project_id = await _bible(studio)
    _, archive = await studio.archives.export(project_id)
    report = await studio.archives.import_archive(chunks(archive), "local")
    assert report.project.name == "Mario Galaxy (imported)" and report.renamed_from == "Mario Galaxy"
    assert report.styles_added == [] and report.styles_kept == []


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zipped:
        for name, data in entries.items():
            zipped.writestr(name, data)
    return buffer.getvalue()


async def _valid_bible(studio: Studio) -> tuple[dict, dict[str, bytes]]:
    project_id = await _bible(studio)
    _, archive = await studio.archives.export(project_id)
    bible, files = _comparable(archive)
    bible["project"]["name"] = "Hostile"
    return bible, files


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b, f: (b, {**f, "../../evil.sh": b"#!/bin/sh"}), "unexpected file"),
        (lambda b, f: (b, {**f, "/etc/passwd": b"x"}), "unexpected file"),
        (lambda b, f: ({**b, "format": "something-else"}, f), "not a studio bible"),
        (lambda b, f: ({**b, "version": 99}, f), "version 99"),
        (lambda b, f: ({**b, "project": {**b["project"], "frame_width": 99999}}, f), "archive.project.frame_width"),
        (lambda b, f: (b, {k: v[:5000] for k, v in f.items()}), "not a readable image"),
        (lambda b, f: (b, {next(iter(f)): png()}), "missing from the archive"),
    ],
)
async def test_hostile_or_broken_archives_are_refused_and_write_nothing(
    studio: Studio,
    mutate,
    message: str,
) -> None:
    bible, files = mutate(*await _valid_bible(studio))
    before = [s.project.name for s in await studio.projects.list(include_archived=True)]
    with pytest.raises(Invalid, match=message.replace("(", r"\(")):
        await studio.archives.import_archive(chunks(_zip({"bible.json": json.dumps(bible).encode(), **files})), "local")
    assert [s.project.name for s in await studio.projects.list(include_archived=True)] == before


async def test_a_zip_bomb_and_a_non_zip_are_refused(studio: Studio) -> None:
    bomb = _zip({"bible.json": b"{" + b" " * 50_000_000 + b"}"}, zipfile.ZIP_DEFLATED)
    assert len(bomb) < 200_000
    with pytest.raises(Invalid, match="zip bomb"):
        await studio.archives.import_archive(chunks(bomb), "local")
    with pytest.raises(Invalid, match="not a zip archive"):
        await studio.archives.import_archive(chunks(png()), "local")
