"""Node specs: what each ComfyUI node class accepts and returns, from the bundled files or a live server.

The bundled files use the format of the protocol reference's appendix: per class, `required`/`optional`
map input names to a *marker* — a type string (`"INT"`, `"MODEL"`, ...), a fixed choice list, or
`{"files": [folder, ...], "kind"?, "plus_fixed"?}` for choices filled from the server's folders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

Marker = str | list[Any] | dict[str, Any]

PRIMITIVE_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN"})
# A choice input whose options a live server did not list (e.g. remote combos): any string may do.
OPEN_COMBO = "COMBO"
ANY_TYPE = "*"

_BUNDLED_FILES = ("comfyui_nodes.json", "extra_nodes.json")
_CONSTRAINT_KEYS = ("default", "min", "max", "step")
# object_info keys only nodes written against ComfyUI's newer schema API report (protocol §2).
_V3_KEYS = ("api_node", "deprecated", "experimental")
_CUSTOM_NODES_PREFIX = "custom_nodes."


@dataclass(frozen=True)
class NodeSpec:
    """One node class: its inputs (name → marker), outputs by slot, and where it comes from."""

    class_type: str
    required: Mapping[str, Marker]
    optional: Mapping[str, Marker]
    outputs: tuple[str, ...]
    output_names: tuple[str, ...]
    output_node: bool
    source: str
    module: str
    schema: str
    constraints: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Only VHS_VideoCombine uses this: per `format` value, the extra inputs that format reads.
    format_extra_inputs: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def marker(self, input_name: str) -> Marker | None:
        """The marker of a declared input, or None when the node has no such input."""
        if input_name in self.required:
            return self.required[input_name]
        return self.optional.get(input_name)

    @classmethod
    def from_entry(cls, class_type: str, entry: Mapping[str, Any]) -> NodeSpec:
        """Build a spec from one entry of a bundled spec file."""
        return cls(
            class_type=class_type,
            required=dict(entry["required"]),
            optional=dict(entry.get("optional", {})),
            outputs=tuple(entry["outputs"]),
            output_names=tuple(entry.get("output_names", entry["outputs"])),
            output_node=bool(entry["output_node"]),
            source=entry["source"],
            module=entry["module"],
            schema=entry["schema"],
            constraints=dict(entry.get("constraints", {})),
            format_extra_inputs=dict(entry.get("format_extra_inputs", {})),
        )


def is_link_type(marker: Marker) -> bool:
    """True when the input takes only a link to another node's output (MODEL, IMAGE, ...), never a literal."""
    if not isinstance(marker, str) or marker in (ANY_TYPE, OPEN_COMBO):
        return False
    return not any(part.strip() in PRIMITIVE_TYPES for part in marker.split(","))


def file_folders(marker: Marker) -> tuple[str, ...]:
    """The server folders a file-backed input lists, or () for any other marker."""
    if isinstance(marker, dict):
        return tuple(marker.get("files", ()))
    return ()


class NodeCatalog(Mapping[str, NodeSpec]):
    """The node classes a server offers (or the bundled reference set), by class_type."""

    def __init__(self, specs: Mapping[str, NodeSpec]) -> None:
        self._specs = dict(specs)

    def __getitem__(self, class_type: str) -> NodeSpec:
        return self._specs[class_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def package_of(self, class_type: str) -> str:
        """ "core" or the "owner/repo" (or, for a custom pack we have no record of, its folder name)."""
        return self[class_type].source

    @classmethod
    def from_object_info(cls, object_info: Mapping[str, Any], *, reference: NodeCatalog | None = None) -> NodeCatalog:
        """Convert a live server's `GET /object_info` answer into specs.

        `reference` (default: the bundled catalogue) names the package of custom nodes: a live server only
        reports the folder a pack was installed into.
        """
        known = load_catalog() if reference is None else reference
        repo_by_folder = {
            spec.module.removeprefix(_CUSTOM_NODES_PREFIX).lower(): spec.source
            for spec in known.values()
            if spec.module.startswith(_CUSTOM_NODES_PREFIX)
        }
        specs = {}
        for class_type, info in object_info.items():
            module = info.get("python_module", "nodes")
            specs[class_type] = _spec_from_info(class_type, info, _source_of(class_type, module, known, repo_by_folder))
        return cls(specs)


@cache
def load_catalog() -> NodeCatalog:
    """The bundled reference catalogue: the live-dumped specs plus the hand-transcribed extras."""
    specs: dict[str, NodeSpec] = {}
    package = resources.files(__package__)
    for filename in _BUNDLED_FILES:
        for class_type, entry in json.loads(package.joinpath(filename).read_text(encoding="utf-8")).items():
            if class_type in specs:
                raise ValueError(f"{filename} redefines node {class_type}; each class belongs in one spec file")
            specs[class_type] = NodeSpec.from_entry(class_type, entry)
    return NodeCatalog(specs)


def _source_of(class_type: str, module: str, known: NodeCatalog, repo_by_folder: Mapping[str, str]) -> str:
    if not module.startswith(_CUSTOM_NODES_PREFIX):
        return "core"
    folder = module.removeprefix(_CUSTOM_NODES_PREFIX)
    # The folder decides first: forks such as FramePackWrapper_Plus reuse the original's class names.
    if folder.lower() in repo_by_folder:
        return repo_by_folder[folder.lower()]
    if class_type in known:
        return known[class_type].source
    return folder


def _spec_from_info(class_type: str, info: Mapping[str, Any], source: str) -> NodeSpec:
    inputs = info.get("input", {})
    constraints: dict[str, dict[str, Any]] = {}
    format_extra_inputs: dict[str, dict[str, dict[str, Any]]] = {}
    sections: dict[str, dict[str, Marker]] = {"required": {}, "optional": {}}
    for section, declared in sections.items():
        for name, config in inputs.get(section, {}).items():
            kind = config[0]
            options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
            declared[name] = _marker_from_info(kind, options)
            limits = {key: options[key] for key in _CONSTRAINT_KEYS if key in options}
            if limits:
                constraints[name] = limits
            if isinstance(options.get("formats"), dict):
                format_extra_inputs = _format_extras(options["formats"])
    outputs = tuple(out if isinstance(out, str) else OPEN_COMBO for out in info.get("output", ()))
    return NodeSpec(
        class_type=class_type,
        required=sections["required"],
        optional=sections["optional"],
        outputs=outputs,
        output_names=tuple(info.get("output_name", outputs)),
        output_node=bool(info.get("output_node", False)),
        source=source,
        module=info.get("python_module", "nodes"),
        schema="v3" if any(key in info for key in _V3_KEYS) else "v1",
        constraints=constraints,
        format_extra_inputs=format_extra_inputs,
    )


def _marker_from_info(kind: Any, options: Mapping[str, Any]) -> Marker:
    # Old-style combos are the choice list itself; new-style ones carry it under "options".
    # File-backed combos look the same as fixed ones here, which is what this server validates against.
    if isinstance(kind, list):
        return list(kind)
    if kind == OPEN_COMBO and isinstance(options.get("options"), list):
        return list(options["options"])
    return kind


def _format_extras(formats: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """VHS lists each format's extra widgets as `[name, TYPE or [choices], {options}?]`."""
    extras: dict[str, dict[str, dict[str, Any]]] = {}
    for format_name, widgets in formats.items():
        entries: dict[str, dict[str, Any]] = {}
        for widget in widgets:
            name, kind = widget[0], widget[1]
            options = widget[2] if len(widget) > 2 and isinstance(widget[2], dict) else {}
            entry: dict[str, Any] = (
                {"type": OPEN_COMBO, "choices": list(kind)} if isinstance(kind, list) else {"type": kind}
            )
            entry.update({key: options[key] for key in _CONSTRAINT_KEYS if key in options})
            entries[name] = entry
        extras[format_name] = entries
    return extras
