"""LoRA training with ComfyUI's own training nodes, for a device whose ComfyUI has them and no sd-scripts here.

ComfyUI trains one LoRA per prompt and knows no epochs, so a run is trained in chunks: one prompt per epoch
(`steps = ceil(images x repeats / batch)`), each later chunk continuing from the previous chunk's file through
TrainLoraNode's `existing_lora`, which must be a file in the server's `models/loras`. The node names are the
server's own (`/object_info`: `SaveLoRANode` up to 0.3.64, `SaveLoRA` after; the folder loaders changed too).

* **The set.** The run's exported kohya folder is uploaded through `/upload/image` into a new input folder per
  attempt (`anime-studio/run<id>-<attempt>/<repeats>_<trigger> <class>/`): the folder loaders have no
  IS_CHANGED, so a folder name seen before would be answered from the node cache.
* **The files.** SaveLoRA reports nothing and writes `output/<prefix>_<steps>_steps_<counter:05>_.safetensors`;
  each chunk saves under a prefix no earlier prompt used (it names the attempt), so the counter is 00001 and
  the name is known. The file comes back through `/view` into the run (`epoch_saved`). For the next chunk the
  server must list it under `loras`: copied into the device's `loras_dir` when the studio has it, else found
  when the server maps its output folder into `loras` (extra_model_paths.yaml), else the run fails saying so.
* **Samples** are rendered in the chunk's own prompt from the trainer's MODEL output (the LoRA applied), one
  KSampler per sample prompt with the run's fixed seeds, so no file has to be visible for them.
* **Progress.** 0.3.64 trains under tqdm only: the socket says nothing until the chunk ends, so the run shows
  the epoch and its steps at chunk ends. Later servers send `progress` per optimizer step.
* **Stops.** Cancelling (the job, or the studio stopping) removes the chunk's prompt and interrupts it; saved
  epochs stay, and the next attempt continues from the last one (`resume_point`). Prompts of an earlier
  studio process that no job follows are stopped when a job starts on the device.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bible import Characters
from services.comfyui import (
    ComfyClient,
    ComfySocket,
    ComfyUnavailable,
    Connected,
    OutputFile,
    Progress,
    PromptFinished,
    PromptOutcome,
    PromptRejected,
    ServerInventory,
    SocketMessage,
    TrainingNodes,
    training_readiness,
)
from services.errors import Invalid, StudioError
from services.jobs.handlers import ProgressSink
from services.jobs.workers import worker_identity
from services.training.kohya import RunLog, steps_per_epoch
from services.training.kohya_progress import describe
from services.training.presets import TrainingParams
from services.training.runs import SAMPLE_NEGATIVE, TRAIN_JOB, TrainingRuns, copy_atomically, no_trainer_message
from studio.config import DeviceSettings, Settings
from studio.models import Job
from workflows.graph import STUDIO_OUTPUT_FOLDER, Graph
from workflows.image import ImageRequest
from workflows.specs import NodeCatalog, load_catalog

log = logging.getLogger(__name__)

LOG_NAME = "comfyui.log"
DOWNLOADS = "comfyui"  # the run's folder for the files fetched back from the server
DATASET = "dataset"
# SaveLoRA's own default prefix is under output/loras: a server that maps output/loras into its LoRA folders
# (the usual extra_model_paths.yaml line) then lists the chunks as `anime-studio/<file>`.
LORA_SUBFOLDER = f"loras/{STUDIO_OUTPUT_FOLDER}"
SAMPLE_SUBFOLDER = f"{STUDIO_OUTPUT_FOLDER}/training"
SAMPLE_STEPS = 28  # as kohya's sample lines (`--s 28`): the two trainers' grids compare
REPORT_SECONDS = 1.0  # per-step progress to the job (a database write each) at most this often
POLL_SECONDS = 2.0  # ask /history when the socket has been quiet this long (events sent while it was down are lost)
_OPTIMIZERS = ("AdamW", "Adam", "SGD", "RMSprop")  # TrainLoraNode's choices; kohya's AdamW8bit trains as AdamW


class ComfyTrainingFailed(StudioError):
    """ComfyUI refused or failed a chunk, or cannot see the chunk to continue from; saved epochs stay."""


def saved_lora_name(stem: str, steps: int) -> str:
    """SaveLoRA's file for a prefix no earlier save used: counter 00001, named by the total steps trained."""
    return f"{stem}_{steps}_steps_00001_.safetensors"


def trained_steps(lora_name: str) -> int:
    """The steps TrainLoraNode reads from an existing LoRA's name (`..._<N>_steps_...`), as the node does."""
    return int(lora_name.split("_steps_")[0].split("_")[-1])


@dataclass(frozen=True)
class ChunkGraph:
    """One epoch's prompt and the ids of the nodes the runner follows."""

    graph: dict[str, Any]
    trainer: str
    saver: str
    samplers: dict[str, int]  # KSampler node id → sample index
    saves: dict[str, int]  # SaveImage node id → sample index


def chunk_graph(
    nodes: TrainingNodes,
    params: TrainingParams,
    *,
    folder: str,
    steps: int,
    seed: int,
    existing_lora: str,
    lora_prefix: str,
    sample_prefix: str,
    sample_prompts: Sequence[str],
) -> ChunkGraph:
    """Checkpoint → folder loader → dataset → TrainLoraNode → SaveLoRA, plus a sampler per sample prompt fed by
    the trainer's MODEL output (the LoRA applied)."""
    graph = Graph()
    checkpoint = graph.add("CheckpointLoaderSimple", "Base checkpoint", ckpt_name=params.base_checkpoint)
    model, clip, vae = checkpoint[0], checkpoint[1], checkpoint[2]
    if nodes.generation == "0.3.64":
        # 0.3.64 needs every image at the first one's size: padded to the run's square keeps the whole figure
        # (a crop cuts the heads and feet of full-body shots).
        loader = graph.add(
            nodes.folder_loader,
            "Training set",
            folder=folder,
            clip=clip,
            resize_method="Pad",
            width=params.resolution,
            height=params.resolution,
        )
        latents = graph.add(nodes.dataset, "Encode training images", pixels=loader[0], vae=vae)[0]
        positive = loader[1]
    else:
        loader = graph.add(nodes.folder_loader, "Training set", folder=folder)
        dataset = graph.add(nodes.dataset, "Training dataset", images=loader[0], texts=loader[1], vae=vae, clip=clip)
        latents, positive = dataset[0], dataset[1]
    optimizer = next((name for name in _OPTIMIZERS if params.optimizer.lower().startswith(name.lower())), "AdamW")
    trainer = graph.add(
        nodes.trainer,
        "Train LoRA",
        model=model,
        latents=latents,
        positive=positive,
        batch_size=params.batch_size,
        grad_accumulation_steps=1,
        steps=steps,
        learning_rate=params.learning_rate,
        rank=params.rank,
        optimizer=optimizer,
        loss_function="MSE",
        seed=seed,
        training_dtype="fp32" if params.mixed_precision == "no" else "bf16",
        lora_dtype="bf16",
        algorithm="LoRA",
        gradient_checkpointing=params.gradient_checkpointing,
        existing_lora=existing_lora,
    )
    saver = graph.add(nodes.saver, "Save LoRA", lora=trainer[1], prefix=lora_prefix, steps=trainer[3])
    samplers: dict[str, int] = {}
    saves: dict[str, int] = {}
    if sample_prompts:
        negative = graph.add("CLIPTextEncode", "Sample negative", text=SAMPLE_NEGATIVE, clip=clip)
        latent = graph.add("EmptyLatentImage", width=params.resolution, height=params.resolution, batch_size=1)
    for index, prompt in enumerate(sample_prompts):
        # The image request checks what a txt2img graph needs (sizes, seed, steps) as the image jobs do.
        request = ImageRequest(
            architecture=params.family,
            checkpoint=params.base_checkpoint,
            positive=prompt,
            negative=SAMPLE_NEGATIVE,
            width=params.resolution,
            height=params.resolution,
            seed=params.sample_seed + index,  # kohya's `--d` per line: the same picture every epoch
            steps=SAMPLE_STEPS,
            cfg=7.0 if params.family == "sd15" else 6.0,
            sampler="euler_ancestral",
            scheduler="normal",
        )
        text = graph.add("CLIPTextEncode", f"Sample {index + 1} prompt", text=request.positive, clip=clip)
        sampled = graph.add(
            "KSampler",
            f"Sample {index + 1}",
            model=trainer[0],
            seed=request.seed,
            steps=request.steps,
            cfg=request.cfg,
            sampler_name=request.sampler,
            scheduler=request.scheduler,
            positive=text[0],
            negative=negative[0],
            latent_image=latent[0],
            denoise=1.0,
        )
        decoded = graph.add("VAEDecode", samples=sampled[0], vae=vae)
        save = graph.add("SaveImage", f"Save sample {index + 1}", images=decoded[0], filename_prefix=sample_prefix)
        samplers[sampled.id] = index
        saves[save.id] = index
    return ChunkGraph(graph.to_api(), trainer.id, saver.id, samplers, saves)


def server_catalog(object_info: dict[str, Any]) -> NodeCatalog:
    """The bundled catalogue plus the server's own specs of the nodes it lacks (the training nodes are
    experimental and change between versions: the server's word is the one to check against)."""
    reference = load_catalog()
    server = NodeCatalog.from_object_info(object_info, reference=reference)
    return NodeCatalog({**{name: server[name] for name in server if name not in reference}, **dict(reference)})


class ComfyNativeTrainer:
    """Runs `lora.train` jobs with ComfyUI's training nodes on the device's ComfyUI (see the module's notes)."""

    kind = TRAIN_JOB
    app = "comfyui-training"

    def __init__(
        self, *, runs: TrainingRuns, characters: Characters, settings: Settings, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self._runs = runs
        self._characters = characters
        self._settings = settings
        self.poll_seconds = poll_seconds

    def app_url(self, device: DeviceSettings) -> str | None:
        return device.comfyui_url

    def client_id(self, device: DeviceSettings) -> str:
        """Stable across restarts, so a later start finds the prompts an earlier one left; not the device
        worker's own id, whose resynchronisation would stop training prompts it does not follow."""
        identity = worker_identity(self._settings.data_dir, f"{device.name}:training")
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"anime-studio:{identity}"))

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        """Train the job's run to its last epoch, continuing after its last saved one. Invalid: the device or
        the run cannot train this way (the message names the fix); ComfyTrainingFailed: the server refused or
        failed a chunk, or cannot see the file to continue from (saved epochs stay in the run)."""
        run_id = job.payload.get("run_id")
        if not isinstance(run_id, int):
            raise Invalid("payload.run_id", f"a training job names its run, not {run_id!r}")
        run = await self._runs.get(run_id)
        params = TrainingParams.model_validate(run.params)
        done, last_file = await self._runs.resume_point(run_id)
        if done >= params.epochs:
            return {"run_id": run_id, "epochs": done, "device": device.name}
        if device.comfyui_url is None:
            raise Invalid("device", no_trainer_message(device))
        character = await self._characters.get(run.character_id)
        run_dir = self._runs.run_dir(run_id)
        per_epoch = await asyncio.to_thread(steps_per_epoch, run_dir)
        if per_epoch <= 0:
            raise Invalid("run", f"{run_dir / DATASET} holds no training set: start the training run again")
        client = ComfyClient(
            device.comfyui_url, client_id=self.client_id(device), timeout=self._settings.comfyui_timeout_seconds
        )
        follow = _Chunks(client, self.poll_seconds)
        try:
            nodes = await self._training_nodes(client, device)
            await self._stop_orphans(client)
            attempt = uuid.uuid4().hex[:8]
            stem = f"{character.slug}-run{run_id}-{attempt}"
            folder = f"{STUDIO_OUTPUT_FOLDER}/run{run_id}-{attempt}"
            run_log = RunLog(run_dir / LOG_NAME)
            await run_log.write(
                [f"=== {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {nodes.trainer} on {client.base_url}"]
            )
            await progress(done / params.epochs, f"uploading the training set to {device.name}'s ComfyUI")
            uploaded = await _upload(client, run_dir / DATASET, folder)
            await run_log.write([f"uploaded {uploaded} files into input/{folder}"])
            await self._runs.begin(run_id, per_epoch * params.epochs, params.epochs, run_dir / LOG_NAME)
            await follow.start()
            for epoch in range(done + 1, params.epochs + 1):
                chunk = _Chunk(
                    run_id=run_id,
                    epoch=epoch,
                    epochs=params.epochs,
                    per_epoch=per_epoch,
                    generation=nodes.generation,
                    runs=self._runs,
                    progress=progress,
                )
                existing = "[None]"
                if last_file is not None:
                    existing = await self._visible(client, device, last_file, epoch - 1, params.epochs)
                samples = params.sample_prompts if epoch % params.sample_every_epochs == 0 else []
                graph = chunk_graph(
                    nodes,
                    params,
                    folder=folder,
                    steps=per_epoch,
                    seed=params.sample_seed + epoch,
                    existing_lora=existing,
                    lora_prefix=f"{LORA_SUBFOLDER}/{stem}-e{epoch}",
                    sample_prefix=f"{SAMPLE_SUBFOLDER}/{stem}-e{epoch}",
                    sample_prompts=samples,
                )
                await self._check(client, graph.graph, chunk, done)
                await chunk.begin()
                await run_log.write([f"epoch {epoch} of {params.epochs}: {per_epoch} steps, from {existing}"])
                outcome = await follow.run(graph, chunk, job.id)
                if outcome.status != "success":
                    await run_log.write([f"epoch {epoch} ended {outcome.status}"])
                    raise ComfyTrainingFailed(_failure(outcome, graph, chunk, device, done))
                prior = trained_steps(existing) if existing != "[None]" else 0
                name = saved_lora_name(f"{stem}-e{epoch}", prior + per_epoch)
                lora, images = await self._fetch(client, graph, outcome, name, run_dir, chunk, device, done)
                await chunk.end()
                await self._runs.epoch_saved(run_id, epoch, lora, images)
                await run_log.write([f"epoch {epoch} saved: {name} with {len(images)} samples"])
                done, last_file = epoch, lora
        except ComfyUnavailable as exc:  # down, or it answered an upload or a download with an error
            raise ComfyTrainingFailed(f"{exc} ({_kept(done)})") from exc
        finally:
            await follow.stop()
            await client.aclose()
        return {"run_id": run_id, "epochs": done, "device": device.name}

    # --- steps of a run ------------------------------------------------------------------------------

    async def _training_nodes(self, client: ComfyClient, device: DeviceSettings) -> TrainingNodes:
        readiness = training_readiness((await client.object_info()).keys())
        if readiness.nodes is None:
            raise Invalid("device", f"{no_trainer_message(device)} ({readiness.describe()})")
        return readiness.nodes

    async def _stop_orphans(self, client: ComfyClient) -> None:
        """Stop this trainer's prompts an earlier studio process left on the server: nobody collects them, and
        the run starts again from its last saved epoch (so nothing is saved twice)."""
        snapshot = await client.queue()
        orphans = [pid for pid, owner in snapshot.clients.items() if owner == client.client_id]
        if not orphans:
            return
        log.info("stopping %d training prompt(s) left on %s: %s", len(orphans), client.base_url, orphans)
        await client.delete_queued(orphans)
        for prompt_id in orphans:
            if prompt_id in snapshot.running:
                await client.interrupt(prompt_id)

    async def _check(self, client: ComfyClient, graph: dict[str, Any], chunk: _Chunk, done: int) -> None:
        """Validate the chunk against the server's node specs and files, as the image jobs are."""
        object_info = await client.object_info()  # fresh: the upload and the last chunk's file change choices
        catalog = await asyncio.to_thread(server_catalog, object_info)  # a thousand specs on a real server
        problems = await ServerInventory(client, object_info).graph_problems(graph, catalog)
        if problems:
            raise ComfyTrainingFailed(
                f"ComfyUI at {client.base_url} cannot train epoch {chunk.epoch} of {chunk.epochs}: "
                + "; ".join(problems)
                + f" ({_kept(done)})"
            )

    async def _visible(self, client: ComfyClient, device: DeviceSettings, lora: Path, epoch: int, epochs: int) -> str:
        """The `existing_lora` name under which the server lists the epoch's file: copied into the device's
        `loras_dir` when it has one, else found where the server maps its output folder. ComfyTrainingFailed
        naming what to change on the server when it cannot see the file."""
        if device.loras_dir is not None:
            target = device.loras_dir / STUDIO_OUTPUT_FOLDER / lora.name
            try:
                await asyncio.to_thread(copy_atomically, lora, target)
            except OSError as exc:
                raise ComfyTrainingFailed(
                    f"could not copy epoch {epoch}'s LoRA to {target} ({exc.strerror or exc}): check device "
                    f"{device.name}'s LoRA folder (loras_dir) in Settings → Connections ({_kept(epoch)})"
                ) from exc
        listed = set(await client.models("loras"))
        for name in (f"{STUDIO_OUTPUT_FOLDER}/{lora.name}", f"{LORA_SUBFOLDER}/{lora.name}"):
            if name in listed:
                return name
        if device.loras_dir is not None:
            raise ComfyTrainingFailed(
                f"epoch {epoch}'s LoRA was copied to {device.loras_dir / STUDIO_OUTPUT_FOLDER}, but ComfyUI at "
                f"{client.base_url} does not list it in models/loras, so epoch {epoch + 1} cannot continue from it: "
                f"set device {device.name}'s LoRA folder (loras_dir) to that ComfyUI's models/loras folder "
                f"({_kept(epoch)})"
            )
        raise ComfyTrainingFailed(
            f"ComfyUI at {client.base_url} cannot see epoch {epoch}'s LoRA (output/{LORA_SUBFOLDER}/{lora.name}), "
            f"so epoch {epoch + 1} of {epochs} cannot continue from it. On that server either set device "
            f"{device.name}'s LoRA folder (loras_dir) in Settings → Connections to a folder the studio can write "
            "that is ComfyUI's models/loras, or add ComfyUI's output/loras folder to its extra_model_paths.yaml "
            f"(a section with `loras: <ComfyUI>/output/loras`) and restart ComfyUI ({_kept(epoch)})"
        )

    async def _fetch(
        self,
        client: ComfyClient,
        graph: ChunkGraph,
        outcome: PromptOutcome,
        name: str,
        run_dir: Path,
        chunk: _Chunk,
        device: DeviceSettings,
        done: int,
    ) -> tuple[Path, list[Path]]:
        """Download the chunk's LoRA (SaveLoRA reports nothing: the name is computed) and its sample images."""
        folder = run_dir / DOWNLOADS / f"e{chunk.epoch:06d}"
        saved = OutputFile(node_id=graph.saver, key="loras", filename=name, subfolder=LORA_SUBFOLDER, type="output")
        try:
            data = await client.download(saved)
        except ComfyUnavailable as exc:
            raise ComfyTrainingFailed(
                f"ComfyUI on {device.name} finished epoch {chunk.epoch} but its LoRA output/{LORA_SUBFOLDER}/{name} "
                f"cannot be fetched ({exc}); {_kept(done)}"
            ) from exc
        lora = folder / name
        await asyncio.to_thread(_write, lora, data)
        samples = []
        for file in outcome.outputs:
            index = graph.saves.get(file.node_id)
            if index is None or file.type != "output" or file.is_video:
                continue
            # Named by prompt index: the run keeps samples in name order, one per prompt.
            path = folder / f"sample_e{chunk.epoch:06d}_{index:02d}{Path(file.filename).suffix or '.png'}"
            await asyncio.to_thread(_write, path, await client.download(file))
            samples.append(path)
        return lora, samples


@dataclass
class _Chunk:
    """One epoch's prompt as the run sees it: what to tell the job and the run as it goes."""

    run_id: int
    epoch: int
    epochs: int
    per_epoch: int
    generation: str
    runs: TrainingRuns
    progress: ProgressSink
    started: float = 0.0
    reported: float = 0.0
    samples: int = 0

    @property
    def steps_total(self) -> int:
        return self.per_epoch * self.epochs

    async def begin(self) -> None:
        self.started = time.monotonic()
        fraction = (self.epoch - 1) / self.epochs
        if self.generation == "0.3.64":
            message = f"epoch {self.epoch} of {self.epochs}: training (ComfyUI reports no steps)"
        else:
            message = f"epoch {self.epoch} of {self.epochs}: training"
        await self.progress(fraction, message)

    async def step(self, value: int, maximum: int) -> None:
        """A training step the server reported (V3 servers: one per optimizer step)."""
        steps = self.per_epoch if maximum <= 0 else maximum
        step = (self.epoch - 1) * self.per_epoch + min(value, steps)
        elapsed = time.monotonic() - self.started
        rate = value / elapsed if elapsed > 0 and value > 0 else None
        eta = (self.steps_total - step) / rate if rate else None
        speed = f"{rate:.2f} it/s" if rate else ""
        await self._tell_run(step, speed, eta)
        if time.monotonic() - self.reported >= REPORT_SECONDS or value >= steps:
            self.reported = time.monotonic()
            await self._tell_job(step, speed)

    async def sampling(self, index: int, count: int) -> None:
        await self.progress(
            min(0.99, self.epoch / self.epochs), f"epoch {self.epoch} of {self.epochs}: sample {index + 1} of {count}"
        )

    async def end(self) -> None:
        """The chunk ended: its steps are done (all a 0.3.64 server tells), and the time an epoch takes."""
        seconds = max(0.001, time.monotonic() - self.started)
        step = self.epoch * self.per_epoch
        left = (self.epochs - self.epoch) * seconds
        await self._tell_run(step, f"{seconds:.0f} s/epoch", left)
        await self._tell_job(step, "", f" · epoch {self.epoch} saved")

    async def _tell_run(self, step: int, speed: str, eta: float | None) -> None:
        """The run's progress at `step` (ComfyUI gives no loss: the nodes keep it inside the graph)."""
        total, epoch = self.steps_total, self.epoch
        await self.runs.progress(
            self.run_id, step=step, steps_total=total, epoch=epoch, loss=None, speed=speed, eta_seconds=eta
        )

    async def _tell_job(self, step: int, speed: str, suffix: str = "") -> None:
        message = describe(
            epoch=self.epoch, epochs=self.epochs, step=step, steps=self.steps_total, loss=None, speed=speed
        )
        await self.progress(min(0.99, step / max(1, self.steps_total)), message + suffix)


class _Chunks:
    """The trainer's socket for one job, and each chunk's prompt followed to its end."""

    def __init__(self, client: ComfyClient, poll_seconds: float) -> None:
        self._client = client
        self._poll = poll_seconds
        self._messages: asyncio.Queue[SocketMessage] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name=f"training-socket:{self._client.base_url}")
        # Events of a prompt sent before the socket listens are lost; /history still tells how it ended.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self._connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _listen(self) -> None:
        async for message in ComfySocket(self._client.base_url, self._client.client_id).messages():
            if isinstance(message, Connected):
                self._connected.set()
            await self._messages.put(message)

    async def run(self, graph: ChunkGraph, chunk: _Chunk, job_id: int | None) -> PromptOutcome:
        """Queue the chunk and follow it to its end; cancelling removes or interrupts it before re-raising."""
        while not self._messages.empty():  # what the last chunk's prompt left unread
            self._messages.get_nowait()
        prompt_id = str(uuid.uuid4())
        try:
            await self._client.submit(graph.graph, prompt_id=prompt_id, extra_data={"anime_studio_job": job_id})
            return await self._follow(prompt_id, graph, chunk)
        except PromptRejected as exc:
            raise ComfyTrainingFailed(f"epoch {chunk.epoch} of {chunk.epochs}: {exc}") from exc
        except BaseException:
            # Also when cancelled while submitting: the server may have queued it before we heard back.
            await _stop_prompt(self._client, prompt_id)
            raise

    async def _follow(self, prompt_id: str, graph: ChunkGraph, chunk: _Chunk) -> PromptOutcome:
        sampling: set[str] = set()
        unseen = 0  # looks that found the prompt neither queued nor in the history
        while True:
            message: SocketMessage | None = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    message = await self._messages.get()
            if isinstance(message, Progress) and message.prompt_id == prompt_id:
                if message.node == graph.trainer:
                    await chunk.step(message.value, message.maximum)
                elif message.node in graph.samplers and message.node not in sampling:
                    sampling.add(message.node)
                    await chunk.sampling(graph.samplers[message.node], len(graph.samplers))
                continue
            finished = isinstance(message, PromptFinished) and message.prompt_id == prompt_id
            if message is not None and not finished and not isinstance(message, Connected):
                continue
            try:
                outcome = await self._client.history(prompt_id)
                if outcome is not None:
                    return outcome
                # Between its end and its history entry a prompt is in neither: lost only when a later look agrees.
                unseen = 0 if (await self._client.queue()).holds(prompt_id) else unseen + 1
                if unseen >= 2:
                    raise ComfyTrainingFailed(
                        f"ComfyUI at {self._client.base_url} lost the prompt of epoch {chunk.epoch} of {chunk.epochs} "
                        "(did it restart?); retry continues from the last saved epoch"
                    )
            except ComfyUnavailable as exc:  # down for a moment: the prompt may still run there
                log.warning("following epoch %s of run %s: %s", chunk.epoch, chunk.run_id, exc)


async def _stop_prompt(client: ComfyClient, prompt_id: str) -> None:
    """Remove the prompt if it waits, interrupt it if it runs (the order leaves no gap between the two)."""
    try:
        await client.delete_queued([prompt_id])
        await client.interrupt(prompt_id)
    except ComfyUnavailable as exc:
        # The next job on this device stops it (`_stop_orphans`): it carries this trainer's client id.
        log.warning("could not stop training prompt %s on %s: %s", prompt_id, client.base_url, exc)


async def _upload(client: ComfyClient, dataset: Path, folder: str) -> int:
    """Every image and caption of the exported set into `input/<folder>/<subset>/`; how many files."""
    files = await asyncio.to_thread(_dataset_files, dataset)
    if not files:
        raise Invalid("run", f"{dataset} holds no training images: start the training run again")
    for relative in files:
        data = await asyncio.to_thread((dataset / relative).read_bytes)
        subfolder = "/".join([folder, *relative.parts[:-1]])
        await client.upload_image(data, relative.name, subfolder=subfolder)
    return len(files)


def _dataset_files(dataset: Path) -> list[Path]:
    """The set's files in its subset folders (the dataset TOML at the top is sd-scripts'), blocking."""
    if not dataset.is_dir():
        return []
    return sorted(p.relative_to(dataset) for p in dataset.glob("*/*") if p.is_file() and not p.name.startswith("."))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    partial.write_bytes(data)
    partial.replace(path)


def _kept(saved: int) -> str:
    if not saved:
        return "no epoch is saved"
    epochs = "epoch 1 is" if saved == 1 else f"epochs 1-{saved} are"
    return f"{epochs} saved; retry continues from epoch {saved}"


def _failure(outcome: PromptOutcome, graph: ChunkGraph, chunk: _Chunk, device: DeviceSettings, done: int) -> str:
    where = f"epoch {chunk.epoch} of {chunk.epochs} on {device.name}'s ComfyUI"
    if outcome.status == "interrupted":
        return f"{where} was interrupted on ComfyUI itself ({_kept(done)})"
    failure = outcome.failure
    if failure is None:
        return f"{where} failed ({_kept(done)})"
    if failure.node_id and not failure.node_title:
        title = graph.graph.get(failure.node_id, {}).get("_meta", {}).get("title")
        failure = dataclasses.replace(failure, node_title=title)
    return f"{where} failed: {failure.describe()} ({_kept(done)})"


__all__ = [
    "ChunkGraph",
    "ComfyNativeTrainer",
    "ComfyTrainingFailed",
    "chunk_graph",
    "saved_lora_name",
    "trained_steps",
]
