"""Fake ComfyUI, the training side: ComfyUI's native LoRA training nodes in both naming generations.

`FakeComfyUI(training="0.3.64")` offers what 0.3.41-0.3.64 register (comfy_extras/nodes_train.py at a125cd8):
`LoadImageSetFromFolderNode`, `LoadImageTextSetFromFolderNode`, `TrainLoraNode`, `SaveLoRANode`,
`LoraModelLoader`, `LossGraphNode`, with the input specs a live 0.3.64 reports
(../shared/reference/comfyui-training-nodes-0.3.64.json). `training="v3"` offers the names after PR #10708
(V3 schema, comfy_extras/nodes_dataset.py + nodes_train.py): `LoadImageDataSetFromFolder`,
`LoadImageTextDataSetFromFolder`, `MakeTrainingDataset`, `TrainLoraNode`, `SaveLoRA`, `LoraModelLoader`,
`LossGraphNode`.

What the real nodes do, and the fake with them:

* The folder loaders read `input/<folder>/`: images (png, jpg, jpeg, webp) at its top level, and in each
  subfolder, whose `<digits>_` prefix makes it a kohya repeat folder (its files listed that many times; a
  subfolder without the prefix counts once, unlike kohya). A caption is the same-stem `.txt`, stripped; a
  missing one is "". The `folder` choices are every subfolder of `input/`, recursively ("training",
  "training/10_mira"): the files come from `POST /upload/image` with `subfolder=training/10_mira`.
* 0.3.64 traps kept: images must match the first image's size unless `resize_method` is set; an empty
  caption is encoded twice (`append(empty_cond)` then `extend(...)`), so the conditioning count exceeds the
  image count and TrainLoraNode fails with "Number of positive conditions (N) does not match number of
  images (M)." V3's MakeTrainingDataset encodes one conditioning per text, so empty captions only weaken it.
* The loaders have no IS_CHANGED: files uploaded again into the same folder are not seen by a prompt whose
  loader the node cache still holds (use a new folder, or `/free` with free_memory).
* TrainLoraNode takes `steps * training_step_seconds`. 0.3.64 trains under `tqdm.trange` only: no
  `progress` events and no interrupt check until the next node starts (so an interrupt during training
  stops the prompt at the save: no file). V3 updates a `comfy.utils.ProgressBar` per step: `progress`
  events (value/max = step/steps) and an interrupt seen after the step in progress.
* `existing_lora` is a choice of `models/loras` + "[None]"; the prior step count is parsed from the name as
  the node does (`name.split("_steps_")[0].split("_")[-1]`), so a name without `_<N>_steps_` fails with
  its ValueError. The `steps` output is the chunk's steps plus those.
* SaveLoRA(Node) writes `output/<prefix>_<steps>_steps_<counter:05>_.safetensors` (no `_<steps>_steps` when
  its optional `steps` input is not linked) with `folder_paths.get_save_image_path`'s counter — which reads
  the digits after the prefix, so after `x_16_steps_00001_` the next file of prefix `x` is counter 17. It
  returns `{}`: no `executed` event and nothing in the history's outputs (the studio names the file
  itself). The file is ComfyUI's `output/`, not `models/loras/`: `/models/loras` does not list it.
  The weights are a small valid safetensors: `diffusion_model.<module>.lora_down.weight` (rank x in),
  `.lora_up.weight` (out x rank), `.alpha`, and `.diff_b` biases; bf16 is stored as float16 (numpy has no
  bfloat16), fp32 as float32. Values follow the seed and the total steps.
* LossGraphNode writes `temp/<prefix>_<YYYYmmdd_HHMMSS>.png` and reports it as a temp image.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from safetensors.numpy import save_file

from tests.fakes.comfyui_media import RenderError, save_path

__all__ = [
    "GENERATIONS",
    "DatasetLoad",
    "TrainingFailure",
    "TrainingNodes",
    "existing_steps",
    "input_subfolders",
    "training_node_specs",
]

GENERATIONS = ("0.3.64", "v3")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
# A few SD1.5 UNet modules, enough for a file every LoRA reader accepts: (module, in features, out features).
_MODULES = (
    ("input_blocks.1.1.transformer_blocks.0.attn1.to_q", 320, 320),
    ("input_blocks.1.1.transformer_blocks.0.attn2.to_k", 768, 320),
    ("middle_block.1.transformer_blocks.0.ff.net.2", 1280, 1280),
)


# --- node specs (the compact format of workflows/comfyui_nodes.json) -------------------------------------


def _int(default: int, low: int, high: int, tooltip: str, step: int | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {"default": default, "min": low, "max": high}
    if step is not None:
        options["step"] = step
    return {**options, "tooltip": tooltip}


_TRAIN_TOOLTIPS = {
    "model": "The model to train the LoRA on.",
    "latents": "The Latents to use for training, serve as dataset/input of the model.",
    "positive": "The positive conditioning to use for training.",
}


def _train_lora(v3: bool) -> dict[str, Any]:
    return {
        "required": {
            "model": "MODEL",
            "latents": "LATENT",
            "positive": "CONDITIONING",
            "batch_size": "INT",
            "grad_accumulation_steps": "INT",
            "steps": "INT",
            "learning_rate": "FLOAT",
            "rank": "INT",
            "optimizer": ["AdamW", "Adam", "SGD", "RMSprop"],
            "loss_function": ["MSE", "L1", "Huber", "SmoothL1"],
            "seed": "INT",
            "training_dtype": ["bf16", "fp32"],
            "lora_dtype": ["bf16", "fp32"],
            "algorithm": ["LoRA", "LoHa", "LoKr", "OFT"],
            "gradient_checkpointing": "BOOLEAN",
            "existing_lora": {"files": ["loras"], "plus_fixed": ["[None]"]},
        },
        "optional": {},
        "outputs": ["MODEL", "LORA_MODEL", "LOSS_MAP", "INT"],
        "output_names": ["model", "lora", "loss_map", "steps"] if v3 else ["model_with_lora", "lora", "loss", "steps"],
        "output_node": False,
        "module": "comfy_extras.nodes_train",
        "schema": "v3" if v3 else "v1",
        "display_name": "Train LoRA",
        "category": "training",
        "experimental": True,
        "constraints": {
            **{name: {"tooltip": tip} for name, tip in _TRAIN_TOOLTIPS.items()},
            "batch_size": _int(1, 1, 10000, "The batch size to use for training.", 1),
            "grad_accumulation_steps": _int(
                1, 1, 1024, "The number of gradient accumulation steps to use for training.", 1
            ),
            "steps": _int(16, 1, 100000, "The number of steps to train the LoRA for."),
            "learning_rate": {
                "default": 0.0005,
                "min": 1e-07,
                "max": 1.0,
                "step": 1e-07 if v3 else 1e-06,
                "tooltip": "The learning rate to use for training.",
            },
            "rank": _int(8, 1, 128, "The rank of the LoRA layers."),
            "optimizer": {"default": "AdamW", "tooltip": "The optimizer to use for training."},
            "loss_function": {"default": "MSE", "tooltip": "The loss function to use for training."},
            "seed": _int(
                0,
                0,
                18446744073709551615,
                "The seed to use for training (used in generator for LoRA weight initialization and noise sampling)",
            ),
            "training_dtype": {"default": "bf16", "tooltip": "The dtype to use for training."},
            "lora_dtype": {"default": "bf16", "tooltip": "The dtype to use for lora."},
            "algorithm": {"default": "LoRA", "tooltip": "The algorithm to use for training."},
            "gradient_checkpointing": {"default": True, "tooltip": "Use gradient checkpointing for training."},
            "existing_lora": {
                "default": "[None]",
                "tooltip": "The existing LoRA to append to. Set to None for new LoRA.",
            },
        },
    }


def _save_lora(v3: bool) -> dict[str, Any]:
    return {
        "required": {"lora": "LORA_MODEL", "prefix": "STRING"},
        "optional": {"steps": "INT"},
        "outputs": [],
        "output_names": [],
        "output_node": True,
        "module": "comfy_extras.nodes_train",
        "schema": "v3" if v3 else "v1",
        "display_name": "Save LoRA Weights",
        "category": "loaders",
        "experimental": True,
        "constraints": {
            "lora": {"tooltip": "The LoRA model to save. Do not use the model with LoRA layers."},
            "prefix": {
                "default": "loras/ComfyUI_trained_lora",
                "tooltip": "The prefix to use for the saved LoRA file.",
            },
            "steps": {
                "forceInput": True,
                "tooltip": "Optional: The number of steps to LoRA has been trained for, used to name the saved file.",
            },
        },
    }


def _lora_model_loader(v3: bool) -> dict[str, Any]:
    return {
        "required": {"model": "MODEL", "lora": "LORA_MODEL", "strength_model": "FLOAT"},
        "optional": {},
        "outputs": ["MODEL"],
        "output_names": ["model" if v3 else "MODEL"],
        "output_node": False,
        "module": "comfy_extras.nodes_train",
        "schema": "v3" if v3 else "v1",
        "display_name": "Load LoRA Model",
        "description": "Load Trained LoRA weights from Train LoRA node.",
        "category": "loaders",
        "experimental": True,
        "output_tooltips": ["The modified diffusion model."],
        "constraints": {
            "model": {"tooltip": "The diffusion model the LoRA will be applied to."},
            "lora": {"tooltip": "The LoRA model to apply to the diffusion model."},
            "strength_model": {
                "default": 1.0,
                "min": -100.0,
                "max": 100.0,
                "step": 0.01,
                "tooltip": "How strongly to modify the diffusion model. This value can be negative.",
            },
        },
    }


def _loss_graph(v3: bool) -> dict[str, Any]:
    return {
        "required": {"loss": "LOSS_MAP", "filename_prefix": "STRING"},
        "optional": {},
        "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
        "outputs": [],
        "output_names": [],
        "output_node": True,
        "module": "comfy_extras.nodes_train",
        "schema": "v3" if v3 else "v1",
        "display_name": "Plot Loss Graph",
        "description": "Plots the loss graph and saves it to the output directory.",
        "category": "training",
        "experimental": True,
        "constraints": {
            "loss": {"default": {}, "link_default": True} if not v3 else {"tooltip": "Loss map from training node."},
            "filename_prefix": {"default": "loss_graph"},
        },
    }


_RESIZE = ["None", "Stretch", "Crop", "Pad"]
_FOLDER_TIP = "The folder to load images from."


def _specs_0364() -> dict[str, dict[str, Any]]:
    loader_common = {
        "module": "comfy_extras.nodes_train",
        "schema": "v1",
        "category": "loaders",
        "experimental": True,
        "output_node": False,
    }
    return {
        "LoadImageSetFromFolderNode": {
            **loader_common,
            "required": {"folder": {"input_folders": True}},
            "optional": {"resize_method": _RESIZE},
            "outputs": ["IMAGE"],
            "output_names": ["IMAGE"],
            "display_name": "Load Image Dataset from Folder",
            "description": "Loads a batch of images from a directory for training.",
            "constraints": {"folder": {"tooltip": _FOLDER_TIP}, "resize_method": {"default": "None"}},
        },
        "LoadImageTextSetFromFolderNode": {
            **loader_common,
            "required": {"folder": {"input_folders": True}, "clip": "CLIP"},
            "optional": {"resize_method": _RESIZE, "width": "INT", "height": "INT"},
            "outputs": ["IMAGE", "CONDITIONING"],
            "output_names": ["IMAGE", "CONDITIONING"],
            "display_name": "Load Image and Text Dataset from Folder",
            "description": "Loads a batch of images and caption from a directory for training.",
            "constraints": {
                "folder": {"tooltip": _FOLDER_TIP},
                "clip": {"tooltip": "The CLIP model used for encoding the text."},
                "resize_method": {"default": "None"},
                "width": _int(-1, -1, 10000, "The width to resize the images to. -1 means use the original width.", 1),
                "height": _int(
                    -1, -1, 10000, "The height to resize the images to. -1 means use the original height.", 1
                ),
            },
        },
        "TrainLoraNode": _train_lora(False),
        "SaveLoRANode": _save_lora(False),
        "LoraModelLoader": _lora_model_loader(False),
        "LossGraphNode": _loss_graph(False),
    }


def _specs_v3() -> dict[str, dict[str, Any]]:
    loader_common = {
        "module": "comfy_extras.nodes_dataset",
        "schema": "v3",
        "category": "image",
        "experimental": True,
        "output_node": False,
        "required": {"folder": {"input_folders": True}},
        "optional": {},
    }
    return {
        "LoadImageDataSetFromFolder": {
            **loader_common,
            "outputs": ["IMAGE"],
            "output_names": ["images"],
            "output_is_list": [True],
            "display_name": "Load Image (from Folder)",
            "description": "Load a dataset of images from a specified folder and return a list of images. "
            "Supported formats: PNG, JPG, JPEG, WEBP.",
            "constraints": {"folder": {"tooltip": _FOLDER_TIP}},
        },
        "LoadImageTextDataSetFromFolder": {
            **loader_common,
            "outputs": ["IMAGE", "STRING"],
            "output_names": ["images", "texts"],
            "output_is_list": [True, True],
            "display_name": "Load Image-Text (from Folder)",
            "description": "Load a dataset of pairs of images and text captions from a specified folder and return "
            "them as a list. Supported formats: PNG, JPG, JPEG, WEBP.",
            "constraints": {"folder": {"tooltip": "The folder to load images and text captions from."}},
        },
        "MakeTrainingDataset": {
            "required": {"images": "IMAGE", "vae": "VAE", "clip": "CLIP"},
            "optional": {"texts": "STRING"},
            "outputs": ["LATENT", "CONDITIONING"],
            "output_names": ["latents", "conditioning"],
            "output_is_list": [True, True],
            "output_node": False,
            "module": "comfy_extras.nodes_dataset",
            "schema": "v3",
            "display_name": "Make Training Dataset",
            "category": "dataset",
            "experimental": True,
            "constraints": {
                "images": {"tooltip": "List of images to encode."},
                "vae": {"tooltip": "VAE model for encoding images to latents."},
                "clip": {"tooltip": "CLIP model for encoding text to conditioning."},
                "texts": {
                    "tooltip": "List of text captions. Can be length n (matching images), 1 (repeated for all), "
                    "or omitted (uses empty string)."
                },
            },
        },
        "TrainLoraNode": _train_lora(True),
        "SaveLoRA": _save_lora(True),
        "LoraModelLoader": _lora_model_loader(True),
        "LossGraphNode": _loss_graph(True),
    }


def training_node_specs(generation: str) -> dict[str, dict[str, Any]]:
    """The training nodes' specs of one generation ("0.3.64" or "v3"), to merge into a fake's `node_specs`."""
    if generation == "0.3.64":
        return _specs_0364()
    if generation == "v3":
        return _specs_v3()
    raise ValueError(f"unknown training node generation {generation!r}; choose one of {GENERATIONS}")


def input_subfolders(input_dir: Path) -> list[str]:
    """folder_paths.get_input_subfolders: every folder under input/, recursively, with forward slashes."""
    folders = []
    for root, dirs, _ in os.walk(input_dir):
        dirs.sort()  # os.walk's own order is the file system's; sorted keeps /object_info stable
        relative = os.path.relpath(root, input_dir)
        if relative != ".":
            folders.append(relative.replace(os.sep, "/"))
    return folders


def existing_steps(existing_lora: str) -> int:
    """The step count TrainLoraNode reads from an existing LoRA's name (ValueError like the node's own)."""
    return int(existing_lora.split("_steps_")[0].split("_")[-1])


# --- execution -------------------------------------------------------------------------------------------


class TrainingFailure(Exception):
    """A training node raised while executing: the prompt ends with `execution_error`."""

    def __init__(self, exception_type: str, message: str) -> None:
        super().__init__(message)
        self.exception_type = exception_type


@dataclass(frozen=True)
class DatasetLoad:
    """What one folder loader read (the fake's `dataset_loads` record): paths relative to its folder."""

    folder: str
    files: tuple[str, ...]
    captions: tuple[str, ...]


@dataclass(frozen=True)
class _Images:
    files: tuple[Path, ...]
    captions: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Texts:
    texts: tuple[str, ...]


@dataclass(frozen=True)
class _Batch:
    """Latents or conditionings: only their count matters to the training node."""

    count: int


@dataclass(frozen=True)
class _Lora:
    rank: int
    seed: int
    steps: int  # the total, the existing LoRA's steps included
    dtype: str


@dataclass(frozen=True)
class _Loss:
    values: tuple[float, ...]


# A step reporter: (node_id, step, steps) → awaited after each training step; raises to stop the prompt.
StepHook = Callable[[str, int, int], Awaitable[None]]


@dataclass
class TrainingNodes:
    """Runs one prompt's training nodes. `values` holds each node's outputs by its cache signature, kept by the
    fake between prompts as ComfyUI's node cache keeps outputs, so a cached loader still feeds a new training."""

    generation: str
    input_dir: Path
    output_dir: Path
    temp_dir: Path
    step_seconds: float
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    loads: list[DatasetLoad] = field(default_factory=list)

    def __post_init__(self) -> None:
        # VAEEncode is core, but in 0.3.64's graph it carries the loader's image count to the trainer.
        self.classes = frozenset(training_node_specs(self.generation)) | {"VAEEncode"}

    @property
    def reports_progress(self) -> bool:
        return self.generation == "v3"

    def handles(self, class_type: str) -> bool:
        return class_type in self.classes

    async def run(
        self,
        node_id: str,
        class_type: str,
        inputs: dict[str, Any],
        signatures: dict[str, str],
        on_step: StepHook,
    ) -> dict[str, Any] | None:
        """Execute one node; returns its UI output (None: the node reports none). TrainingFailure: it raised."""

        def linked(name: str) -> Any:
            value = inputs.get(name)
            if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
                outputs = self.values.get(signatures.get(value[0], ""))
                if outputs is not None and isinstance(value[1], int) and value[1] < len(outputs):
                    return outputs[value[1]]
            return None

        ui: dict[str, Any] | None = None
        outputs: tuple[Any, ...] = ()
        if class_type in ("LoadImageSetFromFolderNode", "LoadImageTextSetFromFolderNode"):
            images = await asyncio.to_thread(self._load_folder, str(inputs["folder"]))
            width, height = _size_input(inputs.get("width")), _size_input(inputs.get("height"))
            await asyncio.to_thread(_check_sizes, images.files, str(inputs.get("resize_method", "None")), width, height)
            # 0.3.64 encodes an empty caption twice (append of the empty conditioning, then extend).
            conditionings = sum(2 if caption == "" else 1 for caption in images.captions)
            outputs = (images, _Batch(conditionings))
        elif class_type in ("LoadImageDataSetFromFolder", "LoadImageTextDataSetFromFolder"):
            images = await asyncio.to_thread(self._load_folder, str(inputs["folder"]))
            outputs = (images, _Texts(images.captions))
        elif class_type == "VAEEncode":
            pixels = linked("pixels")
            outputs = (_Batch(len(pixels.files)) if isinstance(pixels, _Images) else None,)
        elif class_type == "MakeTrainingDataset":
            outputs = self._make_dataset(linked("images"), linked("texts"))
        elif class_type == "TrainLoraNode":
            outputs = await self._train(node_id, inputs, linked("latents"), linked("positive"), on_step)
        elif class_type in ("SaveLoRANode", "SaveLoRA"):
            lora = linked("lora")
            steps = linked("steps") if "steps" in inputs else None
            await asyncio.to_thread(self._save_lora, lora, str(inputs.get("prefix", "")), steps)
        elif class_type == "LossGraphNode":
            loss = linked("loss")
            ui = await asyncio.to_thread(self._loss_graph, loss, str(inputs.get("filename_prefix", "loss_graph")))
        self.values[signatures[node_id]] = outputs
        return ui

    # --- the nodes -------------------------------------------------------------------------------------

    def _load_folder(self, folder: str) -> _Images:
        root = self.input_dir / folder
        if self.generation == "v3" and os.path.commonpath((str(self.input_dir), str(root.resolve()))) != str(
            self.input_dir.resolve()
        ):
            raise TrainingFailure("ValueError", f"Invalid folder name {folder!r}: resolves outside of {self.input_dir}")
        if not root.is_dir():
            raise TrainingFailure("FileNotFoundError", f"[Errno 2] No such file or directory: '{root}'")
        files: list[Path] = []
        for item in sorted(os.listdir(root)):
            path = root / item
            if item.lower().endswith(_IMAGE_EXTENSIONS):
                files.append(path)
            elif path.is_dir():
                # kohya repeat folders: "10_mira girl" lists its images ten times
                head = item.split("_")[0]
                repeat = int(head) if head.isdigit() else 1
                inner = [path / f for f in sorted(os.listdir(path)) if f.lower().endswith(_IMAGE_EXTENSIONS)]
                files.extend(inner * repeat)
        if not files:
            raise TrainingFailure("ValueError", "No valid images found in input")
        captions = []
        for file in files:
            caption = file.with_suffix(".txt")
            captions.append(caption.read_text(encoding="utf-8").strip() if caption.exists() else "")
        relative = tuple(path.relative_to(root).as_posix() for path in files)
        self.loads.append(DatasetLoad(folder, relative, tuple(captions)))
        return _Images(tuple(files), tuple(captions))

    @staticmethod
    def _make_dataset(images: Any, texts: Any) -> tuple[Any, ...]:
        count = len(images.files) if isinstance(images, _Images) else 1
        captions = list(texts.texts) if isinstance(texts, _Texts) else []
        if not captions:
            captions = [""]
        if len(captions) == 1 and count > 1:
            captions = captions * count
        elif len(captions) != count:
            raise TrainingFailure(
                "ValueError",
                f"Number of texts ({len(captions)}) does not match number of images ({count}). "
                f"Text list should have length {count}, 1, or 0.",
            )
        return (_Batch(count), _Batch(len(captions)))

    async def _train(
        self, node_id: str, inputs: dict[str, Any], latents: Any, positive: Any, on_step: StepHook
    ) -> tuple[Any, ...]:
        images = latents.count if isinstance(latents, _Batch) else 1
        conditions = positive.count if isinstance(positive, _Batch) else 1
        if not (conditions == 1 and images > 1) and conditions != images:
            raise TrainingFailure(
                "ValueError",
                f"Number of positive conditions ({conditions}) does not match number of images ({images}).",
            )
        existing = str(inputs.get("existing_lora", "[None]"))
        prior = 0
        if existing != "[None]":
            try:
                prior = existing_steps(existing)
            except ValueError as exc:
                raise TrainingFailure("ValueError", str(exc)) from exc
        steps = int(inputs.get("steps", 16))
        seed = int(inputs.get("seed", 0))
        started = asyncio.get_running_loop().time()
        losses = []
        for step in range(1, steps + 1):
            await asyncio.sleep(max(0.0, started + step * self.step_seconds - asyncio.get_running_loop().time()))
            losses.append(round(0.2 / (1 + 0.05 * (prior + step)) + 0.01 * ((seed + step) % 3), 6))
            await on_step(node_id, step, steps)
        lora = _Lora(int(inputs.get("rank", 8)), seed, prior + steps, str(inputs.get("lora_dtype", "bf16")))
        return (None, lora, _Loss(tuple(losses)), prior + steps)

    def _save_lora(self, lora: Any, prefix: str, steps: Any) -> None:
        if not isinstance(lora, _Lora):
            raise TrainingFailure("AttributeError", "'NoneType' object has no attribute 'items'")
        try:
            folder, name, counter, _ = save_path(prefix, self.output_dir)
        except RenderError as exc:
            raise TrainingFailure(exc.exception_type, str(exc)) from exc
        filename = (
            f"{name}_{counter:05}_.safetensors" if steps is None else f"{name}_{steps}_steps_{counter:05}_.safetensors"
        )
        dtype = np.float32 if lora.dtype == "fp32" else np.float16
        rng = np.random.default_rng([lora.seed, lora.steps])
        scale = 0.01 * (1 + lora.steps / 100)
        tensors: dict[str, np.ndarray] = {}
        for module, features_in, features_out in _MODULES:
            key = f"diffusion_model.{module}"
            tensors[f"{key}.lora_down.weight"] = (rng.standard_normal((lora.rank, features_in)) * scale).astype(dtype)
            tensors[f"{key}.lora_up.weight"] = (rng.standard_normal((features_out, lora.rank)) * scale).astype(dtype)
            tensors[f"{key}.alpha"] = np.array(1.0, dtype=dtype)
            tensors[f"{key}.diff_b"] = np.zeros((features_out,), dtype=dtype)
        path = folder / filename
        partial = path.with_name(path.name + ".partial")
        save_file(tensors, str(partial))
        partial.replace(path)

    def _loss_graph(self, loss: Any, prefix: str) -> dict[str, Any]:
        values = list(loss.values) if isinstance(loss, _Loss) else []
        if not values:
            raise TrainingFailure("TypeError", "'NoneType' object is not subscriptable")
        width, height, margin = 800, 480, 40
        image = Image.new("RGB", (width + margin, height + margin), "white")
        draw = ImageDraw.Draw(image)
        low, high = min(values), max(values)
        spread = (high - low) or 1.0  # the real node divides by zero on a flat curve; the fake draws it flat
        points = [
            (margin + int(i / len(values) * width), height - int((v - low) / spread * height))
            for i, v in enumerate(values)
        ]
        if len(points) > 1:
            draw.line(points, fill="blue", width=2)
        draw.line([(margin, 0), (margin, height)], fill="black", width=2)
        draw.line([(margin, height), (width + margin, height)], fill="black", width=2)
        filename = f"{prefix}_{datetime.datetime.now().strftime('%Y%m%d_%H%M%S')}.png"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        image.save(self.temp_dir / filename)
        return {"images": [{"filename": filename, "subfolder": "", "type": "temp"}]}


def _size_input(value: Any) -> int | None:
    return None if value is None or value == -1 else int(value)


def _check_sizes(files: tuple[Path, ...], resize_method: str, width: int | None, height: int | None) -> None:
    """0.3.64's load_and_process_images: every image the first one's size (or the given one) unless resized."""
    for file in files:
        with Image.open(file) as image:
            size = image.size
        if width is None and height is None:
            width, height = size
        if size != (width, height) and resize_method == "None":
            raise TrainingFailure(
                "ValueError",
                "Your input image size does not match the first image in the dataset. Either select a valid resize "
                "method or use the same size for all images.",
            )
