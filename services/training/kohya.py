"""LoRA training with kohya sd-scripts, run as a child of the studio on the machine whose GPU trains.

A device with `kohya_dir` set gets a worker for `lora.train` jobs (one at a time: a GPU trains one LoRA). The
job runs `train_network.py` (SD 1.5) or `sdxl_train_network.py` (SDXL and its families) with the run's
parameters, in the run's folder, and follows it the ways sd-scripts allows (kohya_progress): the tqdm `steps`
bar on stderr, `epoch n/N` on stdout, and the output folder, where each epoch's LoRA and samples appear. sd-scripts
writes its files in place, so a file counts once its size and time stay the same over one look (a second), or
once sd-scripts has begun the next epoch (it saves before it goes on). The run's log (`kohya.log` in its folder)
gets every line but most redraws of the bar; a failed job's error ends with the log's last lines.

A trainer that dies leaves its saved epochs in the run; a retry continues from the last one with
`--network_weights` and the epochs left (sd-scripts' own `--resume` is fragile: sd-scripts #840, #954, #1921).
sd-scripts numbers the epochs of each start from 1, so the epochs of a continued run are shifted by the epochs
already done.
"""

from __future__ import annotations

import asyncio
import codecs
import collections
import contextlib
import logging
import os
import shlex
import shutil
import signal
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.bible import Characters
from services.children import spawn
from services.errors import Invalid, StudioError
from services.jobs.handlers import ProgressSink
from services.training.kohya_progress import EpochStarted, OutputLines, StepProgress, describe, parse_line
from services.training.presets import TrainingParams
from services.training.runs import TRAIN_JOB, TrainingRuns
from studio.config import DeviceSettings
from studio.models import Job

log = logging.getLogger(__name__)

TRAIN_SCRIPTS = {"sd15": "train_network.py", "sdxl": "sdxl_train_network.py"}
STOP_GRACE_SECONDS = 10.0  # SIGTERM, then SIGKILL: sd-scripts has no handler, but a CUDA call can hold it
WATCH_SECONDS = 1.0
REPORT_SECONDS = 1.0  # progress to the job and the run: tqdm redraws up to 10 times a second
LOG_NAME = "kohya.log"
OUTPUT_FOLDER = "output"
PROMPTS_NAME = "sample_prompts.txt"
DATASET_TOML = Path("dataset") / "dataset.toml"
FAILURE_LINES = 20
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}  # what sd-scripts' dataset loader reads


class KohyaFailed(StudioError):
    """sd-scripts ended without finishing the run; the message carries the end of its log."""


def checkpoint_path(params: TrainingParams) -> Path:
    """The checkpoint file sd-scripts trains on. Invalid: the run names it by file name only (sd-scripts reads
    a file on this machine; which folder holds it is not known to the studio)."""
    path = Path(params.base_checkpoint)
    if not path.is_absolute():
        raise Invalid(
            "base_checkpoint",
            f"kohya sd-scripts reads the checkpoint from this machine's disk: set the device's checkpoints folder "
            f"(checkpoints_dir) in Settings → Connections, or name the checkpoint file's full path on this machine "
            f"(e.g. /models/checkpoints/{path.name}) instead of {params.base_checkpoint!r}",
        )
    return path


def kohya_command(
    *,
    python: Path,
    kohya_dir: Path,
    params: TrainingParams,
    checkpoint: Path,
    output_name: str,
    epochs: int,
    network_weights: Path | None = None,
) -> list[str]:
    """sd-scripts' command line for a run (a list: no shell reads it), relative to the run's folder."""
    command = [
        str(python),
        str(kohya_dir / TRAIN_SCRIPTS[params.family]),
        *("--dataset_config", str(DATASET_TOML)),
        *("--pretrained_model_name_or_path", str(checkpoint)),
        *("--output_dir", OUTPUT_FOLDER),
        *("--output_name", output_name),
        *("--save_model_as", "safetensors"),
        *("--network_module", "networks.lora"),
        *("--network_dim", str(params.rank)),
        *("--network_alpha", _number(params.alpha)),
        *("--learning_rate", _number(params.learning_rate)),
    ]
    if params.unet_lr is not None:
        command += ["--unet_lr", _number(params.unet_lr)]
    if params.text_encoder_lr is not None:
        command += ["--text_encoder_lr", _number(params.text_encoder_lr)]
    command += [
        *("--optimizer_type", params.optimizer),
        *("--max_train_epochs", str(epochs)),
        *("--save_every_n_epochs", "1"),
        *("--mixed_precision", params.mixed_precision),
        *("--sample_prompts", PROMPTS_NAME),
        *("--sample_every_n_epochs", str(params.sample_every_epochs)),
        *("--sample_sampler", "euler_a"),
    ]
    for flag in ("gradient_checkpointing", "cache_latents", "cache_text_encoder_outputs", "network_train_unet_only"):
        if getattr(params, flag):
            command.append(f"--{flag}")
    if network_weights is not None:
        command += ["--network_weights", str(network_weights)]
    return command


def _number(value: float) -> str:
    return f"{value:g}"


class KohyaTrainer:
    """Runs `lora.train` jobs with kohya sd-scripts on the device's machine (RemoteJobHandler)."""

    kind = TRAIN_JOB
    app = "kohya"

    def __init__(
        self,
        *,
        runs: TrainingRuns,
        characters: Characters,
        stop_grace_seconds: float = STOP_GRACE_SECONDS,
        watch_seconds: float = WATCH_SECONDS,
    ) -> None:
        self._runs = runs
        self._characters = characters
        self.stop_grace_seconds = stop_grace_seconds
        self._watch_seconds = watch_seconds

    def app_url(self, device: DeviceSettings) -> str | None:
        return str(device.kohya_dir) if device.kohya_dir is not None else None

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        """Train the job's run to its last epoch (continuing after its last saved one). Invalid: the device or
        the run cannot train with sd-scripts here (the message names the setting); KohyaFailed: sd-scripts
        stopped with an error (its last log lines say why; saved epochs stay in the run)."""
        run_id = job.payload.get("run_id")
        if not isinstance(run_id, int):
            raise Invalid("payload.run_id", f"a training job names its run, not {run_id!r}")
        run = await self._runs.get(run_id)
        params = TrainingParams.model_validate(run.params)
        character = await self._characters.get(run.character_id)
        done, last_file = await self._runs.resume_point(run_id)
        if done >= params.epochs:
            return {"run_id": run_id, "epochs": done, "device": device.name}
        if last_file is None:
            done = 0  # nothing to continue from: sd-scripts starts over
        run_dir = self._runs.run_dir(run_id)
        checkpoint = checkpoint_path(params)
        python, script = device.trainer_python, device.kohya_dir
        if python is None or script is None:
            raise Invalid("device", f"device {device.name} has no kohya_dir: set it to the sd-scripts folder")
        epochs = params.epochs - done
        command = kohya_command(
            python=python,
            kohya_dir=script,
            params=params,
            checkpoint=checkpoint,
            output_name=character.slug,
            epochs=epochs,
            network_weights=last_file,
        )
        expected = await asyncio.to_thread(_prepare, run_dir, device, command, checkpoint, last_file)
        per_epoch = await asyncio.to_thread(steps_per_epoch, run_dir)
        follow = _Follow(
            run_id=run_id,
            runs=self._runs,
            progress=progress,
            done=done,
            epochs_total=params.epochs,
            epochs=epochs,
            log=RunLog(run_dir / LOG_NAME),
        )
        watch = _EpochWatch(
            output=run_dir / OUTPUT_FOLDER,
            name=character.slug,
            epochs=epochs,
            samples_per_epoch=expected,
            sample_every=params.sample_every_epochs,
        )
        await self._runs.begin(run_id, per_epoch * params.epochs, params.epochs, str(run_dir / LOG_NAME))
        await follow.log.write([f"=== {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC: {shlex.join(command)}"])
        await progress(
            done / params.epochs, f"starting sd-scripts on {device.name} (epoch {done + 1} of {params.epochs})"
        )
        began = time.monotonic()
        returncode = await self._train(command, run_dir, follow, watch)
        seconds = time.monotonic() - began
        await follow.log.write([f"=== sd-scripts ended with status {returncode} after {seconds:.1f} s"])
        saved = done + len(watch.reported)
        if returncode != 0 or saved < params.epochs:
            if returncode < 0:  # the kernel's OOM killer, or someone's kill -9
                how = f"was killed by {signal.Signals(-returncode).name}"
            else:
                how = f"exited with status {returncode}" if returncode else "ended without saving every epoch"
            kept = (
                f"{'epoch 1 is' if saved == 1 else f'epochs 1-{saved} are'} saved; retry continues from epoch {saved}"
                if saved
                else "no epoch is saved"
            )
            tail = "\n".join(follow.tail)
            raise KohyaFailed(
                f"kohya sd-scripts {how} in epoch {follow.epoch or done + 1} of {params.epochs} ({kept}). "
                f"The end of its log ({run_dir / LOG_NAME}):\n{tail}"
            )
        return {"run_id": run_id, "epochs": saved, "device": device.name}

    async def _train(self, command: list[str], run_dir: Path, follow: _Follow, watch: _EpochWatch) -> int:
        """Run sd-scripts to its end, reporting as it goes; cancelling stops it before re-raising."""
        env = os.environ | {"PYTHONUNBUFFERED": "1"}  # else print() output waits in a pipe buffer for minutes
        try:
            process = await spawn(
                command[0],
                *command[1:],
                cwd=run_dir,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: data loader workers stop with it
            )
        except FileNotFoundError as exc:
            raise Invalid(
                "kohya_python",
                f"{command[0]} is not an executable Python: set the device's kohya_python to sd-scripts' Python "
                "(default: <kohya_dir>/venv/bin/python)",
            ) from exc
        readers = [
            asyncio.create_task(follow.read(process.stdout)),  # type: ignore[arg-type]
            asyncio.create_task(follow.read(process.stderr)),  # type: ignore[arg-type]
        ]
        exited = asyncio.create_task(process.wait())
        try:
            while not exited.done():
                await asyncio.wait({exited}, timeout=self._watch_seconds)
                for reader in readers:  # a reader that failed no longer drains its pipe: sd-scripts would block
                    if reader.done() and reader.exception() is not None:
                        raise reader.exception()  # type: ignore[misc]
                await follow.report()  # first: an epoch's loss is the latest the run has
                await self._report_epochs(watch, follow, exited=False)
            await asyncio.gather(*readers)
            await follow.finish()
            await follow.report()
            await self._report_epochs(watch, follow, exited=True)
            return exited.result()
        except BaseException:
            await _stop(process, self.stop_grace_seconds)
            for task in (*readers, exited):
                task.cancel()
            await asyncio.gather(*readers, exited, return_exceptions=True)
            raise

    async def _report_epochs(self, watch: _EpochWatch, follow: _Follow, *, exited: bool) -> None:
        snapshot = await asyncio.to_thread(_snapshot, watch.output)
        for epoch, lora, samples in watch.ready(snapshot, exited=exited, current_epoch=follow.epoch_local):
            try:
                await self._runs.epoch_saved(follow.run_id, follow.done + epoch, lora, samples)
            except Invalid as exc:
                if not exited:
                    raise
                # A trainer killed while writing leaves half a file: the epoch is not saved, the run fails after.
                del watch.reported[watch.reported.index(epoch) :]
                note = f"(studio) epoch {follow.done + epoch} is not kept: {exc.message}"
                follow.tail.append(note)
                await follow.log.write([note])
                break


async def _stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM to sd-scripts' process group, SIGKILL when it is still there after `grace` seconds."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(grace):
            await process.wait()
        return
    except TimeoutError:
        log.warning("sd-scripts (pid %s) ignored SIGTERM for %.1f s: killing it", process.pid, grace)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _prepare(run_dir: Path, device: DeviceSettings, command: list[str], checkpoint: Path, weights: Path | None) -> int:
    """Check what sd-scripts needs (blocking) and empty the output folder; the sample images per epoch."""
    script = Path(command[1])
    if not script.is_file():
        raise Invalid(
            "kohya_dir",
            f"{device.kohya_dir} has no {script.name}: set device {device.name}'s kohya_dir to the sd-scripts "
            "folder (git clone https://github.com/kohya-ss/sd-scripts)",
        )
    if not checkpoint.is_file():
        raise Invalid("base_checkpoint", f"{checkpoint} does not exist on this machine: name an existing checkpoint")
    if not (run_dir / DATASET_TOML).is_file():
        raise Invalid("run", f"{run_dir / DATASET_TOML} is missing: start the training run again to export its images")
    if weights is not None and not weights.is_file():
        raise Invalid("run", f"the last saved epoch's file {weights} is missing: start the run again from scratch")
    output = run_dir / OUTPUT_FOLDER
    if weights is not None and output in weights.parents:
        raise Invalid("run", f"the last saved epoch's file {weights} is in the output folder sd-scripts rewrites")
    # Files of an earlier attempt are in the run already (epoch_saved); left here they would look new.
    shutil.rmtree(output, ignore_errors=True)
    output.mkdir(parents=True)
    prompts = run_dir / PROMPTS_NAME
    if not prompts.is_file():
        return 0
    lines = prompts.read_text(encoding="utf-8").splitlines()
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))


def steps_per_epoch(run_dir: Path) -> int:
    """Steps an epoch takes by the dataset config (images x num_repeats / batch size per dataset), before
    sd-scripts says (its bar corrects it: bucketing can add steps); 0 when it cannot tell (blocking)."""
    try:
        config = tomllib.loads((run_dir / DATASET_TOML).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return 0
    general = config.get("general", {})
    steps = 0
    for dataset in config.get("datasets", []):
        batch = max(1, int(dataset.get("batch_size", general.get("batch_size", 1))))
        seen = 0
        for subset in dataset.get("subsets", []):
            folder = run_dir / subset.get("image_dir", "")  # relative ones from where sd-scripts starts
            images = sum(1 for p in folder.glob("*") if p.suffix.lower() in _IMAGE_SUFFIXES) if folder.is_dir() else 0
            seen += images * int(subset.get("num_repeats", general.get("num_repeats", 1)))
        steps += -(-seen // batch)
    return steps


def _snapshot(output: Path) -> dict[Path, tuple[int, int]]:
    """(size, modification time) of the LoRA files and sample images in sd-scripts' output folder (blocking)."""
    found: dict[Path, tuple[int, int]] = {}
    for folder, pattern in ((output, "*.safetensors"), (output / "sample", "*.png")):
        for path in folder.glob(pattern):
            with contextlib.suppress(FileNotFoundError):
                stat = path.stat()
                found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclass
class _EpochWatch:
    """Which epochs sd-scripts has finished writing: the LoRA file `<name>-NNNNNN.safetensors` (the last epoch
    is `<name>.safetensors`) and the epoch's samples `sample/<name>_eNNNNNN_PP_<time>_<seed>.png`."""

    output: Path
    name: str
    epochs: int
    samples_per_epoch: int
    sample_every: int
    reported: list[int] = field(default_factory=list)
    _previous: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def ready(
        self, snapshot: dict[Path, tuple[int, int]], *, exited: bool, current_epoch: int
    ) -> list[tuple[int, Path, list[Path]]]:
        """The epochs (sd-scripts' numbers) complete in `snapshot` and not reported before, in order."""
        stable = {
            path for path, seen in snapshot.items() if seen[0] > 0 and (exited or self._previous.get(path) == seen)
        }
        self._previous = snapshot
        found = []
        for epoch in range(len(self.reported) + 1, self.epochs + 1):
            last = epoch == self.epochs
            lora = self.output / (f"{self.name}.safetensors" if last else f"{self.name}-{epoch:06d}.safetensors")
            # sd-scripts saves synchronously: once the next epoch has begun, this epoch's file is complete.
            finished = exited or current_epoch > epoch
            if lora not in stable and not (finished and lora in snapshot):
                break
            prefix = f"{self.name}_e{epoch:06d}_"
            samples = sorted(path for path in snapshot if path.parent.name == "sample" and path.name.startswith(prefix))
            expected = self.samples_per_epoch if epoch % self.sample_every == 0 else 0
            # Samples follow an epoch's file, except the last epoch's, which precede the final file.
            if not (finished or last) and (len(samples) < expected or not all(path in stable for path in samples)):
                break
            self.reported.append(epoch)
            found.append((epoch, lora, samples))
        return found


class RunLog:
    """The run's log file: sd-scripts' lines appended as they come (earlier attempts stay above)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def write(self, lines: list[str]) -> None:
        if not lines:
            return
        async with self._lock:
            await asyncio.to_thread(self._append, "".join(f"{line}\n" for line in lines))

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            file.write(text)


@dataclass
class _Follow:
    """sd-scripts' output as it comes: into the log, and what it says into progress (throttled)."""

    run_id: int
    runs: TrainingRuns
    progress: ProgressSink
    done: int  # epochs saved before this start
    epochs_total: int
    epochs: int  # epochs of this start
    log: RunLog
    epoch_local: int = 0
    step: StepProgress | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=FAILURE_LINES))
    _bar_logged: float = 0.0
    _last_bar: str = ""  # the latest redraw, when the log does not have it yet
    _reported: float = 0.0
    _pending: bool = False

    @property
    def epoch(self) -> int | None:
        return self.done + self.epoch_local if self.epoch_local else None

    async def read(self, stream: asyncio.StreamReader) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a read can split a character
        lines = OutputLines()
        while chunk := await stream.read(65536):
            await self._take(lines.feed(decoder.decode(chunk)))
            latest = parse_line(lines.unfinished)
            if isinstance(latest, StepProgress) and latest != self.step:  # complete: it ends with `]`
                self.step = latest
                self._pending = True
        await self._take(lines.feed(decoder.decode(b"", final=True)) + lines.flush())

    async def _take(self, lines: list[str]) -> None:
        logged = []
        for line in lines:
            parsed = parse_line(line)
            if isinstance(parsed, StepProgress):
                if parsed != self.step:  # the redraw may have been read as the unfinished tail already
                    self.step = parsed
                    self._pending = True
                # One redraw every few seconds in the log (and the latest in the tail), not all of them.
                if self.tail and _is_bar(self.tail[-1]):
                    self.tail[-1] = line
                else:
                    self.tail.append(line)
                if time.monotonic() - self._bar_logged >= 10 or parsed.step == parsed.total:
                    self._bar_logged = time.monotonic()
                    logged.append(line)
                    self._last_bar = ""
                else:
                    self._last_bar = line
                continue
            if isinstance(parsed, EpochStarted):
                self.epoch_local = parsed.epoch
                self._pending = True
            logged.append(line)
            self.tail.append(line)
        await self.log.write(logged)
        if self._pending and time.monotonic() - self._reported >= REPORT_SECONDS:
            await self.report()

    async def finish(self) -> None:
        """At the end: the last redraw of the bar into the log, if it is not there yet."""
        if self._last_bar:
            await self.log.write([self._last_bar])
            self._last_bar = ""

    async def report(self) -> None:
        """Tell the job and the run where training is, when something changed since the last time."""
        if not self._pending or self.step is None:
            return
        self._pending = False
        self._reported = time.monotonic()
        step = self.step
        per_epoch = max(1, step.total // max(1, self.epochs))
        steps_total = per_epoch * self.epochs_total
        global_step = self.done * per_epoch + step.step
        epoch = self.epoch or self.done + 1
        await self.runs.progress(
            self.run_id,
            step=global_step,
            steps_total=steps_total,
            epoch=epoch,
            loss=step.loss,
            speed=step.speed,
            eta_seconds=step.eta_seconds,
        )
        message = describe(
            epoch=epoch, epochs=self.epochs_total, step=global_step, steps=steps_total, loss=step.loss, speed=step.speed
        )
        await self.progress(min(1.0, global_step / max(1, steps_total)), message)


def _is_bar(line: str) -> bool:
    return isinstance(parse_line(line), StepProgress)
