"""Tagging jobs end to end through the real job queue and workers: from prompts, by the (tiny) ONNX tagger, by
ComfyUI's tagger node on the fake ComfyUI, by the vision LLM on the fake Ollama; refusals, failures and cancel."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from services.comfyui import ComfyClient
from services.datasets import NewImage
from services.datasets.store import GENERATED_SOURCE
from services.errors import BackendUnavailable, Invalid, NotFound
from services.tags import BulkEdit, normalise_tag
from services.tags.taggers import COMFY_TAG_JOB, WD14_NODE
from services.tags.taggers.comfy_wd14 import node_tags, tagging_graph
from services.tags.taggers.onnx_wd14 import TaggerThresholds
from services.tags.tagging import TAG_JOB
from studio.config import DeviceSettings, Settings
from studio.models import Character, Job, JobState, TagSource
from studio.root import Studio
from tests.bible_helpers import GALAXY, KOOPA
from tests.fakes import FakeComfyUI, FakeOllama
from tests.integration.test_api import guarded_api
from tests.integration.test_comfy_worker import _until
from tests.tiny_tagger import BLUE_TAGS, RED_TAGS, SIZE, build_model, tagger_folder, write_csv

TRIGGER = "kpa"


def picture(colour: tuple[int, int, int], side: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def comfyui() -> Iterator[FakeComfyUI]:
    with FakeComfyUI(job_seconds=0.02) as fake:
        yield fake


@pytest.fixture(scope="module")
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama() as fake:
        yield fake


@pytest.fixture(scope="module")
def tiny_tagger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tagger_folder(tmp_path_factory.mktemp("tagger"))


@pytest.fixture
async def studio(
    tmp_path: Path, database_url: str, comfyui: FakeComfyUI, ollama: FakeOllama, tiny_tagger: Path
) -> AsyncIterator[Studio]:
    comfyui.reset()
    ollama.reset()
    built = Studio.build(
        Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            devices=[DeviceSettings(name="gpu1", comfyui_url=comfyui.url, llm_url=ollama.url)],
            tagger_model_dir=tiny_tagger,
            job_claim_poll_seconds=0.5,
        )
    )
    built.migrate()
    await built.start()
    yield built
    await built.stop()


async def koopa(studio: Studio) -> Character:
    project = await studio.projects.create(GALAXY.model_copy(update={"name": f"G {uuid.uuid4().hex[:6]}"}), "aiko")
    character = await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]
    await studio.tags.set_trigger(character.id, TRIGGER, "aiko")  # type: ignore[arg-type]
    return await studio.characters.get(character.id)  # type: ignore[arg-type]


async def add(studio: Studio, character: Character, data: bytes, provenance: dict[str, Any] | None = None) -> int:
    source = GENERATED_SOURCE if provenance else "upload"
    new = NewImage(data, source, f"test {uuid.uuid4().hex[:6]}", provenance or {})
    return (await studio.dataset_store.add(character, new, "aiko")).image.id  # type: ignore[return-value]


async def finished(studio: Studio, jobs: list[Job], within: float = 30.0) -> list[Job]:
    async def done() -> bool:
        states = [(await studio.jobs.get(j.id)).state for j in jobs]  # type: ignore[arg-type]
        return all(state not in (JobState.QUEUED, JobState.RUNNING) for state in states)

    await _until(done, within, "the tagging jobs")
    return [await studio.jobs.get(j.id) for j in jobs]  # type: ignore[arg-type]


async def succeeded(studio: Studio, jobs: list[Job]) -> list[dict[str, Any]]:
    done = await finished(studio, jobs)
    assert [j.state for j in done] == [JobState.SUCCEEDED] * len(done), [j.error for j in done]
    return [dict(j.result or {}) for j in done]


async def tag_names(studio: Studio, image_id: int) -> list[str]:
    return [tag.tag for tag in (await studio.tags.tags_of(image_id)).tags]


# --- the sources --------------------------------------------------------------------------------------


async def test_tags_from_prompts_drop_quality_tags_lora_calls_and_the_trigger(studio: Studio) -> None:
    character = await koopa(studio)
    profile = next(p for p in await studio.library.model_profiles() if p.quality_prefix)
    positive = f"{profile.quality_prefix}, {TRIGGER}, 1boy, (red shell:1.2), <lora:koopa_lora:0.8>, smiling"
    generated = [
        await add(studio, character, picture((200, 10, 10), side), {"positive": positive, "profile": profile.name})
        for side in (96, 97)
    ]
    imported = await add(studio, character, picture((10, 10, 200)))
    jobs = await studio.tagging.start(character.id, TagSource.PROMPT, None, "aiko")  # type: ignore[arg-type]
    [job] = jobs
    assert job.kind == TAG_JOB and job.project_id == character.project_id
    assert job.title == "Koopa King · tag 3 images from prompts"
    [result] = await succeeded(studio, jobs)
    assert result == {"tagged": 2, "skipped": 1, "failed": 0, "tags": 6, "failures": []}
    for image_id in generated:
        assert await tag_names(studio, image_id) == ["1boy", "red shell", "smiling"]
        assert (await studio.tags.tags_of(image_id)).tags[0].sources == ("prompt",)
    assert await tag_names(studio, imported) == []
    done = await studio.jobs.get(job.id)  # type: ignore[arg-type]
    assert done.progress == 1.0 and done.progress_message == "tagged 2 images with 6 tags; 1 skipped"


async def test_the_onnx_tagger_tags_by_what_it_sees(studio: Studio) -> None:
    character = await koopa(studio)
    red, blue = await add(studio, character, picture((255, 0, 0))), await add(studio, character, picture((0, 0, 255)))
    lost = await add(studio, character, picture((0, 255, 0)))
    [lost_image] = await studio.images.images([lost])
    studio.media.path_of(lost_image.file_path).unlink()  # its file is gone from the data folder
    jobs = await studio.tagging.start(character.id, "tagger", [red, lost, blue], "aiko")  # type: ignore[arg-type]
    assert jobs[0].title == "Koopa King · tag 3 images with the tagger model"
    [result] = await succeeded(studio, jobs)
    assert (result["tagged"], result["failed"], result["tags"]) == (2, 1, len(RED_TAGS) + len(BLUE_TAGS))
    assert result["failures"] == [{"image_id": lost, "reason": "the image file cannot be read (FileNotFoundError)"}]
    assert await tag_names(studio, red) == [normalise_tag(tag) for tag in RED_TAGS]
    assert await tag_names(studio, blue) == [normalise_tag(tag) for tag in BLUE_TAGS]
    tags = {tag.tag: tag for tag in (await studio.tags.tags_of(red)).tags}
    assert tags["koopa (mario)"].category == "character" and tags["sensitive"].category == "rating"
    assert tags["red theme"].confidence == pytest.approx(0.9975, abs=1e-3)
    # Re-tagging replaces the source's rows; a person's removal survives it.
    await studio.tags.put_tags(red, [t for t in await tag_names(studio, red) if t != "red theme"], None, "aiko")
    await succeeded(studio, await studio.tagging.start(character.id, "tagger", [red], "aiko"))  # type: ignore[arg-type]
    assert "red theme" not in await tag_names(studio, red)


async def test_comfyui_tagger_node_tags_on_the_device(studio: Studio, comfyui: FakeComfyUI) -> None:
    character = await koopa(studio)
    red, blue = await add(studio, character, picture((255, 0, 0))), await add(studio, character, picture((0, 0, 255)))
    jobs = await studio.tagging.start(character.id, TagSource.COMFYUI, None, "aiko")  # type: ignore[arg-type]
    assert [j.kind for j in jobs] == [COMFY_TAG_JOB] and jobs[0].device is None
    [result] = await succeeded(studio, jobs)
    assert result == {"tagged": 2, "skipped": 0, "failed": 0, "tags": 6, "failures": []}
    assert set(await tag_names(studio, red)) == {"koopa (mario)", "solo", "red theme"}
    assert set(await tag_names(studio, blue)) == {"hatsune miku", "solo", "blue theme"}
    [graph] = [entry["prompt"][2] for entry in comfyui.history.values()]
    tagger = graph[f"tag_{red}"]
    assert tagger["class_type"] == WD14_NODE and tagger["inputs"]["threshold"] == 0.35
    assert tagger["inputs"]["character_threshold"] == 0.85
    assert any(name.startswith("anime-studio/tag_") for name in comfyui.uploads)


async def test_comfyui_without_the_tagger_node_names_the_pack(studio: Studio, comfyui: FakeComfyUI) -> None:
    character = await koopa(studio)
    await add(studio, character, picture((255, 0, 0)))
    comfyui.missing_nodes = {WD14_NODE}
    with pytest.raises(BackendUnavailable) as refused:
        await studio.tagging.start(character.id, TagSource.COMFYUI, None, "aiko")  # type: ignore[arg-type]
    assert "install the ComfyUI-WD14-Tagger custom node pack (pythongosssss" in str(refused.value)
    state = {s.source: s for s in studio.tagging.sources()}[TagSource.COMFYUI]
    assert not state.available and "ComfyUI-WD14-Tagger" in state.reason
    comfyui.missing_nodes = set()
    state = {s.source: s for s in await studio.tagging.refresh_sources()}[TagSource.COMFYUI]
    assert state.available and "gpu1" in state.reason


async def test_the_vision_llm_writes_tags_and_a_caption(studio: Studio, ollama: FakeOllama) -> None:
    character = await koopa(studio)
    first, second = [await add(studio, character, picture((255, 0, 0), side)) for side in (96, 98)]
    answer = {"caption": "A turtle king grins in a neon alley.", "tags": ["1boy", "Spiked_Shell", "grin", "grin"]}
    # The first image gets two unusable answers: it fails with the reason, the second is still tagged.
    ollama.replies = ["A lovely turtle!", '{"caption": "x"}', json.dumps(answer)]
    jobs = await studio.tagging.start(character.id, TagSource.LLM, None, "aiko")  # type: ignore[arg-type]
    [result] = await succeeded(studio, jobs)
    assert (result["tagged"], result["failed"], result["tags"]) == (1, 1, 3)
    [failure] = result["failures"]
    assert failure["image_id"] == first and "gave no usable description in 2 attempts" in failure["reason"]
    assert await tag_names(studio, second) == ["1boy", "grin", "spiked shell"]
    tagged = await studio.tags.tags_of(second)
    assert (tagged.caption, tagged.caption_source) == (answer["caption"], "llm")
    assert await tag_names(studio, first) == []
    [chat, *_] = ollama.chats
    assert "Koopa King" in json.dumps(chat) and chat["format"]["properties"]["tags"]["type"] == "array"


# --- refusals and failures ----------------------------------------------------------------------------


async def test_bad_tagger_folders_are_refused_before_any_image(studio: Studio, tmp_path: Path) -> None:
    character = await koopa(studio)
    image = await add(studio, character, picture((255, 0, 0)))

    async def refused(folder: Path | None) -> str:
        studio.settings.tagger_model_dir = folder
        with pytest.raises(Invalid) as caught:
            await studio.tagging.start(character.id, TagSource.TAGGER, None, "aiko")  # type: ignore[arg-type]
        assert caught.value.field == "tagger_model_dir"
        return caught.value.message

    assert "no tagger folder is set" in await refused(None)
    state = {s.source: s for s in studio.tagging.sources()}[TagSource.TAGGER]
    assert not state.available and "Hugging Face" in state.reason
    folder = tmp_path / "tagger"
    write_csv(folder / "selected_tags.csv")
    assert f"{folder / 'model.onnx'} does not exist" in await refused(folder)
    build_model(folder / "model.onnx")
    write_csv(folder / "selected_tags.csv", header=("id", "name"))
    assert "is not a WD14 tag list" in await refused(folder)
    # A model whose input is NCHW passes the quick checks; the job loads it and fails before any image.
    build_model(folder / "model.onnx", input_shape=("N", 3, SIZE, SIZE))
    write_csv(folder / "selected_tags.csv")
    [job] = await finished(studio, await studio.tagging.start(character.id, "tagger", None, "aiko"))  # type: ignore[arg-type]
    assert job.state == JobState.FAILED and "takes input ['N', 3, 448, 448]" in (job.error or "")
    assert await tag_names(studio, image) == []


async def test_images_must_be_the_characters_own(studio: Studio) -> None:
    character, other = await koopa(studio), await koopa(studio)
    mine, theirs = await add(studio, character, picture((1, 2, 3))), await add(studio, other, picture((3, 2, 1)))
    with pytest.raises(Invalid, match=f"image\\(s\\) {theirs} are not images of Koopa King"):
        await studio.tagging.start(character.id, "prompt", [mine, theirs], "aiko")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await studio.tagging.start(character.id, "prompt", [mine, 999_999], "aiko")  # type: ignore[arg-type]
    with pytest.raises(Invalid, match="not run as a job"):
        await studio.tagging.start(character.id, "person", None, "aiko")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await studio.tagging.start(999_999, "prompt", None, "aiko")


async def test_sources_without_their_backend_are_refused_with_the_fix(studio: Studio) -> None:
    character = await koopa(studio)
    await add(studio, character, picture((1, 2, 3)))
    studio.settings.devices = []  # as if every device were removed on Settings → Connections
    with pytest.raises(BackendUnavailable, match="no device has an LLM server; connect one on Settings"):
        await studio.tagging.start(character.id, "llm", None, "aiko")  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match="no device has a ComfyUI server; connect one on Settings"):
        await studio.tagging.start(character.id, "comfyui", None, "aiko")  # type: ignore[arg-type]
    states = {state.source: state.available for state in studio.tagging.sources()}
    assert states == {"prompt": True, "tagger": True, "comfyui": False, "llm": False}


async def test_cancel_stops_between_images_and_keeps_what_was_done(studio: Studio, ollama: FakeOllama) -> None:
    character = await koopa(studio)
    ids = [await add(studio, character, picture((200, 0, 0), 96 + n)) for n in range(6)]
    answer = json.dumps({"caption": "A turtle.", "tags": ["turtle"]})
    ollama.reply_for = lambda body: answer
    ollama.latency = 0.15
    [job] = await studio.tagging.start(character.id, TagSource.LLM, ids, "aiko")  # type: ignore[arg-type]

    async def third_image() -> bool:
        return "image 3 of 6" in (await studio.jobs.get(job.id)).progress_message  # type: ignore[arg-type]

    await _until(third_image, 20, "the third image")
    await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
    [done] = await finished(studio, [job])
    assert done.state == JobState.CANCELLED
    chats = len(ollama.chats)
    await asyncio.sleep(0.5)  # long enough for another image's request, had the job gone on
    tagged = [image for image in ids if await tag_names(studio, image)]
    assert 2 <= len(tagged) < 6 and tagged == ids[: len(tagged)]
    assert len(ollama.chats) == chats  # no image was asked about after the cancel


# --- REST ---------------------------------------------------------------------------------------------


async def test_rest_queues_tagging_and_lists_the_sources(studio: Studio) -> None:
    character = await koopa(studio)
    image = await add(studio, character, picture((255, 0, 0)))
    transport = httpx.ASGITransport(app=guarded_api(studio))  # from loopback: no login needed
    async with httpx.AsyncClient(transport=transport, base_url="http://studio") as client:
        sources = (await client.get("/api/tagging/sources")).json()
        assert [s["source"] for s in sources] == ["prompt", "tagger", "comfyui", "llm"]
        assert all(s["available"] for s in sources), sources
        answer = await client.post(f"/api/characters/{character.id}/tag", json={"source": "tagger"})
        assert answer.status_code == 202, answer.text
        [job] = answer.json()["jobs"]
        assert job["kind"] == TAG_JOB and job["state"] == "queued"
        await succeeded(studio, [await studio.jobs.get(job["id"])])
        assert await tag_names(studio, image) == [normalise_tag(tag) for tag in RED_TAGS]
        wrong = await client.post(f"/api/characters/{character.id}/tag", json={"source": "person"})
        assert wrong.status_code == 422 and "not run as a job" in wrong.json()["detail"]
        unknown = await client.post(f"/api/characters/{character.id}/tag", json={"source": "magic"})
        assert unknown.status_code == 422
        missing = await client.post("/api/characters/999999/tag", json={"source": "prompt"})
        assert missing.status_code == 404


# --- the fake's tagger node speaks like the real one ---------------------------------------------------


async def test_the_fake_tagger_node_reports_text_outputs_like_the_real_one(comfyui: FakeComfyUI) -> None:
    comfyui.reset()
    client = ComfyClient(comfyui.url)
    try:
        info = await client.node_info(WD14_NODE)
        assert info is not None and info["output_node"] and info["python_module"] == "custom_nodes.ComfyUI-WD14-Tagger"
        assert "wd-v1-4-moat-tagger-v2" in info["input"]["required"]["model"][0]
        uploaded = await client.upload_image(picture((255, 0, 0)), "red.png", subfolder="anime-studio")
        graph = tagging_graph([(7, uploaded)], TaggerThresholds())
        graph["tag_7"]["inputs"].update(replace_underscore=False, trailing_comma=True, exclude_tags="solo")
        prompt_id = await client.submit(graph)

        async def recorded() -> bool:
            return await client.history(prompt_id) is not None

        await _until(recorded, 10, "the tagger prompt")
        outcome = await client.history(prompt_id)
        assert outcome is not None and outcome.status == "success" and outcome.outputs == ()
        assert outcome.texts == {"tag_7": {"tags": ("koopa_\\(mario\\), red_theme, ",)}}
        assert [tag.tag for tag in node_tags(outcome.texts["tag_7"]["tags"])] == ["koopa (mario)", "red theme"]
        comfyui.missing_nodes = {WD14_NODE}
        assert await client.node_info(WD14_NODE) is None
    finally:
        comfyui.reset()
        await client.aclose()


# --- a whole character (issue 20's "done when") ---------------------------------------------------------
# 200 generated and 100 imported images tagged from prompts and by the tagger, a rename across all of them and
# its undo, the blacklist out of every caption, and each preview equal to what the training export writes.

GENERATED, IMPORTED = 200, 100


def noise(seed: int, tint: tuple[int, int, int]) -> bytes:
    """A picture of its own (random pixels, so no two are near duplicates), mostly `tint`."""
    pixels = np.random.default_rng(seed).integers(0, 60, (64, 64, 3)) + np.array(tint) * 0.75
    out = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


async def test_a_whole_character_is_tagged_renamed_undone_and_captioned(studio: Studio) -> None:
    character = await koopa(studio)
    generated = [
        await add(
            studio, character, noise(n, (40, 40, 40)), {"positive": f"1boy, shell, (spiky hair:1.2), pose {n % 5}"}
        )
        for n in range(GENERATED)
    ]
    imported = [await add(studio, character, noise(1000 + n, (255, 0, 0))) for n in range(IMPORTED)]

    [from_prompts] = await succeeded(studio, await studio.tagging.start(character.id, "prompt", None, "aiko"))  # type: ignore[arg-type]
    assert (from_prompts["tagged"], from_prompts["skipped"]) == (GENERATED, IMPORTED)  # imports carry no prompt
    [by_tagger] = await succeeded(studio, await studio.tagging.start(character.id, "tagger", imported, "aiko"))  # type: ignore[arg-type]
    assert by_tagger["tagged"] == IMPORTED

    before = {t.tag: t.count for t in (await studio.tags.frequencies(character.id)).tags}  # type: ignore[arg-type]
    assert before["shell"] == GENERATED and before["spiky hair"] == GENERATED and before["red theme"] == IMPORTED

    # A rename across the whole character, then its undo: one change each way.
    renamed = await studio.tags.bulk(character.id, BulkEdit("rename", "shell", "koopa shell"), "aiko")  # type: ignore[arg-type]
    assert renamed.images_changed == GENERATED and renamed.undo_token
    after = {t.tag: t.count for t in (await studio.tags.frequencies(character.id)).tags}  # type: ignore[arg-type]
    assert "shell" not in after and after["koopa shell"] == GENERATED
    await studio.tags.undo(renamed.undo_token, "aiko")
    assert {t.tag: t.count for t in (await studio.tags.frequencies(character.id)).tags} == before  # type: ignore[arg-type]

    # The blacklist keeps a tag out of every caption, and the preview is what the export writes.
    await studio.tags.set_blacklist(character.project_id, ["spiky hair", RED_TAGS[0]], "aiko")
    everyone = generated + imported
    captions = await studio.captions.captions(everyone)
    assert set(captions) == set(everyone)
    for caption in captions.values():
        parts = caption.split(", ")
        assert parts[0] == "kpa" and "spiky hair" not in parts and RED_TAGS[0] not in parts, caption
    assert "shell" in captions[generated[0]].split(", ") and "koopa (mario)" in captions[imported[0]].split(", ")
    for image_id in (generated[0], generated[-1], imported[0], imported[-1]):
        assert (await studio.captions.preview(image_id)).text == captions[image_id]
