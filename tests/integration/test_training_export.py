"""The kohya-format training-set export on SQLite and PostgreSQL: the folder and its TOML read back with tomllib,
captions equal to the caption writer's, only approved images, the zip download, and clear refusals."""

from __future__ import annotations

import io
import tomllib
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from services.bible.schemas import CharacterDraft, ProjectDraft, StyleDraft
from services.errors import Invalid, NotFound
from services.partial_files import TEMP_FOLDER
from services.tags import MachineTag
from services.training import TrainingSet
from studio.models import ApprovalState, Character, DatasetImage, TagCategory, TagSource
from studio.root import Studio
from tests.bible_helpers import KOOPA, PEACH, png
from tests.integration.test_api import guarded_api

SDXL = StyleDraft(name="noob", checkpoint_model="noobaiXL_v10.safetensors")
SD15 = StyleDraft(name="counterfeit", checkpoint_model="Counterfeit-V3.0.safetensors")
PROSE = StyleDraft(name="real", checkpoint_model="cyberrealistic_v4.safetensors")
LOOPBACK = ("127.0.0.1", 40000)


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 64), (200, 80, 90)).save(buffer, "JPEG")
    return buffer.getvalue()


async def cast(studio: Studio, draft: CharacterDraft, style: StyleDraft | None = SDXL) -> Character:
    if style is not None:
        await studio.styles.create(style, "test")
    project = await studio.projects.create(
        ProjectDraft(name=f"Castle {uuid.uuid4().hex[:6]}", default_style=style.name if style else None), "test"
    )
    return await studio.characters.create(project.id, draft, "test")  # type: ignore[arg-type]


async def add_images(
    studio: Studio,
    character: Character,
    count: int,
    state: ApprovalState = ApprovalState.APPROVED,
    fmt: str = "png",
    provenance: dict[str, str] | None = None,
) -> list[int]:
    """Image rows with real files in the media store, each tagged so its caption is more than the fallback."""
    rows = []
    for _ in range(count):
        data = png(color=(len(rows) * 40 % 255, 90, 30)) if fmt == "png" else jpeg()
        relative = await studio.media.write(f"images/{uuid.uuid4().hex}.{fmt}", data)
        rows.append(
            DatasetImage(
                project_id=character.project_id,
                character_id=character.id,
                file_path=relative,
                content_hash=uuid.uuid4().hex,
                width=64,
                height=96,
                approval_state=state,
                provenance=provenance or {},
            )
        )
    async with studio.db.session() as session:
        session.add_all(rows)
        await session.flush()
        ids: list[int] = [row.id for row in rows]  # type: ignore[misc]
    for image_id in ids:
        tags = [
            MachineTag("smile", 0.7),
            MachineTag(f"look {image_id}", 0.9),
            MachineTag("general", 0.9, TagCategory.RATING),
        ]
        await studio.tags.set_machine_tags(image_id, TagSource.TAGGER, tags)
    return ids


@pytest.fixture
async def api(studio: Studio) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=guarded_api(studio), client=LOOPBACK)
    async with httpx.AsyncClient(transport=transport, base_url="http://studio/api") as client:
        yield client


def tree(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones too) by its relative path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


async def file_of(studio: Studio, image_id: int) -> str:
    async with studio.db.session() as session:
        image = await session.get(DatasetImage, image_id)
        assert image is not None
        return image.file_path


def remove_file(studio: Studio, relative: str) -> None:
    studio.media.path_of(relative).unlink()


async def test_the_folder_and_its_toml_read_back_as_kohya_reads_them(studio: Studio, tmp_path: Path) -> None:
    studio.settings.training_min_images = 3
    peach = await cast(studio, PEACH)
    assert peach.id is not None
    await studio.tags.set_trigger(peach.id, "pch", "mira")
    approved = [*await add_images(studio, peach, 2), *await add_images(studio, peach, 1, fmt="jpg")]
    # A prose caption on two lines: kohya reads a caption file's first line only, so the export joins them.
    await studio.styles.create(PROSE, "test")
    (prose,) = await add_images(studio, peach, 1, provenance={"style": PROSE.name})
    await studio.tags.set_machine_tags(prose, TagSource.LLM, [], caption="A princess\nin a pink gown")
    approved.append(prose)
    await add_images(studio, peach, 1, ApprovalState.PENDING)
    await add_images(studio, peach, 1, ApprovalState.REJECTED)

    sets = tmp_path / "sets"
    written = await studio.training_export.write_folder(peach.id, sets / "peach", repeats=4)

    files = tree(sets)
    config = tomllib.loads(files["peach/dataset.toml"].decode())
    assert config["general"] == {"caption_extension": ".txt", "shuffle_caption": True, "keep_tokens": 1}
    (dataset,) = config["datasets"]
    assert dataset["resolution"] == 1024 and dataset["enable_bucket"] is True  # NoobAI is SDXL
    (subset,) = dataset["subsets"]
    assert subset["num_repeats"] == 4 and subset["class_tokens"] == "pch 1girl"
    assert subset["image_dir"] == str(sets.resolve() / "peach" / "4_pch 1girl")  # absolute: trainers start anywhere
    folder = "peach/4_pch 1girl"
    # Only the approved images, each named by its id in its own format, each with its caption.
    names = [f"{i}.png" for i in (*approved[:2], prose)] + [f"{approved[2]}.jpg"] + [f"{i}.txt" for i in approved]
    assert sorted(files) == sorted(["peach/dataset.toml", *(f"{folder}/{name}" for name in names)])
    for image_id in approved:
        caption = files[f"{folder}/{image_id}.txt"].decode("utf-8")
        assert caption and caption == " ".join((await studio.captions.preview(image_id)).text.split())
        assert caption.startswith("pch, ")  # the trigger first: keep_tokens = 1 pins it
    assert files[f"{folder}/{prose}.txt"].decode() == "pch, A princess in a pink gown"
    with Image.open(io.BytesIO(files[f"{folder}/{approved[2]}.jpg"])) as picture:
        assert picture.format == "JPEG"  # the original format is kept
    assert written.images[0].caption == files[f"{folder}/{approved[0]}.txt"].decode()

    # Exporting again replaces the earlier set whole and leaves no temp folder beside it.
    await studio.training_export.write_folder(peach.id, sets / "peach")
    assert {name.rsplit("/", 1)[0] for name in tree(sets)} == {"peach", "peach/10_pch 1girl"}  # default repeats


async def test_a_creature_on_sd15_gets_its_species_and_the_slug_as_trigger(studio: Studio, tmp_path: Path) -> None:
    studio.settings.training_min_images = 2
    koopa = await cast(studio, KOOPA, SD15)
    assert koopa.id is not None
    ids = await add_images(studio, koopa, 2)
    training_set = await studio.training_export.write_folder(koopa.id, tmp_path / "koopa")
    files = tree(tmp_path / "koopa")
    config = tomllib.loads(files["dataset.toml"].decode())
    assert config["datasets"][0]["resolution"] == 512  # Counterfeit is SD1.5
    # No trigger word: the slug names the set; a species rule names the creature.
    assert config["datasets"][0]["subsets"][0]["class_tokens"] == "koopa_king turtle"
    assert training_set.subset == "10_koopa_king turtle"
    assert [i.image_id for i in training_set.images] == ids
    # Without a trigger word the slug leads every caption too, as it names the folder.
    assert files[f"10_koopa_king turtle/{ids[0]}.txt"].decode().startswith("koopa_king, look ")


async def test_refusals_say_what_to_fix_and_leave_the_earlier_set(studio: Studio, tmp_path: Path) -> None:
    studio.settings.training_min_images = 3
    peach = await cast(studio, PEACH)
    assert peach.id is not None
    ids = await add_images(studio, peach, 2)
    await add_images(studio, peach, 4, ApprovalState.PENDING)
    with pytest.raises(Invalid, match="has 2 approved images; a training set needs at least 3") as refused:
        await studio.training_export.training_set(peach.id)
    assert refused.value.field == "images"

    ids += await add_images(studio, peach, 1)
    sets = tmp_path / "sets"
    await studio.training_export.write_folder(peach.id, sets / "peach")
    before = tree(sets)
    # A file gone from the data folder: refused, nothing half written, the earlier export untouched.
    remove_file(studio, await file_of(studio, ids[1]))
    with pytest.raises(Invalid, match=f"approved images {ids[1]} are missing"):
        await studio.training_export.write_folder(peach.id, sets / "peach", repeats=3)
    assert tree(sets) == before

    with pytest.raises(Invalid, match="repeats must be between 1 and 1000"):
        await studio.training_export.training_set(peach.id, repeats=0)
    loner = await cast(studio, PEACH, style=None)
    assert loner.id is not None
    await add_images(studio, loner, 3)
    with pytest.raises(Invalid, match=r"has no default style.*1024 for SDXL"):
        await studio.training_export.training_set(loner.id)
    await studio.characters.delete(peach.id, "mira")
    with pytest.raises(NotFound, match="is deleted; restore it"):
        await studio.training_export.training_set(peach.id)


async def test_the_zip_download(studio: Studio, api: httpx.AsyncClient) -> None:
    studio.settings.training_min_images = 2
    peach = await cast(studio, PEACH)
    assert peach.id is not None
    approved = await add_images(studio, peach, 2)
    rejected = await add_images(studio, peach, 1, ApprovalState.REJECTED)

    response = await api.get(f"/characters/{peach.id}/training-set.zip", params={"repeats": 3})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="princess_peach-training-set.zip"' in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        root, subset = "princess_peach-training-set", "princess_peach-training-set/3_princess_peach 1girl"
        assert sorted(archive.namelist()) == sorted(
            [f"{root}/dataset.toml"] + [f"{subset}/{i}.{ext}" for i in approved for ext in ("png", "txt")]
        )
        config = tomllib.loads(archive.read(f"{root}/dataset.toml").decode())
        assert config["general"]["caption_extension"] == ".txt"
        assert config["datasets"][0]["subsets"][0]["image_dir"] == "3_princess_peach 1girl"
        for image_id in approved:
            assert archive.read(f"{subset}/{image_id}.txt").decode() == (await studio.captions.preview(image_id)).text
            assert archive.read(f"{subset}/{image_id}.png") == await studio.media.read(await file_of(studio, image_id))
        assert not [name for name in archive.namelist() if f"/{rejected[0]}." in name]
    # The zip was streamed from a temp file, removed once sent.
    assert tree(studio.settings.data_dir / TEMP_FOLDER) == {}

    studio.settings.training_min_images = 5
    refused = await api.get(f"/characters/{peach.id}/training-set.zip")
    assert refused.status_code == 422
    assert "has 2 approved images; a training set needs at least 5" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "images"
    assert (await api.get(f"/characters/{peach.id}/training-set.zip?repeats=0")).status_code == 422
    missing = await api.get("/characters/999999/training-set.zip")
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]

    operation = (await api.get("/openapi.json")).json()["paths"]["/characters/{character_id}/training-set.zip"]["get"]
    assert {"200", "404", "422"} <= set(operation["responses"])
    assert "application/zip" in operation["responses"]["200"]["content"]


def test_a_trigger_word_of_any_characters_makes_a_safe_folder_and_valid_toml() -> None:
    training_set = TrainingSet(
        character_id=1,
        slug="miku",
        trigger='ミク/"v2"\\x\x7f',
        class_token="1girl",
        repeats=5,
        resolution=1024,
        architecture="sdxl",
        images=(),
    )
    assert training_set.subset == "5_ミク__v2__x\x7f 1girl"
    assert "/" not in training_set.subset and "\\" not in training_set.subset
    subset = tomllib.loads(training_set.toml(training_set.subset))["datasets"][0]["subsets"][0]
    assert subset["class_tokens"] == 'ミク/"v2"\\x\x7f 1girl'  # the TOML keeps the trigger exactly
    assert subset["image_dir"] == training_set.subset
