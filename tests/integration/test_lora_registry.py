"""Registered character LoRAs on SQLite and PostgreSQL: the migration of the old `lora_path`, register, switch,
unregister, delete with Undo, a family that cannot load refused, and generation, the prompt preview and the
engine selector using the active LoRA (the graph validated against ComfyUI's node specs)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from safetensors.numpy import save_file
from sqlmodel import col, select

from services.errors import Invalid, NotFound
from services.generation import ImageBatchDraft, LoraChoice
from services.training import read_metadata
from studio import migrate
from studio.config import DeviceSettings, Settings
from studio.models import AuditRecord, CharacterLora, DatasetImage, JobState, Shot
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA
from tests.fakes import FakeComfyUI
from workflows import ImageRequest, LoraRef, build_image_workflow, load_catalog, validate_graph

LORA = "koopa_v2-000008.safetensors"
MODELS = {"checkpoints": [COUNTERFEIT.checkpoint_model], "loras": [LORA, "koopa_v1.safetensors"]}


@pytest.fixture
def comfy() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.01) as fake:
        fake.models = {**fake.models, **{k: list(v) for k, v in MODELS.items()}}
        yield fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str, comfy: FakeComfyUI) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        devices=[DeviceSettings(name="gpu1", comfyui_url=comfy.url)],
        job_claim_poll_seconds=0.2,
    )


async def koopa(studio: Studio) -> int:
    """Koopa in a project drawn with an SD 1.5 style."""
    if not any(s.name == COUNTERFEIT.name for s in await studio.styles.list()):
        await studio.styles.create(COUNTERFEIT, "aiko")
    project = await studio.projects.create(
        GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}", "default_style": COUNTERFEIT.name}), "aiko"
    )
    character = await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]
    return character.id  # type: ignore[return-value]


async def test_register_switch_unregister_delete_and_undo(studio: Studio) -> None:
    cid = await koopa(studio)
    first = await studio.loras.register(cid, "koopa_v1.safetensors", family="sd15", trigger_word="kpa", actor="aiko")
    assert first.missing_on == () and first.warning == ""
    second = await studio.loras.register(
        cid, LORA, family="sd15", trigger_word="koopa_king", weight=0.7, epoch=8, family_label="", actor="aiko"
    )
    assert (await studio.loras.active(cid)).id == second.lora.id  # type: ignore[union-attr]
    listed = await studio.loras.list(cid)
    assert [(lora.file_name, lora.active) for lora in listed] == [(LORA, True), ("koopa_v1.safetensors", False)]

    switched = await studio.loras.activate(cid, first.lora.id, "aiko")  # type: ignore[arg-type]
    assert switched.active
    assert (await studio.loras.active(cid)).file_name == "koopa_v1.safetensors"  # type: ignore[union-attr]
    assert {lora.file_name for lora in await studio.loras.list(cid) if lora.active} == {"koopa_v1.safetensors"}

    previous = await studio.loras.deactivate(cid, "aiko")
    assert previous is not None and previous.id == first.lora.id
    assert await studio.loras.active(cid) is None
    assert await studio.loras.deactivate(cid, "aiko") is None

    await studio.loras.activate(cid, second.lora.id, "aiko")  # type: ignore[arg-type]
    await studio.loras.delete(cid, second.lora.id, "aiko")  # type: ignore[arg-type]
    assert await studio.loras.active(cid) is None, "a deleted LoRA is never loaded"
    assert [lora.file_name for lora in await studio.loras.list(cid)] == ["koopa_v1.safetensors"]
    with pytest.raises(Invalid, match="deleted; restore it"):
        await studio.loras.activate(cid, second.lora.id, "aiko")  # type: ignore[arg-type]
    await studio.loras.restore(cid, second.lora.id, "aiko")  # type: ignore[arg-type]
    assert (await studio.loras.active(cid)).id == second.lora.id, "Undo brings it back active"  # type: ignore[union-attr]

    async with studio.db.session() as session:
        events = (
            await session.exec(
                select(AuditRecord).where(AuditRecord.event == "character_lora.changed").order_by(col(AuditRecord.id))
            )
        ).all()
    assert [e.data["change"] for e in events] == [
        "registered",
        "registered",
        "activated",
        "deactivated",
        "activated",
        "deleted",
        "restored",
    ]
    assert events[0].summary == f"aiko registered LoRA koopa_v1.safetensors of {KOOPA.name}"


async def test_bad_registrations_are_refused_with_a_reason(studio: Studio, comfy: FakeComfyUI) -> None:
    cid = await koopa(studio)
    with pytest.raises(Invalid, match=r"an SDXL LoRA cannot load on SD 1\.5") as refused:
        await studio.loras.register(cid, LORA, family="sdxl", trigger_word="kpa", actor="aiko")
    assert "counterfeit" in str(refused.value)
    for name in ("../etc/passwd", "/abs/koopa.safetensors", " "):
        with pytest.raises(Invalid, match="file_name"):
            await studio.loras.register(cid, name, family="sd15", trigger_word="kpa", actor="aiko")
    with pytest.raises(Invalid, match="weight"):
        await studio.loras.register(cid, LORA, family="sd15", trigger_word="kpa", weight=2.5, actor="aiko")
    with pytest.raises(NotFound):
        await studio.loras.register(999_999, LORA, family="sd15", trigger_word="kpa", actor="aiko")
    assert await studio.loras.list(cid) == []

    # A file the device does not list is registered, with a warning naming the device.
    missing = await studio.loras.register(cid, "koopa_v9.safetensors", family="sd15", trigger_word="k", actor="aiko")
    assert missing.missing_on == ("gpu1",)
    assert "gpu1 does not list koopa_v9.safetensors" in missing.warning


async def test_generation_loads_the_active_lora_with_its_trigger_word_first(studio: Studio, comfy: FakeComfyUI) -> None:
    cid = await koopa(studio)
    await studio.loras.register(cid, LORA, family="sd15", trigger_word="koopa_king", weight=0.7, epoch=8, actor="aiko")

    plan = await studio.characters.prompt_preview(cid)
    assert plan.positive.startswith("koopa_king, ")
    [chosen] = plan.explained("lora")
    assert (chosen.action, chosen.text) == ("chosen", LORA)
    assert chosen.because == f"registered LoRA of {KOOPA.name}, epoch 8, weight 0.7"
    assert (
        plan.explained("positive", "added")[0].because
        == f"trigger word of the registered LoRA of {KOOPA.name}, epoch 8"
    )

    [plain] = await studio.images.generate(cid, ImageBatchDraft(count=1, use_reference=False), "aiko")
    assert list(plain.payload["request"]["loras"]) == [{"name": LORA, "strength_model": 0.7, "strength_clip": 0.7}]

    # The batch names the registered file too: it is loaded once, at the strength the batch asks for.
    draft = ImageBatchDraft(count=1, use_reference=False, loras=[LoraChoice(name=LORA, strength=1.5)])
    [job] = await studio.images.generate(cid, draft, "aiko")
    fields = dict(job.payload["request"])
    assert fields["positive"].startswith("koopa_king, ")
    assert list(fields["loras"]) == [{"name": LORA, "strength_model": 1.5, "strength_clip": 1.5}]
    fields["loras"] = tuple(LoraRef(**lora) for lora in fields["loras"])
    graph = build_image_workflow(ImageRequest(**fields))
    assert validate_graph(graph, load_catalog(), models=comfy.models) == []
    [loader] = [node for node in graph.values() if node["class_type"] == "LoraLoader"]
    assert loader["inputs"]["lora_name"] == LORA and loader["inputs"]["strength_model"] == 1.5

    for _ in range(200):  # the fake ComfyUI validates the graph against the same node specs when queued
        done = await studio.jobs.get(job.id)  # type: ignore[arg-type]
        if done.state not in (JobState.QUEUED, JobState.RUNNING):
            break
        await asyncio.sleep(0.05)
    assert done.state == JobState.SUCCEEDED, done.error


async def test_a_lora_that_does_not_fit_a_chosen_style_is_skipped_and_explained(studio: Studio) -> None:
    cid = await koopa(studio)
    await studio.loras.register(cid, LORA, family="sd15", trigger_word="koopa_king", actor="aiko")
    xl = COUNTERFEIT.model_copy(update={"name": "xl", "checkpoint_model": "sd_xl_base_1.0.safetensors"})
    await studio.styles.create(xl, "aiko")
    plan = await studio.characters.prompt_preview(cid, "xl")
    assert plan.loras == ()
    assert "koopa_king" not in plan.positive
    [skipped] = plan.explained("lora", "skipped")
    assert "is an sd15 LoRA; style xl draws with sdxl" in skipped.because


async def test_the_engine_selector_receives_the_present_characters_lora(studio: Studio) -> None:
    cid = await koopa(studio)
    shot = Shot(scene_id=uuid.uuid4(), shot_number=1, shot_type="medium", characters_present=[cid])
    _engine, reason = await studio.engine_proposal(shot)
    assert "LoRA" not in reason
    await studio.loras.register(cid, LORA, family="sd15", trigger_word="koopa_king", actor="aiko")
    _engine, reason = await studio.engine_proposal(shot)
    assert f"the character LoRA {LORA} is an SD image LoRA" in reason


async def test_an_old_lora_path_becomes_an_active_registered_lora(studio: Studio) -> None:
    cid = await koopa(studio)
    project_id = (await studio.characters.get(cid)).project_id
    image = DatasetImage(
        project_id=project_id, character_id=cid, file_path="i.png", content_hash="h", width=8, height=8
    )
    async with studio.db.session() as session:
        session.add(image)
    config = migrate.alembic_config()
    with studio.db.sync_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    with studio.db.sync_engine.begin() as conn:
        assert "character_loras" not in sa.inspect(conn).get_table_names()
        conn.execute(
            sa.text("UPDATE characters SET lora_path = :path, trigger_word = 'kpa' WHERE id = :id"),
            {"path": "/opt/ComfyUI/models/loras/koopa_v3.safetensors", "id": cid},
        )
    assert migrate.upgrade(studio.db) == migrate.head_revision()
    assert "lora_path" not in {c["name"] for c in sa.inspect(studio.db.sync_engine).get_columns("characters")}
    lora = await studio.loras.active(cid)
    assert lora is not None
    assert (lora.file_name, lora.family, lora.trigger_word, lora.weight) == ("koopa_v3.safetensors", "sd15", "kpa", 0.8)
    # Dropping the column did not rebuild the characters table (which would cascade-delete their images).
    assert [kept.character_id for kept in await studio.images.images([image.id])] == [cid]  # type: ignore[list-item]

    # And back: the downgrade puts the active LoRA's file into lora_path again.
    with studio.db.sync_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0013")
    with studio.db.sync_engine.begin() as conn:
        path = conn.execute(sa.text("SELECT lora_path FROM characters WHERE id = :id"), {"id": cid}).scalar()
    assert path == "koopa_v3.safetensors"
    assert migrate.upgrade(studio.db) == migrate.head_revision()


async def test_two_registrations_at_once_leave_one_active_lora(two_studios: list[Studio]) -> None:
    one, two = two_studios
    cid = await koopa(one)
    results = await asyncio.gather(
        one.loras.register(cid, "a.safetensors", family="sd15", trigger_word="k", actor="a"),
        two.loras.register(cid, "b.safetensors", family="sd15", trigger_word="k", actor="b"),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) or "try again" in str(r) for r in results), results
    async with one.db.session() as session:
        rows = (await session.exec(select(CharacterLora).where(CharacterLora.character_id == cid))).all()
    assert sum(row.active for row in rows) == 1


def test_read_metadata_reads_the_header_and_names_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "koopa-000008.safetensors"
    weights = {"lora_unet_down.lora_up.weight": np.zeros((4, 4), dtype=np.float32)}
    save_file(weights, str(path), metadata={"ss_epoch": "8", "ss_network_dim": "16"})
    assert read_metadata(path) == {"ss_epoch": "8", "ss_network_dim": "16"}
    truncated = tmp_path / "koopa-cut.safetensors"
    truncated.write_bytes(path.read_bytes()[:20])
    with pytest.raises(Invalid, match=r"koopa-cut\.safetensors is not a readable safetensors"):
        read_metadata(truncated)
    with pytest.raises(Invalid, match=r"nothing\.safetensors does not exist"):
        read_metadata(tmp_path / "nothing.safetensors")
