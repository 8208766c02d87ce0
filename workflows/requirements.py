"""What a graph needs from a server: node classes, the model files it names, and files picked by name pattern.

`IPAdapterUnifiedLoader` picks its CLIP vision and IP-Adapter files itself, by regular expression over the
server's folders, and which IP-Adapter file depends on the checkpoint's architecture. A graph records that
architecture as `_meta["architecture"]` (`"sd15"` or `"sdxl"`, see `ARCHITECTURE_META_KEY`) on the loader
node; ComfyUI ignores `_meta`, and `workflow_hash` leaves it out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflows.specs import NodeCatalog, file_folders

ARCHITECTURE_META_KEY = "architecture"
ARCHITECTURES = ("sd15", "sdxl")

_IP_ADAPTER_LOADER = "IPAdapterUnifiedLoader"
_INPUT_FOLDER = "input"

# Transcribed from cubiq/ComfyUI_IPAdapter_plus utils.py (get_clipvision_file / get_ipadapter_file); the node
# matches them with re.search, ignoring case. Only the ViT-G preset uses the bigG vision model.
_CLIP_VISION_VIT_H = (
    r"(ViT.H.14.*s32B.b79K|ipadapter.*sd15|sd1.?5.*model\.(bin|safetensors))",
    "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors",
)
_CLIP_VISION_VIT_G = (
    r"(ViT.bigG.14.*39B.b160k|ipadapter.*sdxl|sdxl.*model\.(bin|safetensors))",
    "CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors",
)
_IP_ADAPTER_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "LIGHT - SD1.5 only (low strength)": {
        # The node tries the v11 file first and falls back to the original one.
        "sd15": (r"sd15.light(.v11)?\.(safetensors|bin)$", "ip-adapter_sd15_light_v11.bin"),
    },
    "STANDARD (medium strength)": {
        "sd15": (r"ip.adapter.sd15\.(safetensors|bin)$", "ip-adapter_sd15.safetensors"),
        "sdxl": (r"ip.adapter.sdxl.vit.h\.(safetensors|bin)$", "ip-adapter_sdxl_vit-h.safetensors"),
    },
    "VIT-G (medium strength)": {
        "sd15": (r"sd15.vit.g\.(safetensors|bin)$", "ip-adapter_sd15_vit-G.safetensors"),
        "sdxl": (r"ip.adapter.sdxl\.(safetensors|bin)$", "ip-adapter_sdxl.safetensors"),
    },
    "PLUS (high strength)": {
        "sd15": (r"ip.adapter.plus.sd15\.(safetensors|bin)$", "ip-adapter-plus_sd15.safetensors"),
        "sdxl": (r"plus.sdxl.vit.h\.(safetensors|bin)$", "ip-adapter-plus_sdxl_vit-h.safetensors"),
    },
    "PLUS FACE (portraits)": {
        "sd15": (r"plus.face.sd15\.(safetensors|bin)$", "ip-adapter-plus-face_sd15.safetensors"),
        "sdxl": (r"plus.face.sdxl.vit.h\.(safetensors|bin)$", "ip-adapter-plus-face_sdxl_vit-h.safetensors"),
    },
    "FULL FACE - SD1.5 only (portraits stronger)": {
        "sd15": (r"full.face.sd15\.(safetensors|bin)$", "ip-adapter-full-face_sd15.safetensors"),
    },
}


@dataclass(frozen=True)
class ModelFile:
    """A file a node input names, in the server folder it is loaded from."""

    folder: str
    name: str
    class_type: str
    input_name: str


@dataclass(frozen=True)
class ModelPattern:
    """At least one file in `folder` must match `pattern` (re.search, case-insensitive); `example` is a
    file name that does, for telling the user what to install."""

    folder: str
    pattern: str
    example: str
    why: str

    def matches(self, filename: str) -> bool:
        return re.search(self.pattern, filename, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Requirements:
    nodes: tuple[str, ...]
    models: tuple[ModelFile, ...]
    patterns: tuple[ModelPattern, ...]


def requirements_of(graph: Mapping[str, Mapping[str, Any]], catalog: NodeCatalog) -> Requirements:
    """Collect what `graph` needs; classes missing from `catalog` are listed but their inputs are not read.

    Raises ValueError when an IP-Adapter preset is recorded with an architecture it does not support.
    """
    nodes: set[str] = set()
    models: dict[ModelFile, None] = {}  # a dict keeps first-seen order while dropping repeats
    patterns: dict[ModelPattern, None] = {}
    for node in graph.values():
        class_type = node["class_type"]
        nodes.add(class_type)
        spec = catalog.get(class_type)
        if spec is None:
            continue
        inputs = node.get("inputs", {})
        for name, value in inputs.items():
            marker = spec.marker(name)
            folders = file_folders(marker) if marker is not None else ()
            if not folders or folders[0] == _INPUT_FOLDER or not isinstance(value, str):
                continue
            if isinstance(marker, dict) and value in marker.get("plus_fixed", ()):
                continue
            models[ModelFile(folders[0], value, class_type, name)] = None
        if class_type == _IP_ADAPTER_LOADER:
            architecture = node.get("_meta", {}).get(ARCHITECTURE_META_KEY)
            patterns.update(dict.fromkeys(_ip_adapter_patterns(inputs.get("preset"), architecture)))
    return Requirements(tuple(sorted(nodes)), tuple(models), tuple(patterns))


def _ip_adapter_patterns(preset: Any, architecture: str | None) -> list[ModelPattern]:
    if not isinstance(preset, str) or preset not in _IP_ADAPTER_FILES:
        return []  # a link or an unknown preset: validate_graph reports the latter
    vision_pattern, vision_example = _CLIP_VISION_VIT_G if preset.startswith("VIT-G") else _CLIP_VISION_VIT_H
    vision = ModelPattern("clip_vision", vision_pattern, vision_example, f"IPAdapterUnifiedLoader preset {preset!r}")
    files = _IP_ADAPTER_FILES[preset]
    if architecture is None:
        # Not recorded: any architecture's file would do, so ask for one of them.
        pattern = "|".join(f"({pattern})" for pattern, _ in files.values())
        example = " or ".join(example for _, example in files.values())
        why = f"IPAdapterUnifiedLoader preset {preset!r} (architecture not recorded in _meta)"
        return [vision, ModelPattern("ipadapter", pattern, example, why)]
    if architecture not in files:
        raise ValueError(f"IP-Adapter preset {preset!r} has no model for architecture {architecture!r}")
    pattern, example = files[architecture]
    why = f"IPAdapterUnifiedLoader preset {preset!r} for {architecture}"
    return [vision, ModelPattern("ipadapter", pattern, example, why)]
