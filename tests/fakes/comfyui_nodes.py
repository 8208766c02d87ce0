"""Fake ComfyUI, the node side: node specs → `/object_info`, and `POST /prompt` validation.

An independent re-implementation of ComfyUI 0.3.64's server side (`server.node_info`,
`execution.validate_prompt` / `validate_inputs`) driven by the offline node-spec file (format in the
appendix of comfyui-protocol.md). It deliberately imports nothing from the studio's `workflows` package,
so a bug there is not mirrored here.

The spec file is read from `workflows/comfyui_nodes.json` in the project (falling back to
`../shared/reference/comfyui-nodes.json`), merged with `workflows/extra_nodes.json` when that exists.
"""

from __future__ import annotations

import copy
import json
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

_PROJECT = Path(__file__).resolve().parents[2]
_SPEC_FILES = (
    _PROJECT / "workflows" / "comfyui_nodes.json",
    _PROJECT.parent / "shared" / "reference" / "comfyui-nodes.json",
)
_EXTRA_SPEC_FILE = _PROJECT / "workflows" / "extra_nodes.json"

# Folder → file names the fake "has installed" by default. Names follow the real model files the studio's
# graphs use (see original-system-facts.md); tests replace `FakeComfyUI.models` freely.
DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": [
        "Counterfeit-V3.0_fp16.safetensors",
        "NoobAI-XL-Vpred-v1.0.safetensors",
        "dreamshaper_8.safetensors",
        "ltxv-2b-fp8.safetensors",
    ],
    "loras": ["mira_lora.safetensors", "mira_xl_lora.safetensors"],
    "vae": ["hunyuan_video_vae_bf16.safetensors", "sdxl_vae.safetensors", "wan_2.1_vae.safetensors"],
    "clip_vision": ["CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", "sigclip_vision_patch14_384.safetensors"],
    "ipadapter": ["ip-adapter-plus_sd15.safetensors", "ip-adapter_sd15.safetensors"],
    "diffusion_models": [
        "FramePackI2V_HY_fp8_e4m3fn.safetensors",
        "FramePack_F1_I2V_HY_20250503_fp8_e4m3fn.safetensors",
        "ltxv-2b-fp8.safetensors",
        "wan2.1_t2v_1.3B_fp16.safetensors",
    ],
    "unet_gguf": ["Wan2.1-T2V-1.3B-Q8_0.gguf"],
    "text_encoders": [
        "clip_l.safetensors",
        "llava_llama3_fp16.safetensors",
        "t5xxl_fp8_e4m3fn.safetensors",
        "umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    ],
    "clip_gguf": ["umt5-xxl-encoder-Q8_0.gguf"],
    "upscale_models": ["RealESRGAN_x4plus_anime_6B.pth"],
    "embeddings": [],
    "vae_approx": [],
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")
VIDEO_EXTENSIONS = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".m4v")

# Classes that report sampler progress (one `progress` message per step).
SAMPLER_CLASSES = frozenset(
    {
        "KSampler",
        "KSamplerAdvanced",
        "SamplerCustom",
        "SamplerCustomAdvanced",
        "FramePackSampler",
        "FramePackSampler_F1",
        "FramePackSingleFrameSampler",
    }
)

_DISPLAY_NAMES = {
    "CheckpointLoaderSimple": "Load Checkpoint",
    "CLIPTextEncode": "CLIP Text Encode (Prompt)",
    "KSamplerAdvanced": "KSampler (Advanced)",
    "EmptyLatentImage": "Empty Latent Image",
    "VAEDecode": "VAE Decode",
    "VAEEncode": "VAE Encode",
    "VAELoader": "Load VAE",
    "SaveImage": "Save Image",
    "PreviewImage": "Preview Image",
    "LoadImage": "Load Image",
    "LoraLoader": "Load LoRA",
    "CLIPVisionLoader": "Load CLIP Vision",
    "CLIPVisionEncode": "CLIP Vision Encode",
    "UNETLoader": "Load Diffusion Model",
    "CLIPLoader": "Load CLIP",
    "DualCLIPLoader": "DualCLIPLoader",
    "ImageScale": "Upscale Image",
    "ImageScaleBy": "Upscale Image By",
    "UpscaleModelLoader": "Load Upscale Model",
    "ImageUpscaleWithModel": "Upscale Image (using Model)",
    "UnetLoaderGGUF": "Unet Loader (GGUF)",
    "CLIPLoaderGGUF": "CLIPLoader (GGUF)",
    "VHS_VideoCombine": "Video Combine 🎥🅥🅗🅢",
    "VHS_LoadVideo": "Load Video (Upload) 🎥🅥🅗🅢",
    "IPAdapterUnifiedLoader": "IPAdapter Unified Loader",
    "IPAdapterAdvanced": "IPAdapter Advanced",
    "FramePackSampler": "FramePackSampler",
}

_CATEGORIES = {
    "CheckpointLoaderSimple": "loaders",
    "VAELoader": "loaders",
    "LoraLoader": "loaders",
    "LoraLoaderModelOnly": "loaders",
    "CLIPVisionLoader": "loaders",
    "UNETLoader": "advanced/loaders",
    "CLIPLoader": "advanced/loaders",
    "DualCLIPLoader": "advanced/loaders",
    "CLIPTextEncode": "conditioning",
    "CLIPSetLastLayer": "conditioning",
    "CLIPVisionEncode": "conditioning",
    "ConditioningZeroOut": "advanced/conditioning",
    "KSampler": "sampling",
    "KSamplerAdvanced": "sampling",
    "EmptyLatentImage": "latent",
    "VAEDecode": "latent",
    "VAEEncode": "latent",
    "VAEDecodeTiled": "_for_testing",
    "LatentUpscaleBy": "latent",
    "SaveImage": "image",
    "PreviewImage": "image",
    "LoadImage": "image",
    "EmptyImage": "image",
    "ImageBatch": "image",
    "ImageScale": "image/upscaling",
    "ImageScaleBy": "image/upscaling",
    "SaveLatent": "_for_testing",
}

_PACK_CATEGORIES = {
    "custom_nodes.ComfyUI-VideoHelperSuite": "Video Helper Suite 🎥🅥🅗🅢",
    "custom_nodes.ComfyUI-GGUF": "bootleg",
    "custom_nodes.ComfyUI-FramePackWrapper": "FramePackWrapper",
    "custom_nodes.ComfyUI-FramePackWrapper_Plus": "FramePackWrapper",
    "custom_nodes.ComfyUI_IPAdapter_plus": "ipadapter",
    "custom_nodes.ComfyUI-Frame-Interpolation": "ComfyUI-Frame-Interpolation/VFI",
}

_PRIMITIVES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN"})


@cache
def _load_default_specs() -> dict[str, dict[str, Any]]:
    for path in _SPEC_FILES:
        if path.is_file():
            specs: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
            break
    else:
        raise FileNotFoundError(f"no ComfyUI node-spec file at any of {[str(p) for p in _SPEC_FILES]}")
    if _EXTRA_SPEC_FILE.is_file():
        specs.update(json.loads(_EXTRA_SPEC_FILE.read_text(encoding="utf-8")))
    return specs


def default_node_specs() -> dict[str, dict[str, Any]]:
    """A fresh, mutable copy of the node specs (core + custom packs + extra nodes)."""
    return copy.deepcopy(_load_default_specs())


def split_annotation(value: str) -> tuple[str, str | None]:
    """`"x.png [output]"` → `("x.png", "output")`; no annotation → `(value, None)` (folder_paths.annotated_filepath)."""
    for kind in ("output", "input", "temp"):
        suffix = f" [{kind}]"
        if value.endswith(suffix):
            return value[: -len(suffix)], kind
    return value, None


@dataclass
class Catalog:
    """The node classes one fake currently offers, resolved against its current model and input files."""

    specs: dict[str, dict[str, Any]]
    models: dict[str, list[str]]
    missing: set[str]
    input_files: Callable[[], list[str]]  # top-level files of the input dir
    file_exists: Callable[[str], bool]  # does an (annotated) input path exist?
    input_folders: Callable[[], list[str]] | None = None  # every subfolder of the input dir (folder loaders)
    # Servers after the V3 node schema (0.3.6x+) check V3 combo values at submit time too; 0.3.64 does not.
    checks_v3_combos: bool = False
    _input_cache: list[str] | None = field(default=None, repr=False)

    # --- the catalogue ---------------------------------------------------------------------------

    def has(self, class_type: Any) -> bool:
        return isinstance(class_type, str) and class_type in self.specs and class_type not in self.missing

    def classes(self) -> list[str]:
        return [c for c in self.specs if c not in self.missing]

    def spec(self, class_type: str) -> dict[str, Any]:
        return self.specs[class_type]

    def is_v3(self, class_type: str) -> bool:
        return self.specs[class_type].get("schema") == "v3"

    def return_types(self, class_type: str) -> tuple[str, ...]:
        return tuple(self.specs[class_type].get("outputs", []))

    def is_output(self, class_type: str) -> bool:
        return bool(self.specs[class_type].get("output_node"))

    def folder_files(self, folders: list[str], kind: str | None = None) -> list[str]:
        names: set[str] = set()
        for folder in folders:
            if folder == "input":
                names.update(self._inputs(kind))
            else:
                names.update(self.models.get(folder, []))
        return sorted(names)

    def _inputs(self, kind: str | None) -> list[str]:
        if self._input_cache is None:
            self._input_cache = self.input_files()
        if kind == "image":
            return [f for f in self._input_cache if f.lower().endswith(IMAGE_EXTENSIONS)]
        if kind == "video":
            return [f for f in self._input_cache if f.lower().endswith(VIDEO_EXTENSIONS)]
        return list(self._input_cache)

    def input_types(self, class_type: str) -> dict[str, dict[str, tuple[Any, dict[str, Any]]]]:
        """Like INPUT_TYPES(): `{"required"|"optional": {name: (input_type, options)}}` with live file lists.

        v1 combos are `(choices, options)`; v3 combos are `("COMBO", {"options": choices, ...})`, which is
        why 0.3.64 does not check them at submit time (its check is `isinstance(input_type, list)`).
        """
        spec = self.specs[class_type]
        v3 = spec.get("schema") == "v3"
        constraints: dict[str, dict[str, Any]] = spec.get("constraints", {})
        result: dict[str, dict[str, tuple[Any, dict[str, Any]]]] = {}
        for category in ("required", "optional"):
            section: dict[str, tuple[Any, dict[str, Any]]] = {}
            for name, marker in spec.get(category, {}).items():
                options = dict(constraints.get(name, {}))
                if isinstance(marker, str):
                    # A link type shows a default only where the node declares one (LossGraphNode's LOSS_MAP).
                    if marker not in _PRIMITIVES and not options.pop("link_default", False):
                        options.pop("default", None)
                    section[name] = (marker, options)
                    continue
                if isinstance(marker, dict) and marker.get("input_folders"):
                    choices = self.input_folders() if self.input_folders is not None else []
                elif isinstance(marker, dict):
                    kind = marker.get("kind")
                    choices = self.folder_files(list(marker.get("files", [])), kind)
                    choices += [c for c in marker.get("plus_fixed", []) if c not in choices]
                    if kind == "image":
                        options["image_upload"] = True
                    elif kind == "video":
                        options["video_upload"] = True
                else:
                    choices = list(marker)
                if v3:
                    section[name] = ("COMBO", {"multiselect": False, "options": choices, **options})
                else:
                    section[name] = (choices, options)
            if section or category == "required":
                result[category] = section
        return result

    def node_info(self, class_type: str) -> dict[str, Any]:
        """One entry of `GET /object_info` (server.node_info / GET_NODE_INFO_V1)."""
        spec = self.specs[class_type]
        types = self.input_types(class_type)
        v3 = spec.get("schema") == "v3"
        inputs: dict[str, Any] = {}
        for category, section in types.items():
            inputs[category] = {}
            for name, (input_type, options) in section.items():
                linked = isinstance(input_type, str) and input_type not in _PRIMITIVES and input_type != "COMBO"
                if linked and not options and not v3:
                    inputs[category][name] = [input_type]
                else:
                    inputs[category][name] = [input_type, options]
        order = {category: list(section) for category, section in types.items()}
        if spec.get("hidden"):
            inputs["hidden"] = dict(spec["hidden"])
            order["hidden"] = list(spec["hidden"])
        outputs = list(spec.get("outputs", []))
        module = spec.get("module") or "nodes"
        info: dict[str, Any] = {
            "input": inputs,
            "input_order": order,
            "output": outputs,
            "output_is_list": list(spec.get("output_is_list") or [False] * len(outputs)),
            "output_name": list(spec.get("output_names") or outputs),
            "name": class_type,
            "display_name": spec.get("display_name") or _DISPLAY_NAMES.get(class_type, class_type),
            "description": spec.get("description", ""),
            "python_module": module,
            "category": spec.get("category") or _category(class_type, module),
            "output_node": bool(spec.get("output_node")),
        }
        if spec.get("output_tooltips"):
            info["output_tooltips"] = list(spec["output_tooltips"])
        if v3:
            info.update({"deprecated": False, "experimental": bool(spec.get("experimental")), "api_node": False})
        elif spec.get("experimental"):
            info["experimental"] = True
        return info

    # --- VALIDATE_INPUTS of the nodes that have one ----------------------------------------------

    def validate_function_inputs(self, class_type: str) -> list[str]:
        """The argument names of the node's own VALIDATE_INPUTS (input-dir file pickers have one)."""
        spec = self.specs[class_type]
        return [
            name
            for name, marker in spec.get("required", {}).items()
            if isinstance(marker, dict) and "input" in marker.get("files", [])
        ]

    def custom_validate(self, class_type: str, values: dict[str, Any]) -> bool | str:
        for name in self.validate_function_inputs(class_type):
            marker = self.specs[class_type]["required"][name]
            value = values.get(name)
            if not isinstance(value, str) or not self.file_exists(value):
                noun = "video" if marker.get("kind") == "video" else "image"
                return f"Invalid {noun} file: {value}"
        return True


def _category(class_type: str, module: str) -> str:
    if class_type in _CATEGORIES:
        return _CATEGORIES[class_type]
    if module in _PACK_CATEGORIES:
        return _PACK_CATEGORIES[module]
    if module.startswith("comfy_extras.nodes_"):
        return "advanced/" + module.removeprefix("comfy_extras.nodes_")
    return module.removeprefix("custom_nodes.")


# --- POST /prompt validation: a port of execution.validate_prompt / validate_inputs (0.3.64) ---------


@dataclass
class PromptValidation:
    ok: bool
    error: dict[str, Any] | None
    good_outputs: list[str]
    node_errors: dict[str, Any]


class PromptCrash(Exception):
    """The real server's handler crashes on this input → 500 text/plain."""


def _error(type_: str, message: str, details: str) -> dict[str, Any]:
    return {"type": type_, "message": message, "details": details, "extra_info": {}}


def validate_prompt(catalog: Catalog, prompt: Any, partial_targets: list[str] | None) -> PromptValidation:
    """Validate an API-format graph; converts literal inputs in place, as the real server does."""
    if not isinstance(prompt, dict):
        raise PromptCrash("prompt is not an object")
    outputs: list[str] = []
    for node_id, node in prompt.items():
        if not isinstance(node, dict | list | str):
            raise PromptCrash(f"node {node_id!r} is not an object")
        if "class_type" not in node:
            error = _error(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                f"Node ID '#{node_id}'",
            )
            return PromptValidation(False, error, [], {})
        if not isinstance(node, dict):
            raise PromptCrash(f"node {node_id!r} is not an object")
        class_type = node["class_type"]
        if not catalog.has(class_type):
            error = _error(
                "invalid_prompt", f"Cannot execute because node {class_type} does not exist.", f"Node ID '#{node_id}'"
            )
            return PromptValidation(False, error, [], {})
        if catalog.is_output(class_type) and (partial_targets is None or node_id in partial_targets):
            outputs.append(node_id)

    if not outputs:
        return PromptValidation(False, _error("prompt_no_outputs", "Prompt has no outputs", ""), [], {})

    good_outputs: list[str] = []
    failed: list[tuple[str, list[dict[str, Any]]]] = []
    node_errors: dict[str, Any] = {}
    validated: dict[str, tuple[bool, list[dict[str, Any]], str]] = {}
    for output in outputs:
        try:
            valid, reasons, _ = _validate_inputs(catalog, prompt, output, validated)
        except Exception as exc:
            valid = False
            reasons = [
                {
                    "type": "exception_during_validation",
                    "message": "Exception when validating node",
                    "details": str(exc),
                    "extra_info": {
                        "exception_type": _full_type_name(type(exc)),
                        "traceback": traceback.format_tb(sys.exc_info()[2]),
                    },
                }
            ]
            validated[output] = (False, reasons, output)
        if valid:
            good_outputs.append(output)
            continue
        failed.append((output, reasons))
        # As the real server: every invalid node validated so far gets this output appended.
        for node_id, (node_valid, node_reasons, _) in validated.items():
            if node_valid or not node_reasons:
                continue
            if node_id not in node_errors:
                node_errors[node_id] = {
                    "errors": node_reasons,
                    "dependent_outputs": [],
                    "class_type": prompt[node_id]["class_type"],
                }
            node_errors[node_id]["dependent_outputs"].append(output)

    if not good_outputs:
        details = "\n".join(f"{e['message']}: {e['details']}" for _, errors in failed for e in errors)
        error = _error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)
        return PromptValidation(False, error, [], node_errors)
    return PromptValidation(True, None, good_outputs, node_errors)


def _full_type_name(klass: type) -> str:
    module = klass.__module__
    return klass.__qualname__ if module == "builtins" else f"{module}.{klass.__qualname__}"


def _types_match(received: Any, expected: Any) -> bool:
    """execution.validate_node_input (non-strict): equal, `*`, or comma-separated unions that intersect."""
    if received == expected:
        return True
    if not isinstance(received, str) or not isinstance(expected, str):
        return False
    if "*" in (received, expected):
        return True
    got = {t.strip() for t in received.split(",")}
    want = {t.strip() for t in expected.split(",")}
    return bool(got & want)


def _validate_inputs(
    catalog: Catalog, prompt: dict[str, Any], unique_id: str, validated: dict[str, tuple[bool, list[Any], str]]
) -> tuple[bool, list[dict[str, Any]], str]:
    if unique_id in validated:
        return validated[unique_id]
    node = prompt[unique_id]
    inputs = node["inputs"]
    class_type = node["class_type"]
    class_inputs = catalog.input_types(class_type)
    validate_function_inputs = catalog.validate_function_inputs(class_type)
    errors: list[dict[str, Any]] = []
    valid = True
    info: Any = None
    val: Any = None

    for category, section in class_inputs.items():
        for x, (input_type, extra_info) in section.items():
            if x not in inputs:
                if category == "required":
                    errors.append(
                        {
                            "type": "required_input_missing",
                            "message": "Required input is missing",
                            "details": f"{x}",
                            "extra_info": {"input_name": x},
                        }
                    )
                continue
            val = inputs[x]
            info = [input_type, extra_info]
            if isinstance(val, list):
                if len(val) != 2:
                    errors.append(
                        {
                            "type": "bad_linked_input",
                            "message": "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                            "details": f"{x}",
                            "extra_info": {"input_name": x, "input_config": info, "received_value": val},
                        }
                    )
                    continue
                o_id = val[0]
                o_class_type = prompt[o_id]["class_type"]  # KeyError for a missing node, as upstream
                received_type = catalog.return_types(o_class_type)[val[1]]
                if not _types_match(received_type, input_type):
                    errors.append(
                        {
                            "type": "return_type_mismatch",
                            "message": "Return type mismatch between linked nodes",
                            "details": f"{x}, received_type({received_type}) mismatch input_type({input_type})",
                            "extra_info": {
                                "input_name": x,
                                "input_config": info,
                                "received_type": received_type,
                                "linked_node": val,
                            },
                        }
                    )
                    continue
                try:
                    upstream = _validate_inputs(catalog, prompt, o_id, validated)
                    if upstream[0] is False:
                        valid = False
                        continue
                except Exception as exc:
                    valid = False
                    validated[o_id] = (
                        False,
                        [
                            {
                                "type": "exception_during_inner_validation",
                                "message": "Exception when validating inner node",
                                "details": str(exc),
                                "extra_info": {
                                    "input_name": x,
                                    "input_config": info,
                                    "exception_message": str(exc),
                                    "exception_type": _full_type_name(type(exc)),
                                    "traceback": traceback.format_tb(sys.exc_info()[2]),
                                    "linked_node": val,
                                },
                            }
                        ],
                        o_id,
                    )
                    continue
                continue

            try:
                if isinstance(val, dict) and "__value__" in val:
                    val = val["__value__"]
                    inputs[x] = val
                if input_type == "INT":
                    val = int(val)
                    inputs[x] = val
                if input_type == "FLOAT":
                    val = float(val)
                    inputs[x] = val
                if input_type == "STRING":
                    val = str(val)
                    inputs[x] = val
                if input_type == "BOOLEAN":
                    val = bool(val)
                    inputs[x] = val
            except Exception as exc:
                errors.append(
                    {
                        "type": "invalid_input_type",
                        "message": f"Failed to convert an input value to a {input_type} value",
                        "details": f"{x}, {val}, {exc}",
                        "extra_info": {
                            "input_name": x,
                            "input_config": info,
                            "received_value": val,
                            "exception_message": str(exc),
                        },
                    }
                )
                continue

            if x in validate_function_inputs:
                continue
            try:
                too_small = "min" in extra_info and val < extra_info["min"]
                too_big = "max" in extra_info and val > extra_info["max"]
            except TypeError:
                too_small = too_big = False
            if too_small:
                errors.append(
                    {
                        "type": "value_smaller_than_min",
                        "message": "Value {} smaller than min of {}".format(val, extra_info["min"]),
                        "details": f"{x}",
                        "extra_info": {"input_name": x, "input_config": info, "received_value": val},
                    }
                )
                continue
            if too_big:
                errors.append(
                    {
                        "type": "value_bigger_than_max",
                        "message": "Value {} bigger than max of {}".format(val, extra_info["max"]),
                        "details": f"{x}",
                        "extra_info": {"input_name": x, "input_config": info, "received_value": val},
                    }
                )
                continue
            if input_type == "COMBO" and catalog.checks_v3_combos:
                input_type = list(extra_info.get("options", []))
            if isinstance(input_type, list) and val not in input_type:
                if len(input_type) > 20:
                    list_info = f"(list of length {len(input_type)})"
                    input_config = None
                else:
                    list_info = str(input_type)
                    input_config = info
                errors.append(
                    {
                        "type": "value_not_in_list",
                        "message": "Value not in list",
                        "details": f"{x}: '{val}' not in {list_info}",
                        "extra_info": {"input_name": x, "input_config": input_config, "received_value": val},
                    }
                )
                continue

    if validate_function_inputs:
        result = catalog.custom_validate(class_type, inputs)
        if result is not True:
            for x in validate_function_inputs:
                details = f"{x}" if result is False else f"{x} - {result}"
                errors.append(
                    {
                        "type": "custom_validation_failed",
                        "message": "Custom validation failed for node",
                        "details": details,
                        "extra_info": {"input_name": x, "input_config": info, "received_value": val},
                    }
                )

    ret = (False, errors, unique_id) if errors or not valid else (True, [], unique_id)
    validated[unique_id] = ret
    return ret


# --- run-time failures the real server only reports while executing ---------------------------------

_LINK_ATTRIBUTES = {
    "VAE": "decode",
    "MODEL": "clone",
    "CLIP": "tokenize",
    "CLIP_VISION": "encode_image",
    "UPSCALE_MODEL": "scale",
    "CONDITIONING": "copy",
}

_ENUM_NAMES = {("SaveVideo", "format"): "VideoContainer", ("SaveVideo", "codec"): "VideoCodec"}

_IPADAPTER_PRESETS = {
    "LIGHT - SD1.5 only (low strength)": ("ip-adapter_sd15_light",),
    "STANDARD (medium strength)": ("ip-adapter_sd15.", "ip-adapter_sdxl_vit-h"),
    "VIT-G (medium strength)": ("ip-adapter_sd15_vit-g", "ip-adapter_sdxl."),
    "PLUS (high strength)": ("ip-adapter-plus_sd15", "ip-adapter-plus_sdxl_vit-h"),
    "PLUS FACE (portraits)": ("ip-adapter-plus-face_sd15", "ip-adapter-plus-face_sdxl_vit-h"),
    "FULL FACE - SD1.5 only (portraits stronger)": ("ip-adapter-full-face_sd15",),
}


def runtime_failure(catalog: Catalog, class_type: str, inputs: dict[str, Any]) -> tuple[str, str] | None:
    """`(exception_type, exception_message)` when the real node would raise while executing, else None.

    Covers what 0.3.64 lets through validation: v3 combo values and model files, literals given for
    link-type inputs, and IPAdapterUnifiedLoader finding no model for its preset.
    """
    spec = catalog.spec(class_type)
    v3 = spec.get("schema") == "v3"
    for section in catalog.input_types(class_type).values():
        for name, (input_type, options) in section.items():
            if name not in inputs or inputs[name] is None or _is_link(inputs[name]):
                continue  # None: an optional input left empty, which nodes accept
            value = inputs[name]
            if input_type == "COMBO" and v3 and value not in options.get("options", []):
                marker = spec.get("required", {}).get(name) or spec.get("optional", {}).get(name)
                if isinstance(marker, dict) and "input" not in marker.get("files", []):
                    folder = marker.get("files", ["models"])[0]
                    return (
                        "FileNotFoundError",
                        f"Model in folder '{folder}' with filename '{value}' not found.",
                    )
                enum = _ENUM_NAMES.get((class_type, name), name)
                return ("ValueError", f"{value!r} is not a valid {enum}")
            if isinstance(input_type, str) and input_type not in _PRIMITIVES and input_type != "COMBO":
                attribute = _LINK_ATTRIBUTES.get(input_type, "shape")
                return ("AttributeError", f"'{type(value).__name__}' object has no attribute '{attribute}'")
    if class_type == "IPAdapterUnifiedLoader":
        preset = inputs.get("preset")
        vision = [
            f for f in catalog.models.get("clip_vision", []) if "vit-h-14" in f.lower() or "vit-bigg" in f.lower()
        ]
        if not vision:
            return ("Exception", "ClipVision model not found.")
        patterns = _IPADAPTER_PRESETS.get(str(preset), ())
        if not any(p in f.lower() for p in patterns for f in catalog.models.get("ipadapter", [])):
            return ("Exception", "IPAdapter model not found.")
    return None


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
