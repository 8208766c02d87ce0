"""A small builder for ComfyUI API-format graphs, and a stable hash of a finished graph."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Every graph the studio queues saves its files under this output subfolder (the file name prefix's first
# part), so a scan of a server's outputs can tell the studio's own generations from pictures made there.
STUDIO_OUTPUT_FOLDER = "anime-studio"


@dataclass(frozen=True)
class Link:
    """Output `slot` of node `node_id`; serialises to the API form `[node_id, slot]`."""

    node_id: str
    slot: int

    def to_api(self) -> list[Any]:
        return [self.node_id, self.slot]


@dataclass(eq=False)
class Node:
    """A node being built. `meta` entries travel in the API graph's `_meta`, which ComfyUI ignores."""

    id: str
    class_type: str
    inputs: dict[str, Any]
    title: str
    meta: dict[str, Any] = field(default_factory=dict)

    def out(self, slot: int) -> Link:
        return Link(self.id, slot)

    def __getitem__(self, slot: int) -> Link:
        return self.out(slot)


class Graph:
    """Nodes in insertion order with ids "1", "2", ...; links are made from the returned nodes."""

    def __init__(self) -> None:
        self._nodes: list[Node] = []

    def add(self, class_type: str, title: str | None = None, /, **inputs: Any) -> Node:
        node = Node(str(len(self._nodes) + 1), class_type, inputs, title or class_type)
        self._nodes.append(node)
        return node

    def to_api(self) -> dict[str, dict[str, Any]]:
        return {
            node.id: {
                "class_type": node.class_type,
                "inputs": {name: _api_value(value) for name, value in node.inputs.items()},
                "_meta": {"title": node.title, **node.meta},
            }
            for node in self._nodes
        }


def workflow_hash(api_graph: Mapping[str, Any]) -> str:
    """sha256 of the graph's canonical JSON without `_meta`, so titles and key order do not change it."""
    stripped = {
        node_id: {key: value for key, value in node.items() if key != "_meta"} for node_id, node in api_graph.items()
    }
    canonical = json.dumps(stripped, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _api_value(value: Any) -> Any:
    if isinstance(value, Link):
        return value.to_api()
    # ComfyUI reads every bare list as a link; a list literal has to be wrapped (protocol §2).
    if isinstance(value, list | tuple):
        return {"__value__": list(value)}
    return value
