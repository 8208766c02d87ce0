"""The Create page through NiceGUI's simulated user, generating on a fake ComfyUI over loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ElementFilter, ui
from nicegui.testing import User

from tests.fakes.comfyui import FakeComfyUI
from tests.ui.test_characters_page import api, element
from tests.ui.test_shell import eventually

# Retries of should_see (0.1 s apart): generous, for machines busy running tests in parallel.
WAIT = 60
# A checkpoint the fake has installed (its DEFAULT_MODELS), so jobs pass the worker's preflight.
DREAM = {"name": "dream", "checkpoint_model": "dreamshaper_8.safetensors", "width": 512, "height": 768, "steps": 4}
# One it does not have: the job fails before it reaches the GPU, naming the near miss.
NOOB = {"name": "noob", "checkpoint_model": "noobaiXLVpred_v10.safetensors", "width": 832, "height": 1216}
KOOPA = {"name": "Koopa King", "design_prompt": "a huge turtle king with a spiked shell"}


def comfy_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    """A fake ComfyUI configured as device gpu1. Request it before `user`: main.py reads settings at start."""
    with FakeComfyUI(job_seconds=0.6, steps=4) as fake:
        fake.previews = True  # a ComfyUI started with `--preview-method auto`
        monkeypatch.setenv("STUDIO_DEVICES", json.dumps([{"name": "gpu1", "comfyui_url": fake.url}]))
        yield fake


@pytest.fixture
def comfy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeComfyUI]:
    yield from comfy_device(monkeypatch)


async def builtins_seeded(user: User) -> None:
    """Start-up runs as a task: a style is checked against model profiles that start-up seeds."""
    for _ in range(250):
        if await api(user, "GET", "/model-profiles"):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the built-in model profiles were never seeded")


async def project_with_koopa(user: User, style: dict[str, Any] = DREAM) -> tuple[int, int]:
    await builtins_seeded(user)
    project = await api(user, "POST", "/projects", {"name": "Mario Galaxy"})
    await api(user, "POST", "/generation-styles", style)
    await api(user, "PATCH", f"/projects/{project['id']}", {"default_style": style["name"]})
    character = await api(user, "POST", f"/projects/{project['id']}/characters", KOOPA)
    return project["id"], character["id"]


async def jobs(user: User, **query: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return await api(user, "GET", f"/jobs?{params}")


def visible(user: User, marker: str) -> list[Any]:
    """The visible elements with `marker` (none is not an error, unlike `user.find`)."""
    assert user.client is not None
    with user.client:
        return list(ElementFilter(marker=marker, local_scope=False, only_visible=True))


def state_of(user: User, job_id: int) -> str | None:
    chips = visible(user, f"job-state-{job_id}")
    return chips[0].text if chips else None


async def generate(user: User, *, count: int, policy: str = "random", seed: int | None = None) -> None:
    element(user, "count").value = count
    element(user, "seed-policy").value = policy
    if seed is not None:
        element(user, "seed").value = seed
    user.find(marker="generate").click()


async def test_without_a_comfyui_device_the_page_says_how_to_add_one_and_cannot_generate(user: User) -> None:
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    await user.should_see(marker="no-comfy-device", retries=WAIT)
    await user.should_see("No device has a ComfyUI server", retries=WAIT)
    await user.should_see("STUDIO_DEVICES", retries=WAIT)
    assert element(user, "generate").enabled is False
    assert element(user, "style-select").value == "dream"  # the project's default style
    assert element(user, "character-select").value is not None
    await user.should_see("Nothing generated for Mario Galaxy yet.", retries=WAIT)


async def test_the_nav_lists_create_and_jobs_after_characters(user: User) -> None:
    await user.open("/")
    labels = [e.text for e in sorted(user.find(ui.item_label).elements, key=lambda e: e.id)]
    assert labels.index("Characters") < labels.index("Create") < labels.index("Jobs")


async def test_two_images_progress_live_then_show_thumbnails_with_their_provenance(
    comfy: FakeComfyUI, user: User
) -> None:
    project_id, character_id = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    await user.should_not_see(marker="no-comfy-device", retries=WAIT)
    assert element(user, "seed").enabled is False  # random seeds need no seed
    element(user, "seed-policy").value = "increment"
    assert element(user, "seed").enabled is True
    await generate(user, count=2, policy="increment", seed=1000)
    await user.should_see("Queued 2 images", retries=WAIT)

    queued = sorted(await jobs(user, kind="image.generate"), key=lambda j: j["id"])
    assert [j["title"] for j in queued] == ["Koopa King · image 1 of 2", "Koopa King · image 2 of 2"]
    ids = [j["id"] for j in queued]
    for job_id in ids:
        await user.should_see(marker=f"job-{job_id}", retries=WAIT)

    # Follow the page while the fake renders: each job shows its steps and a preview frame, then its image.
    messages: dict[int, set[str]] = {job_id: set() for job_id in ids}
    previews: set[int] = set()

    def finished() -> bool:
        for job_id in ids:
            for label in visible(user, f"job-message-{job_id}"):
                messages[job_id].add(label.text)
            for image in visible(user, f"job-preview-{job_id}"):
                if str(image.source).startswith("data:image/"):
                    previews.add(job_id)
        return all(state_of(user, job_id) == "succeeded" for job_id in ids)

    await eventually(finished, seconds=20)
    for job_id in ids:
        assert any(m.startswith("KSampler: step ") for m in messages[job_id]), messages[job_id]
    assert previews, "no live preview frame was shown"

    done = sorted(await jobs(user, kind="image.generate"), key=lambda j: j["id"])
    image_ids = [i for job in done for i in job["result"]["image_ids"]]
    assert len(image_ids) == 2
    for image_id in image_ids:
        await user.should_see(marker=f"thumb-{image_id}", retries=WAIT)
        assert element(user, f"thumb-{image_id}").source == f"/api/images/{image_id}/file"
    response = await user.http_client.get(f"/api/images/{image_ids[1]}/file")
    assert response.status_code == 200 and response.content[:8] == b"\x89PNG\r\n\x1a\n"

    user.find(marker=f"thumb-{image_ids[1]}").click()
    await user.should_see(marker="provenance-dialog", retries=WAIT)
    assert element(user, "provenance-seed").text == "1001"
    assert element(user, "provenance-checkpoint").text == "dreamshaper_8.safetensors"
    assert element(user, "provenance-size").text == "512x768"
    assert element(user, "provenance-device").text == "gpu1"
    assert element(user, "provenance-job_id").text == str(ids[1])
    assert "turtle" in element(user, "provenance-positive").text
    assert element(user, "provenance-workflow_hash").text not in ("", "—")

    user.find(marker="generate-again").click()
    await user.should_see("again like image", retries=WAIT)
    await user.should_not_see(marker="provenance-dialog", retries=WAIT)
    again = await eventually_one_more(user, len(done))
    assert again["title"] == f"Koopa King · again like image {image_ids[1]}"
    await user.should_see(marker=f"job-{again['id']}", retries=WAIT)
    await eventually(lambda: state_of(user, again["id"]) == "succeeded", seconds=20)
    detail = await api(user, "GET", f"/jobs/{again['id']}")
    assert detail["payload"]["request"]["seed"] == 1001
    assert detail["payload"]["character_id"] == character_id


async def eventually_one_more(user: User, before: int) -> dict[str, Any]:
    for _ in range(100):
        listed = await jobs(user, kind="image.generate")
        if len(listed) > before:
            return listed[0]
        await user.should_see(marker="batches", retries=WAIT)
    raise AssertionError("no new job was queued")


async def test_cancel_on_a_held_job_marks_it_cancelled_and_removes_it_from_comfyui(
    comfy: FakeComfyUI, user: User
) -> None:
    project_id, _ = await project_with_koopa(user)
    comfy.hold()
    await user.open(f"/create?project={project_id}")
    await generate(user, count=1)
    await user.should_see("Queued 1 image", retries=WAIT)
    [job] = await jobs(user)
    await eventually(lambda: len(comfy.queue_pending) == 1, seconds=20)  # on the server, waiting
    await eventually(lambda: state_of(user, job["id"]) == "waiting", seconds=20)  # ComfyUI has not started it

    user.find(marker=f"cancel-job-{job['id']}").click()
    await user.should_see(f"Job {job['id']} cancelled", retries=WAIT)
    await eventually(lambda: state_of(user, job["id"]) == "cancelled", seconds=20)
    await user.should_see(marker=f"retry-job-{job['id']}", retries=WAIT)
    await user.should_not_see(marker=f"cancel-job-{job['id']}", retries=WAIT)
    assert element(user, f"job-error-{job['id']}").text == "cancelled by local"
    await eventually(lambda: comfy.queue_pending == [], seconds=20)
    comfy.release()
    assert (await api(user, "GET", f"/jobs/{job['id']}"))["state"] == "cancelled"


async def test_a_failing_job_shows_its_error_and_retry_runs_it_again(comfy: FakeComfyUI, user: User) -> None:
    project_id, _ = await project_with_koopa(user)
    comfy.fail_next("CUDA out of memory", exception_type="torch.OutOfMemoryError")
    await user.open(f"/create?project={project_id}")
    await generate(user, count=1)
    await user.should_see("Queued 1 image", retries=WAIT)
    [job] = await jobs(user)
    await eventually(lambda: state_of(user, job["id"]) == "failed", seconds=20)
    await user.should_see("CUDA out of memory", retries=WAIT)
    await user.should_not_see(marker=f"cancel-job-{job['id']}", retries=WAIT)

    user.find(marker=f"retry-job-{job['id']}").click()
    await user.should_see(f"Job {job['id']} queued again", retries=WAIT)
    await eventually(lambda: state_of(user, job["id"]) == "succeeded", seconds=20)
    await user.should_not_see("CUDA out of memory", retries=WAIT)
    [image_id] = (await api(user, "GET", f"/jobs/{job['id']}"))["result"]["image_ids"]
    await user.should_see(marker=f"thumb-{image_id}", retries=WAIT)


async def test_a_checkpoint_the_server_lacks_fails_the_job_naming_the_near_file(comfy: FakeComfyUI, user: User) -> None:
    project_id, _ = await project_with_koopa(user, style=NOOB)
    await user.open(f"/create?project={project_id}")
    await generate(user, count=1)
    await user.should_see("Queued 1 image", retries=WAIT)
    [job] = await jobs(user)
    await eventually(lambda: state_of(user, job["id"]) == "failed", seconds=20)
    error = element(user, f"job-error-{job['id']}").text
    assert "noobaiXLVpred_v10.safetensors" in error
    assert "NoobAI-XL-Vpred-v1.0.safetensors" in error  # the similar file that is there
    assert comfy.executions == []  # it never reached the GPU


async def test_refused_requests_show_clear_field_errors(comfy: FakeComfyUI, user: User) -> None:
    project_id, _ = await project_with_koopa(user)
    await user.open(f"/create?project={project_id}")
    element(user, "seed-policy").value = "fixed"  # without a seed
    user.find(marker="generate").click()
    await user.should_see("the 'fixed' seed policy needs a seed", retries=WAIT)
    assert element(user, "seed").error is not None

    element(user, "seed-policy").value = "random"
    element(user, "count").value = 65
    user.find(marker="generate").click()
    await user.should_see("Count: Input should be less than or equal to 64", retries=WAIT)
    assert element(user, "count").error is not None
    assert element(user, "seed").error is None  # the earlier problem is gone
    assert await jobs(user) == []

    element(user, "count").value = 1
    user.find(marker="add-lora").click()
    await user.should_see(marker="lora-name", retries=WAIT)
    # The field offers the LoRA files the device's ComfyUI lists, and still takes a typed name.
    await user.should_see(marker="lora-name-choices", retries=WAIT)
    offered = {item.default_slot.children[0].text for item in user.find(marker="lora-name-file").elements}
    assert offered == set(comfy.models["loras"]) and offered
    user.find(marker="lora-name").type("../escape.safetensors")
    user.find(marker="generate").click()
    await user.should_see("a LoRA is named by its file in ComfyUI's loras folder", retries=WAIT)
    user.find(marker="remove-lora").click()
    await user.should_not_see(marker="lora-name", retries=WAIT)
    user.find(marker="generate").click()
    await user.should_see("Queued 1 image", retries=WAIT)
