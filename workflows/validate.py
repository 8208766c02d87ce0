"""Offline graph validation: what ComfyUI checks at `POST /prompt`, plus what it lets through to fail at run time.

The server does not reject a literal given for a link input, a link to a missing node is a KeyError, and
nodes written against the newer ("v3") schema do not get their choice values checked (protocol §2, §9).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from workflows.specs import (
    ANY_TYPE,
    OPEN_COMBO,
    Marker,
    NodeCatalog,
    NodeSpec,
    file_folders,
    is_link_type,
)

_SHOWN_CHOICES = 8
_INPUT_FOLDER = "input"
# `LoadImage` values may name another directory instead of the input folder (protocol §5).
_OTHER_DIRECTORY_SUFFIXES = (" [output]", " [temp]")
_INPUT_DIRECTORY_SUFFIX = " [input]"


@dataclass(frozen=True)
class GraphProblem:
    """One thing wrong with a graph; node_id and class_type are None for whole-graph problems."""

    node_id: str | None
    class_type: str | None
    input_name: str | None
    message: str

    def __str__(self) -> str:
        where = "graph" if self.node_id is None else f"node {self.node_id} ({self.class_type})"
        if self.input_name is not None:
            where += f" input '{self.input_name}'"
        return f"{where}: {self.message}"


def validate_graph(
    graph: Mapping[str, Any],
    catalog: NodeCatalog,
    *,
    models: Mapping[str, Collection[str]] | None = None,
    input_files: Collection[str] | None = None,
) -> list[GraphProblem]:
    """Every problem found in an API-format graph; an empty list means it should queue and run.

    `models` maps a server folder (`checkpoints`, `loras`, ...) to its files and `input_files` lists the input
    folder; without them file-backed inputs are not checked, since only the server knows what it has.
    """
    if not isinstance(graph, Mapping):
        return [GraphProblem(None, None, None, "a graph must be a JSON object of nodes by id")]
    if "nodes" in graph and "links" in graph:
        return [GraphProblem(None, None, None, "this is the UI workflow format; ComfyUI accepts only the API format")]
    checker = _Checker(graph, catalog, models, input_files)
    for node_id, node in graph.items():
        checker.check_node(str(node_id), node)
    if not checker.has_output_node:
        checker.problems.append(
            GraphProblem(None, None, None, "the graph has no output node (such as SaveImage or VHS_VideoCombine)")
        )
    return checker.problems


class _Checker:
    def __init__(
        self,
        graph: Mapping[str, Any],
        catalog: NodeCatalog,
        models: Mapping[str, Collection[str]] | None,
        input_files: Collection[str] | None,
    ) -> None:
        self.graph = graph
        self.catalog = catalog
        self.models = models
        self.input_files = input_files
        self.problems: list[GraphProblem] = []
        self.has_output_node = False

    def check_node(self, node_id: str, node: Any) -> None:
        if not isinstance(node, Mapping) or not isinstance(node.get("class_type"), str):
            self.problems.append(GraphProblem(node_id, None, None, "a node must be an object with a class_type"))
            return
        class_type = node["class_type"]
        spec = self.catalog.get(class_type)
        if spec is None:
            self.problems.append(GraphProblem(node_id, class_type, None, f"unknown node type {class_type!r}"))
            return
        self.has_output_node = self.has_output_node or spec.output_node
        inputs = node.get("inputs", {})
        if not isinstance(inputs, Mapping):
            self.problems.append(GraphProblem(node_id, class_type, None, "inputs must be an object"))
            return
        for name in spec.required:
            if name not in inputs:
                self.problems.append(GraphProblem(node_id, class_type, name, "required input is missing"))
        # Keys the spec does not declare are ignored, as the server does (VHS relies on that).
        for name, value in inputs.items():
            marker = spec.marker(name)
            if marker is not None:
                for message in self.value_problems(value, marker, spec.constraints.get(name, {}), spec):
                    self.problems.append(GraphProblem(node_id, class_type, name, message))
        self.check_format_extras(node_id, spec, inputs)

    def check_format_extras(self, node_id: str, spec: NodeSpec, inputs: Mapping[str, Any]) -> None:
        chosen = inputs.get("format")
        if not isinstance(chosen, str) or chosen not in spec.format_extra_inputs:
            return
        for name, entry in spec.format_extra_inputs[chosen].items():
            if name not in inputs:
                message = f"format {chosen!r} needs this input"
                self.problems.append(GraphProblem(node_id, spec.class_type, name, message))
                continue
            marker: Marker = list(entry["choices"]) if "choices" in entry else entry["type"]
            for message in self.value_problems(inputs[name], marker, entry, spec):
                self.problems.append(GraphProblem(node_id, spec.class_type, name, message))

    def value_problems(self, value: Any, marker: Marker, limits: Mapping[str, Any], spec: NodeSpec) -> list[str]:
        if isinstance(value, list):  # the server reads every bare list as a link
            return self.link_problems(value, marker)
        if isinstance(marker, list):
            if value in marker:
                return []
            message = f"{value!r} is not one of {_choices_text(marker)}"
            if spec.schema == "v3":
                message += " (ComfyUI would accept it and fail only while running)"
            return [message]
        if isinstance(marker, dict):
            return self.file_problems(value, marker)
        return _literal_problems(value, marker, limits)

    def link_problems(self, link: list[Any], marker: Marker) -> list[str]:
        if len(link) != 2:
            return [f"a link must be [node_id, output_index], got {link!r}"]
        source_id, slot = link
        if not isinstance(source_id, str):
            return [f"a link names its node by id string, got {source_id!r}"]
        if not isinstance(slot, int) or isinstance(slot, bool):
            return [f"a link's output index must be an integer, got {slot!r}"]
        source = self.graph.get(source_id)
        if source is None:
            return [f"links to node {source_id}, which is not in the graph"]
        source_spec = self.catalog.get(source.get("class_type")) if isinstance(source, Mapping) else None
        if source_spec is None:
            return []  # the source node's own problem is reported there
        if not 0 <= slot < len(source_spec.outputs):
            count = len(source_spec.outputs)
            return [f"links to output {slot} of node {source_id} ({source_spec.class_type}), which has {count} outputs"]
        received = source_spec.outputs[slot]
        expected = marker if isinstance(marker, str) else OPEN_COMBO
        if _types_match(received, expected):
            return []
        return [f"expects {expected}, but node {source_id} ({source_spec.class_type}) output {slot} is {received}"]

    def file_problems(self, value: Any, marker: Mapping[str, Any]) -> list[str]:
        if not isinstance(value, str):
            return [f"expects a file name, got {value!r}"]
        if value in marker.get("plus_fixed", ()):
            return []
        folders = file_folders(marker)
        if _INPUT_FOLDER in folders:
            if self.input_files is None or value.endswith(_OTHER_DIRECTORY_SUFFIXES):
                return []
            name = value.removesuffix(_INPUT_DIRECTORY_SUFFIX)
            return [] if name in self.input_files else [f"{name!r} is not in ComfyUI's input folder"]
        if self.models is None:
            return []
        if any(value in self.models.get(folder, ()) for folder in folders):
            return []
        return [f"model file {value!r} is not installed in {' or '.join(folders)}"]


def _literal_problems(value: Any, marker: str, limits: Mapping[str, Any]) -> list[str]:
    if marker == ANY_TYPE:
        return []
    if is_link_type(marker):
        return [f"expects a link to a {marker} output, got the literal {value!r}"]
    if marker == "INT":
        number = _as_int(value)
        return ["expects a whole number, got " + repr(value)] if number is None else _range_problems(number, limits)
    if marker == "FLOAT":
        number = _as_float(value)
        return ["expects a number, got " + repr(value)] if number is None else _range_problems(number, limits)
    if marker == "BOOLEAN" and not isinstance(value, bool):
        return [f"expects true or false, got {value!r}"]
    if marker in ("STRING", OPEN_COMBO) and not isinstance(value, str):
        return [f"expects text, got {value!r}"]
    return []


def _as_int(value: Any) -> int | None:
    # ComfyUI calls int() on the value, which silently truncates 2.5; refuse that here.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _range_problems(number: float, limits: Mapping[str, Any]) -> list[str]:
    if "min" in limits and number < limits["min"]:
        return [f"{number} is smaller than the minimum {limits['min']}"]
    if "max" in limits and number > limits["max"]:
        return [f"{number} is bigger than the maximum {limits['max']}"]
    return []


def _types_match(received: str, expected: str) -> bool:
    """ComfyUI's non-strict rule: equal, a `*` on either side, or comma-separated unions that overlap."""
    if received == expected or ANY_TYPE in (received, expected):
        return True
    received_types = {part.strip() for part in received.split(",")}
    expected_types = {part.strip() for part in expected.split(",")}
    return bool(received_types & expected_types)


def _choices_text(choices: list[Any]) -> str:
    shown = ", ".join(repr(choice) for choice in choices[:_SHOWN_CHOICES])
    if len(choices) > _SHOWN_CHOICES:
        return f"[{shown}, ...] ({len(choices)} choices)"
    return f"[{shown}]"
