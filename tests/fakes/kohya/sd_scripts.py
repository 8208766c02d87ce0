"""A fake kohya sd-scripts LoRA trainer: what `train_network.py` / `sdxl_train_network.py` show a wrapper.

Started the way the studio starts the real scripts (its own Python, in the run folder, the real argument
names; arguments it does not know are ignored, as the real parser would have accepted them). It reads the
dataset TOML (images x `num_repeats` / batch size = steps per epoch), prints kohya's stdout (`epoch n/N`) and
tqdm's `steps` bar with `avr_loss` on stderr (redrawn with `\\r`, flushed as tqdm does), and writes what
sd-scripts writes (train_util l.90-99, 5771-5783, 6572-6577):

* `<output_dir>/<output_name>-<epoch:06d>.safetensors` after each epoch but the last, and
  `<output_name>.safetensors` at the end: real small safetensors LoRAs with kohya's `ss_*` metadata, written
  in two parts (a watcher can see a half-written file, as with the real trainer);
* `<output_dir>/sample/<output_name>_e<epoch:06d>_<prompt:02d>_<YYYYmmddHHMMSS>_<seed>.png` per line of
  `--sample_prompts`, each epoch, before that epoch's file when it is the last (as kohya orders them).

`--network_weights` loads an earlier LoRA (refused when it is not a readable safetensors file, as torch would)
and the run continues its loss curve from that file's `ss_epoch`; epoch numbers start at 1 again, as the real
scripts number epochs within one process.

Environment knobs: `FAKE_KOHYA_STEP_SECONDS` (pace, default 0.02), `FAKE_KOHYA_DIE_AT_EPOCH` (a traceback and
exit status 1 halfway through that epoch), `FAKE_KOHYA_DIE_WRITING_EPOCH` (the same after writing half of that
epoch's file), `FAKE_KOHYA_HANG_AT_EPOCH` (stop halfway through that epoch, ignoring SIGTERM from its start:
only SIGKILL ends it).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import re
import signal
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import save
from tqdm import tqdm

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pretrained_model_name_or_path", required=True)
    parser.add_argument("--dataset_config", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--output_name", default="last")
    parser.add_argument("--save_model_as", default="safetensors")
    parser.add_argument("--network_module", required=True)
    parser.add_argument("--network_dim", type=int, default=4)
    parser.add_argument("--network_alpha", type=float, default=1.0)
    parser.add_argument("--network_weights")
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--unet_lr", type=float)
    parser.add_argument("--text_encoder_lr", type=float)
    parser.add_argument("--optimizer_type", default="AdamW")
    parser.add_argument("--max_train_epochs", type=int)
    parser.add_argument("--max_train_steps", type=int, default=1600)
    parser.add_argument("--save_every_n_epochs", type=int)
    parser.add_argument("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--sample_prompts")
    parser.add_argument("--sample_every_n_epochs", type=int)
    parser.add_argument("--sample_sampler", default="ddim")
    parser.add_argument("--seed", type=int)
    for flag in ("gradient_checkpointing", "cache_latents", "cache_text_encoder_outputs", "network_train_unet_only"):
        parser.add_argument(f"--{flag}", action="store_true")
    known, _unknown = parser.parse_known_args(argv)
    return known


def main(*, sdxl: bool, argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.cache_text_encoder_outputs and not args.network_train_unet_only:
        # sdxl_train_network.py asserts this (docs/sdxl_train_network.md l.200).
        print(
            "AssertionError: network for Text Encoder cannot be trained with caching Text Encoder outputs",
            file=sys.stderr,
        )
        return 1
    if args.save_model_as != "safetensors":
        print(f"fake sd-scripts writes safetensors only, not {args.save_model_as}", file=sys.stderr)
        return 2
    step_seconds = float(os.environ.get("FAKE_KOHYA_STEP_SECONDS", "0.02"))
    die_at = int(os.environ.get("FAKE_KOHYA_DIE_AT_EPOCH", "0"))
    hang_at = int(os.environ.get("FAKE_KOHYA_HANG_AT_EPOCH", "0"))
    die_writing = int(os.environ.get("FAKE_KOHYA_DIE_WRITING_EPOCH", "0"))

    print("prepare tokenizer")
    checkpoint = Path(args.pretrained_model_name_or_path)
    if not checkpoint.is_file():
        return _crash(f"FileNotFoundError: [Errno 2] No such file or directory: '{checkpoint}'")
    images, repeats, batch_size = _dataset(Path(args.dataset_config))
    if images == 0:
        return _crash("ValueError: No data found. Please verify arguments (the dataset config's image_dir)")
    steps_per_epoch = math.ceil(images * repeats / batch_size)
    epochs = args.max_train_epochs or math.ceil(args.max_train_steps / steps_per_epoch)
    total_steps = steps_per_epoch * epochs
    print(f"loading model for process 0/1 from {checkpoint}")
    start_epoch = 0
    if args.network_weights:
        try:
            with safe_open(args.network_weights, framework="numpy") as handle:
                start_epoch = int((handle.metadata() or {}).get("ss_epoch", "0"))
        except Exception as exc:
            return _crash(f"safetensors_rust.SafetensorError: Error while deserializing header: {exc}")
        print(f"load network weights from {args.network_weights}: <All keys matched successfully>")
    prompts = _prompts(Path(args.sample_prompts)) if args.sample_prompts else []
    print("running training / 学習開始")
    print(f"  num train images * repeats / 学習画像の数×繰り返し回数: {images * repeats}")  # noqa: RUF001 (kohya's text)
    print(f"  num batches per epoch / 1epochのバッチ数: {steps_per_epoch}")
    print(f"  num epochs / epoch数: {epochs}")
    print(f"  batch size per device / バッチサイズ: {batch_size}")
    print(f"  total optimization steps / 学習ステップ数: {total_steps}")

    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    bar_started = time.time()
    step = 0
    loss_sum = 0.0
    _bar(0, total_steps, started, None)
    for epoch in range(1, epochs + 1):
        print(f"\nepoch {epoch}/{epochs}\n")
        if epoch == hang_at:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # from here on stuck in a CUDA call that ignores it
        for in_epoch in range(1, steps_per_epoch + 1):
            if epoch == die_at and in_epoch > steps_per_epoch // 2:
                sys.stderr.write("\n")
                return _crash("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 20.00 MiB")
            if epoch == hang_at and in_epoch > steps_per_epoch // 2:
                while True:
                    time.sleep(1)
            time.sleep(step_seconds)
            step += 1
            loss_sum += _loss(start_epoch + (step - 1) / steps_per_epoch)
            _bar(step, total_steps, started, loss_sum / step)
        last = epoch == epochs
        if args.save_every_n_epochs and epoch % args.save_every_n_epochs == 0 and not last:
            path = output / f"{args.output_name}-{epoch:06d}.safetensors"
            if epoch == die_writing:
                _save_lora(path, args, sdxl, epoch, step, images, partial=True)
                return _crash("OSError: [Errno 28] No space left on device")
            _save_lora(path, args, sdxl, epoch, step, images)
        if args.sample_every_n_epochs and epoch % args.sample_every_n_epochs == 0:
            _samples(output / "sample", args.output_name, epoch, prompts)
    sys.stderr.write("\n")
    sys.stderr.flush()
    _save_lora(output / f"{args.output_name}.safetensors", args, sdxl, epochs, step, images)
    print(f"model saved. elapsed {time.time() - bar_started:.1f}s")
    return 0


def _crash(last_line: str) -> int:
    print("Traceback (most recent call last):", file=sys.stderr)
    print('  File "train_network.py", line 1115, in train', file=sys.stderr)
    print(last_line, file=sys.stderr, flush=True)
    return 1


def _dataset(config: Path) -> tuple[int, int, int]:
    """(images, repeats of the first subset, batch size) of a kohya dataset TOML; image dirs relative to the
    working folder, as kohya resolves them."""
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    general = data.get("general", {})
    images = 0
    repeats = 1
    batch_size = int(general.get("batch_size", 1))
    for dataset in data.get("datasets", []):
        batch_size = int(dataset.get("batch_size", batch_size))
        for subset in dataset.get("subsets", []):
            repeats = int(subset.get("num_repeats", general.get("num_repeats", 1)))
            folder = Path(subset["image_dir"])
            found = (
                [path for path in folder.iterdir() if path.suffix.lower() in IMAGE_EXTENSIONS]
                if folder.is_dir()
                else []
            )
            print(f"{folder}: {len(found)} images")
            images += len(found)
    return images, repeats, batch_size


def _prompts(path: Path) -> list[tuple[str, int | None]]:
    """(prompt, seed) per line of a kohya `.txt` prompts file: `#` lines are comments, flags after ` --`."""
    prompts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        seed = re.search(r"(?:^| )--d (\d+)", line)
        prompts.append((line.split(" --")[0], int(seed[1]) if seed else None))
    return prompts


def _loss(epochs_done: float) -> float:
    return 0.05 + 0.1 * math.exp(-epochs_done / 3)


def _bar(step: int, total: int, started: float, loss: float | None) -> None:
    elapsed = time.monotonic() - started
    postfix = f"avr_loss={loss:.3g}" if loss is not None else None
    rate = step / elapsed if step and elapsed > 0 else None
    meter = tqdm.format_meter(step, total, elapsed, prefix="steps", postfix=postfix, rate=rate, ncols=None)
    sys.stderr.write("\r" + meter)
    sys.stderr.flush()


def _save_lora(
    path: Path, args: argparse.Namespace, sdxl: bool, epoch: int, step: int, images: int, *, partial: bool = False
) -> None:
    dim = args.network_dim
    rng = np.random.default_rng(epoch)
    tensors = {}
    for module in ("lora_unet_down_blocks_0_attentions_0_proj_in", "lora_unet_up_blocks_3_attentions_2_proj_out"):
        tensors[f"{module}.lora_down.weight"] = rng.standard_normal((dim, 32)).astype(np.float16)
        tensors[f"{module}.lora_up.weight"] = np.zeros((32, dim), dtype=np.float16)
        tensors[f"{module}.alpha"] = np.array(args.network_alpha, dtype=np.float16)
    metadata = {
        "ss_epoch": str(epoch),
        "ss_steps": str(step),
        "ss_output_name": args.output_name,
        "ss_network_module": args.network_module,
        "ss_network_dim": str(dim),
        "ss_network_alpha": str(args.network_alpha),
        "ss_base_model_version": "sdxl_base_v1-0" if sdxl else "sd_v1",
        "ss_learning_rate": str(args.learning_rate),
        "ss_optimizer": args.optimizer_type,
        "ss_num_train_images": str(images),
        "ss_sd_model_name": Path(args.pretrained_model_name_or_path).name,
        "ss_training_finished_at": str(time.time()),
    }
    data = save(tensors, metadata)
    half = len(data) // 2
    with path.open("wb") as file:  # in place, not renamed: sd-scripts writes its files this way
        file.write(data[:half])
        file.flush()
        if partial:  # the disk filled up halfway
            return
        time.sleep(0.05)
        file.write(data[half:])


def _samples(folder: Path, name: str, epoch: int, prompts: list[tuple[str, int | None]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    for index, (_prompt, seed) in enumerate(prompts):
        colour = ((epoch * 60) % 256, (index * 90) % 256, 128)
        suffix = f"_{seed}" if seed is not None else ""
        Image.new("RGB", (64, 64), colour).save(folder / f"{name}_e{epoch:06d}_{index:02d}_{stamp}{suffix}.png")
