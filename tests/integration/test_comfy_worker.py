"""Image generation through the ComfyUI device worker, against the protocol-faithful fake server."""

from __future__ import annotations

import asyncio
import io
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from services.comfyui import ComfyClient
from services.generation import ImageBatchDraft, ImageJobHandler, LoraChoice, read_provenance
from services.jobs import JobProgressed
from studio.config import DeviceSettings, Settings
from studio.models import ApprovalState, Job, JobState
from studio.root import Studio
from tests.bible_helpers import COUNTERFEIT, GALAXY, KOOPA, png
from tests.fakes import FakeComfyUI

CHECKPOINT = COUNTERFEIT.checkpoint_model
MODELS = {
    "checkpoints": [CHECKPOINT, "sd_xl_base_1.0.safetensors"],
    "loras": ["koopa_lora.safetensors"],
    "clip_vision": ["CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"],
    "ipadapter": ["ip-adapter-plus_sd15.safetensors"],
}


def _fake(job_seconds: float = 0.05) -> FakeComfyUI:
    fake = FakeComfyUI(job_seconds=job_seconds)
    fake.models = {**fake.models, **{k: list(v) for k, v in MODELS.items()}}
    return fake


def _settings(data_dir: Path, *fakes: FakeComfyUI, comfyui_timeout_seconds: float = 30.0) -> Settings:
    devices = [DeviceSettings(name=f"gpu{i + 1}", comfyui_url=fake.url) for i, fake in enumerate(fakes)]
    return Settings(
        data_dir=data_dir,
        devices=devices,
        job_claim_poll_seconds=0.5,
        comfyui_timeout_seconds=comfyui_timeout_seconds,
    )


async def _started(settings: Settings) -> Studio:
    studio = Studio.build(settings)
    studio.migrate()
    await studio.start()
    return studio


async def _character(studio: Studio, *, reference: bool = False) -> int:
    if not any(s.name == COUNTERFEIT.name for s in await studio.styles.list()):
        await studio.styles.create(COUNTERFEIT, "aiko")
    project = await studio.projects.create(
        GALAXY.model_copy(update={"name": f"Galaxy {uuid.uuid4().hex[:6]}", "default_style": COUNTERFEIT.name}), "aiko"
    )
    koopa = await studio.characters.create(project.id, KOOPA, "aiko")  # type: ignore[arg-type]
    if reference:
        await studio.characters.add_reference(koopa.id, png(), "koopa.png", "aiko")  # type: ignore[arg-type]
    return koopa.id  # type: ignore[return-value]


async def _until(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _finished(studio: Studio, jobs: list[Job], within: float = 20.0) -> list[Job]:
    async def done() -> bool:
        states = [(await studio.jobs.get(j.id)).state for j in jobs]  # type: ignore[arg-type]
        return all(state not in (JobState.QUEUED, JobState.RUNNING) for state in states)

    await _until(done, within, "jobs to finish")
    return [await studio.jobs.get(j.id) for j in jobs]  # type: ignore[arg-type]


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfyUI]:
    with _fake() as server:
        yield server


async def test_a_batch_lands_in_the_dataset_as_pending_images_with_provenance(
    tmp_path: Path, fake: FakeComfyUI
) -> None:
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio, reference=True)
        jobs = await studio.images.generate(
            koopa, ImageBatchDraft(count=3, seed_policy="increment", seed=41, pose="waving"), "aiko"
        )
        finished = await _finished(studio, jobs)
        assert [j.state for j in finished] == [JobState.SUCCEEDED] * 3, [j.error for j in finished]
        image_ids = [i for j in finished for i in (j.result or {})["image_ids"]]
        images = await studio.images.images(image_ids)
        assert len(images) == 3 and all(i.approval_state == ApprovalState.PENDING for i in images)
        seeds = sorted(i.provenance["seed"] for i in images)
        assert seeds == [41, 42, 43]
        first = images[0]
        p = first.provenance
        assert p["checkpoint"] == CHECKPOINT and p["device"] == "gpu1" and p["backend"] == fake.url
        assert p["job_id"] in [j.id for j in jobs] and p["gpu_seconds"] is not None and p["gpu_seconds"] >= 0
        assert "waving" in p["positive"] and p["negative"] and len(p["workflow_hash"]) == 64
        assert p["reference_id"] is not None and p["style"] == COUNTERFEIT.name
        # The file on disk carries the same recipe in its PNG metadata, and really has the graph's size.
        data = await studio.media.read(first.file_path)
        embedded = read_provenance(data)
        assert embedded is not None and embedded["seed"] == p["seed"] and embedded["prompt_id"] == p["prompt_id"]
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (first.width, first.height) == (512, 768)
        # The protocol traps: our client id on every prompt, canonical UUID prompt ids, the reference uploaded.
        assert {e.client_id for e in fake.executions} == {studio.workers.workers[0].client_id}
        assert all(str(uuid.UUID(e.prompt_id)) == e.prompt_id for e in fake.executions)
        assert any(name.startswith("anime-studio/ref_") for name in fake.uploads), list(fake.uploads)
    finally:
        await studio.stop()


async def test_one_prompt_waits_on_the_server_while_another_runs(tmp_path: Path, fake: FakeComfyUI) -> None:
    # Prompts long enough that collecting one (storing, hashing, triage) overlaps the next one's run, as on a
    # real GPU; the hand-over time itself is what tests/bench/dispatch.py measures.
    fake.job_seconds = 0.4
    fake.hold()
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        jobs = await studio.images.generate(koopa, ImageBatchDraft(count=4), "aiko")

        async def two_on_server() -> bool:
            return len(fake.queue_pending) == 2

        await _until(two_on_server, what="two prompts on the server")
        await asyncio.sleep(0.2)  # and no more than two, however long we wait
        assert len(fake.queue_pending) == 2
        states = sorted([(await studio.jobs.get(j.id)).state.value for j in jobs])  # type: ignore[arg-type]
        assert states == ["queued", "queued", "running", "running"]
        fake.release()
        assert [j.state for j in await _finished(studio, jobs)] == [JobState.SUCCEEDED] * 4
        # Each prompt was already on the server when the previous one ended: the GPU never waited for the studio.
        runs = sorted(fake.executions, key=lambda e: e.started_at)
        assert all(b.queued_at is not None and b.queued_at < a.finished_at for a, b in itertools.pairwise(runs))
    finally:
        await studio.stop()


async def test_a_runtime_failure_is_reported_and_retry_runs_it_again(tmp_path: Path, fake: FakeComfyUI) -> None:
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        fake.fail_next("CUDA out of memory", node_type="KSampler")
        [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
        [failed] = await _finished(studio, [job])
        assert failed.state == JobState.FAILED
        assert failed.error is not None and "CUDA out of memory" in failed.error and fake.url in failed.error
        await studio.jobs.retry(job.id, "aiko")  # type: ignore[arg-type]
        [retried] = await _finished(studio, [job])
        assert (retried.state, retried.attempts) == (JobState.SUCCEEDED, 2)
    finally:
        await studio.stop()


async def test_a_missing_model_fails_before_anything_reaches_the_gpu(tmp_path: Path, fake: FakeComfyUI) -> None:
    fake.models = {**fake.models, "checkpoints": ["counterfeitV25.safetensors"]}
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
        [failed] = await _finished(studio, [job])
        assert failed.state == JobState.FAILED and failed.error is not None
        assert f"model file {CHECKPOINT} in checkpoints (looked in {fake.url}/models/checkpoints)" in failed.error
        assert "similar files there: counterfeitV25.safetensors" in failed.error
        assert fake.requests_to("/prompt") == []
    finally:
        await studio.stop()


async def test_cancel_removes_a_waiting_prompt_and_interrupts_a_running_one(tmp_path: Path) -> None:
    with _fake(job_seconds=5.0) as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            running, waiting = await studio.images.generate(koopa, ImageBatchDraft(count=2), "aiko")

            async def both_on_server() -> bool:
                return len(fake.queue_running) == 1 and len(fake.queue_pending) == 1

            await _until(both_on_server, what="one running and one waiting prompt")
            await studio.jobs.cancel(waiting.id, "aiko")  # type: ignore[arg-type]
            await studio.jobs.cancel(running.id, "aiko")  # type: ignore[arg-type]

            async def server_idle() -> bool:
                return not fake.queue_running and not fake.queue_pending

            await _until(server_idle, within=5, what="the server to drop both prompts")
            assert [e.status for e in fake.executions] == ["interrupted"]
            states = [(await studio.jobs.get(j.id)).state for j in (running, waiting)]  # type: ignore[arg-type]
            assert states == [JobState.CANCELLED, JobState.CANCELLED]
        finally:
            await studio.stop()


async def test_a_dropped_socket_is_reconnected_and_the_job_still_completes(tmp_path: Path) -> None:
    with _fake(job_seconds=0.6) as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            jobs = await studio.images.generate(koopa, ImageBatchDraft(count=2), "aiko")

            async def started() -> bool:
                return bool(fake.queue_running)

            await _until(started, what="a running prompt")
            fake.drop_sockets()
            finished = await _finished(studio, jobs)
            assert [j.state for j in finished] == [JobState.SUCCEEDED] * 2
            assert all(j.requeues == 0 for j in finished)
        finally:
            await studio.stop()


async def test_a_comfyui_restart_that_loses_the_queue_requeues_the_job_once(tmp_path: Path) -> None:
    with _fake(job_seconds=0.6) as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")

            async def started() -> bool:
                return bool(fake.queue_running)

            await _until(started, what="the prompt to start")
            fake.restart(lose_queue=True)
            [finished] = await _finished(studio, [job])
            assert (finished.state, finished.requeues) == (JobState.SUCCEEDED, 1)
        finally:
            await studio.stop()


async def test_a_studio_restart_reattaches_prompts_finished_or_still_running(tmp_path: Path, fake: FakeComfyUI) -> None:
    settings = _settings(tmp_path / "data", fake)
    fake.hold()
    first = await _started(settings)
    koopa = await _character(first)
    jobs = await first.images.generate(koopa, ImageBatchDraft(count=3), "aiko")

    async def two_submitted() -> bool:
        return len(fake.queue_pending) == 2

    await _until(two_submitted, what="two prompts on the server")
    await first.stop()  # the studio goes away with two jobs "running" on the server
    fake.release()

    async def one_done() -> bool:
        return len(fake.executions) >= 1

    await _until(one_done, what="a prompt to finish while the studio is down")
    second = await _started(settings)
    try:
        finished = await _finished(second, jobs)
        assert [j.state for j in finished] == [JobState.SUCCEEDED] * 3, [j.error for j in finished]
        assert all(j.requeues == 0 for j in finished), "the studio must re-attach, not run them again"
        assert len(fake.executions) == 3
        assert all(len((j.result or {})["image_ids"]) == 1 for j in finished)
    finally:
        await second.stop()


async def test_a_batch_spreads_over_two_devices(tmp_path: Path) -> None:
    with _fake(job_seconds=0.15) as one, _fake(job_seconds=0.15) as two:
        studio = await _started(_settings(tmp_path / "data", one, two))
        try:
            koopa = await _character(studio)
            jobs = await studio.images.generate(koopa, ImageBatchDraft(count=6), "aiko")
            finished = await _finished(studio, jobs)
            assert [j.state for j in finished] == [JobState.SUCCEEDED] * 6
            assert {j.ran_on for j in finished} == {"gpu1", "gpu2"}
            images = await studio.images.images([i for j in finished for i in (j.result or {})["image_ids"]])
            assert {i.provenance["device"] for i in images} == {"gpu1", "gpu2"}
        finally:
            await studio.stop()


async def test_generate_again_repeats_the_recipe(tmp_path: Path, fake: FakeComfyUI) -> None:
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1, seed_policy="fixed", seed=7), "aiko")
        [done] = await _finished(studio, [job])
        [image_id] = (done.result or {})["image_ids"]
        again = await studio.images.again(image_id, "aiko")
        [repeated] = await _finished(studio, [again])
        [new_image] = await studio.images.images((repeated.result or {})["image_ids"])
        original = await studio.images.image(image_id)
        same = ("seed", "positive", "negative", "checkpoint", "workflow_hash", "steps", "cfg", "sampler")
        assert {k: new_image.provenance[k] for k in same} == {k: original.provenance[k] for k in same}
        assert new_image.id != original.id and new_image.provenance["job_id"] == again.id
    finally:
        await studio.stop()


async def test_switching_checkpoints_asks_the_server_to_unload_the_previous_models(
    tmp_path: Path, fake: FakeComfyUI
) -> None:
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        other = COUNTERFEIT.model_copy(
            update={"name": "other-checkpoint", "checkpoint_model": MODELS["checkpoints"][1]}
        )
        await studio.styles.create(other, "aiko")
        first = await studio.images.generate(koopa, ImageBatchDraft(count=2), "aiko")
        await _finished(studio, first)
        assert fake.free_calls == []  # one checkpoint throughout: its models stay loaded
        second = await studio.images.generate(koopa, ImageBatchDraft(count=1, style=other.name), "aiko")
        assert [j.state for j in await _finished(studio, second)] == [JobState.SUCCEEDED]
        assert fake.free_calls == [{"unload_models": True, "free_memory": False}]
    finally:
        await studio.stop()


async def test_collecting_a_prompt_twice_stores_its_images_once(tmp_path: Path, fake: FakeComfyUI) -> None:
    """A restart between saving the images and marking the job done collects the prompt again."""
    studio = await _started(_settings(tmp_path / "data", fake))
    try:
        koopa = await _character(studio)
        [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
        [done] = await _finished(studio, [job])
        client = ComfyClient(fake.url)
        try:
            outcome = await client.history(done.external_handle or "")
            assert outcome is not None
            handler = ImageJobHandler(
                db=studio.db,
                clock=studio.clock,
                media=studio.media,
                store=studio.dataset_store,
                curation=studio.curation,
            )
            again = await handler.collect(done, outcome, client, "gpu1")
        finally:
            await client.aclose()
        assert again == done.result
        cards = await studio.characters.cards((await studio.characters.get(koopa)).project_id)
        assert [c.dataset for c in cards] == [{"pending": 1}]
    finally:
        await studio.stop()


async def _dataset(studio: Studio, character_id: int) -> list[dict[str, int]]:
    cards = await studio.characters.cards((await studio.characters.get(character_id)).project_id)
    return [c.dataset for c in cards]


async def test_the_prompt_queued_ahead_waits_on_the_device_until_comfyui_starts_it(tmp_path: Path) -> None:
    with _fake(job_seconds=1.0) as fake:
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            first, ahead = await studio.images.generate(koopa, ImageBatchDraft(count=2), "aiko")

            async def first_runs_and_the_next_waits_on_the_server() -> bool:
                running = await studio.jobs.get(first.id)  # type: ignore[arg-type]
                return running.started_at is not None and len(fake.queue_pending) == 1

            await _until(first_runs_and_the_next_waits_on_the_server, what="one running and one waiting prompt")
            waiting = await studio.jobs.get(ahead.id)  # type: ignore[arg-type]
            assert (waiting.state, waiting.started_at) == (JobState.RUNNING, None)
            assert waiting.progress_message == "waiting on gpu1 (queued on ComfyUI)"
            done = await _finished(studio, [first, ahead])
            assert [j.state for j in done] == [JobState.SUCCEEDED] * 2
            # Its run counts from when ComfyUI started it: after the first prompt's second on the GPU.
            assert done[0].started_at is not None and done[1].started_at is not None
            assert done[1].started_at - done[0].started_at >= timedelta(seconds=0.8)
        finally:
            await studio.stop()


async def test_a_cancel_a_hung_server_missed_is_sent_again_when_it_answers(tmp_path: Path) -> None:
    with _fake(job_seconds=3.0) as fake:
        studio = await _started(_settings(tmp_path / "data", fake, comfyui_timeout_seconds=0.3))
        try:
            koopa = await _character(studio)
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")

            async def running() -> bool:
                return (await studio.jobs.get(job.id)).started_at is not None  # type: ignore[arg-type]

            await _until(running, what="the prompt to start")
            fake.hung = True  # accepts connections, answers nothing
            await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
            worker = studio.workers.workers[0]

            async def cancel_not_heard() -> bool:
                return worker.last_error is not None

            await _until(cancel_not_heard, what="the cancel to time out")
            assert "ComfyUI has not heard it yet (sent again when it answers)" in (worker.last_error or "")
            fake.hung = False

            async def prompt_over() -> bool:
                return fake.executions[0].status != "running"

            await _until(prompt_over, what="the prompt to end")
            assert fake.executions[0].status == "interrupted"  # the cancel reached ComfyUI after all
            cancelled = await studio.jobs.get(job.id)  # type: ignore[arg-type]
            assert (cancelled.state, cancelled.result) == (JobState.CANCELLED, None)
            assert await _dataset(studio, koopa) == [{}]
        finally:
            await studio.stop()


async def test_a_cancel_comfyui_never_heard_before_a_studio_restart_is_carried_out_by_the_next_run(
    tmp_path: Path,
) -> None:
    with _fake(job_seconds=4.0) as fake:
        settings = _settings(tmp_path / "data", fake, comfyui_timeout_seconds=0.3)
        studio = await _started(settings)
        try:
            koopa = await _character(studio)
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")

            async def running() -> bool:
                return (await studio.jobs.get(job.id)).started_at is not None  # type: ignore[arg-type]

            await _until(running, what="the prompt to start")
            fake.hung = True
            await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
        finally:
            await studio.stop()  # the pending cancel dies with this run
        fake.hung = False
        assert fake.executions[0].status == "running"
        studio = await _started(settings)
        try:

            async def prompt_over() -> bool:
                return fake.executions[0].status != "running"

            await _until(prompt_over, what="the prompt to end")
            assert fake.executions[0].status == "interrupted"  # the next run found our prompt nobody follows
            assert (await studio.jobs.get(job.id)).state == JobState.CANCELLED  # type: ignore[arg-type]
            assert await _dataset(studio, koopa) == [{}]
        finally:
            await studio.stop()


async def test_a_cancel_during_the_save_stores_nothing_and_a_retry_samples_from_the_cache(tmp_path: Path) -> None:
    with _fake(job_seconds=0.2) as fake:
        fake.tail_seconds = 1.0  # VAE decode and save take 0.5 s each, without progress
        studio = await _started(_settings(tmp_path / "data", fake))
        try:
            koopa = await _character(studio)
            saving = asyncio.Event()

            def follow(event: JobProgressed) -> None:
                if event.message == "running Save image":  # the node's title in our graph
                    saving.set()

            unsubscribe = studio.events.subscribe(JobProgressed, follow)
            [job] = await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko")
            await asyncio.wait_for(saving.wait(), 20)
            unsubscribe()
            await studio.jobs.cancel(job.id, "aiko")  # type: ignore[arg-type]
            [cancelled] = await _finished(studio, [job])
            assert cancelled.state == JobState.CANCELLED

            async def prompt_over() -> bool:
                return fake.executions[0].status != "running"

            await _until(prompt_over, what="the prompt to end")
            assert fake.executions[0].status == "success"  # too late for ComfyUI to stop the save
            written = sorted(fake.output_dir.rglob("*.png"))

            # The same job again, its files deleted on the server meanwhile: ComfyUI answers everything but the
            # save node (its prefix names the run) from its cache, and the save writes the image anew.
            for path in written:
                path.unlink()
            await studio.jobs.retry(job.id, "aiko")  # type: ignore[arg-type]
            [retried] = await _finished(studio, [job])
            assert retried.state == JobState.SUCCEEDED, retried.error
            [image_id] = (retried.result or {})["image_ids"]
            assert (await studio.images.image(image_id)).provenance["prompt_id"] == retried.external_handle
            entry = fake.history[retried.external_handle or ""]
            graph = entry["prompt"][2]
            ran = {node for node, spec in graph.items() if spec["class_type"] == "SaveImage"}
            assert set(entry["status"]["messages"][1][1]["nodes"]) == set(graph) - ran and len(ran) == 1
            assert len(list(fake.output_dir.rglob("*.png"))) == 1
            assert await _dataset(studio, koopa) == [{"pending": 1}]  # the cancelled attempt stored nothing
        finally:
            await studio.stop()


async def test_failures_name_the_input_progress_names_the_node_and_a_rejected_prompt_keeps_no_id(
    tmp_path: Path, fake: FakeComfyUI
) -> None:
    fake.models = {**fake.models, "loras": [*fake.models["loras"], "broken.safetensors"]}
    studio = await _started(_settings(tmp_path / "data", fake))
    messages: list[str] = []
    studio.events.subscribe(JobProgressed, lambda event: messages.append(event.message))
    try:
        koopa = await _character(studio)
        fake.fail_next(
            "Error while deserializing header: HeaderTooLarge",
            node_type="LoraLoader",
            exception_type="safetensors_rust.SafetensorError",
        )
        draft = ImageBatchDraft(count=1, loras=[LoraChoice(name="broken.safetensors")])
        [failed] = await _finished(studio, await studio.images.generate(koopa, draft, "aiko"))
        assert failed.error is not None
        assert "(LoraLoader) with lora_name=broken.safetensors: Error while deserializing header" in failed.error

        [done] = await _finished(studio, await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko"))
        assert done.state == JobState.SUCCEEDED
        assert {"running Positive prompt", "running KSampler", "running Save image"} <= set(messages)
        assert any(m.startswith("KSampler: step ") for m in messages)
        assert not any(m.startswith("running node") for m in messages), messages

        # ComfyUI refuses the prompt (its KSampler allows fewer steps than the studio's offline catalog).
        fake.node_specs["KSampler"]["constraints"]["steps"]["max"] = 2
        [rejected] = await _finished(studio, await studio.images.generate(koopa, ImageBatchDraft(count=1), "aiko"))
        assert rejected.state == JobState.FAILED and "rejected the workflow" in (rejected.error or "")
        assert rejected.external_handle is None
    finally:
        await studio.stop()
