"""Preflight: what a ComfyUI server can run, and exactly what it lacks for the rest.

For every engine the studio can build a graph for, the graph's own requirements (node classes, model
files, files a node finds by name pattern) are compared with the server's `/object_info` and model
folder listings. A missing node names the custom-node package that provides it; a missing model file
names the folder it was looked for in and the closest names that are there (a renamed or differently
quantised file is the usual cause).
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.comfyui.client import ComfyClient
from services.comfyui.errors import ComfyUnavailable
from workflows import ENGINES, NodeCatalog, load_catalog, requirements_of, validate_graph


@dataclass(frozen=True)
class MissingNode:
    class_type: str
    package: str  # "core" (update ComfyUI) or "owner/repo" of the custom-node pack

    def describe(self) -> str:
        if self.package == "core":
            return f"node {self.class_type} (part of ComfyUI itself: update ComfyUI)"
        return f"node {self.class_type} (install {self.package})"


@dataclass(frozen=True)
class MissingModel:
    folder: str
    name: str  # a file name, or an example of a matching name for pattern requirements
    looked_in: str  # the listing that was searched, e.g. "http://host:8188/models/loras"
    near: tuple[str, ...]
    why: str = ""

    def describe(self) -> str:
        text = f"model file {self.name} in {self.folder} (looked in {self.looked_in})"
        if self.why:
            text += f" — {self.why}"
        if self.near:
            text += f"; similar files there: {', '.join(self.near)}"
        return text


@dataclass(frozen=True)
class EngineReadiness:
    key: str
    label: str
    media: str
    missing_nodes: tuple[MissingNode, ...]
    missing_models: tuple[MissingModel, ...]

    @property
    def ready(self) -> bool:
        return not self.missing_nodes and not self.missing_models

    def describe(self) -> str:
        if self.ready:
            return f"{self.label}: ready"
        parts = [n.describe() for n in self.missing_nodes] + [m.describe() for m in self.missing_models]
        return f"{self.label} lacks " + "; ".join(parts)


@dataclass(frozen=True)
class CheckpointReadiness:
    style: str
    checkpoint: str
    present: bool
    near: tuple[str, ...]


@dataclass(frozen=True)
class DevicePreflight:
    device: str
    url: str
    error: str | None  # set when the server could not be asked at all
    engines: tuple[EngineReadiness, ...] = ()
    checkpoints: tuple[CheckpointReadiness, ...] = ()

    @property
    def ready_engines(self) -> list[str]:
        return [e.key for e in self.engines if e.ready]


class ServerInventory:
    """What one server has: its node classes and, fetched on demand, its model folders."""

    def __init__(self, client: ComfyClient, object_info: Mapping[str, Any]) -> None:
        self._client = client
        self.classes = frozenset(object_info)
        self._folders: dict[str, list[str]] = {}

    async def files(self, folder: str) -> list[str]:
        if folder not in self._folders:
            self._folders[folder] = await self._client.models(folder)
        return self._folders[folder]

    def looked_in(self, folder: str) -> str:
        return f"{self._client.base_url}/models/{folder}"

    async def shortfall(
        self, graph: Mapping[str, Any], catalog: NodeCatalog, *, skip_folders: Collection[str] = ()
    ) -> tuple[tuple[MissingNode, ...], tuple[MissingModel, ...]]:
        """The node classes and model files `graph` needs that this server lacks."""
        needs = requirements_of(graph, catalog)
        nodes = tuple(
            MissingNode(c, catalog.package_of(c) if c in catalog else "unknown")
            for c in needs.nodes
            if c not in self.classes
        )
        models: list[MissingModel] = []
        for file in needs.models:
            if file.folder in skip_folders:
                continue
            present = await self.files(file.folder)
            if file.name not in present:
                models.append(
                    MissingModel(file.folder, file.name, self.looked_in(file.folder), near_names(file.name, present))
                )
        for pattern in needs.patterns:
            present = await self.files(pattern.folder)
            if not any(pattern.matches(name) for name in present):
                models.append(
                    MissingModel(
                        pattern.folder,
                        pattern.example,
                        self.looked_in(pattern.folder),
                        near_names(pattern.example, present),
                        pattern.why,
                    )
                )
        return nodes, tuple(models)

    async def graph_problems(self, graph: Mapping[str, Any], catalog: NodeCatalog | None = None) -> list[str]:
        """Everything that would make this server reject or fail `graph`, as sentences; empty: submit it.

        Checks what the server checks and what it does not (links, v3 combo values), so a job fails here
        with the fix named instead of minutes later on the GPU.
        """
        catalog = catalog or load_catalog()
        nodes, models = await self.shortfall(graph, catalog)
        missing = {n.class_type for n in nodes}
        structure = [str(p) for p in validate_graph(graph, catalog) if p.class_type not in missing]
        return [n.describe() for n in nodes] + structure + [m.describe() for m in models]


def near_names(wanted: str, present: Sequence[str], limit: int = 3) -> tuple[str, ...]:
    """Files whose names look like `wanted`: close spelling, or the same stem in another folder/format."""
    stem = wanted.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    by_stem = [name for name in present if stem and stem in name.lower()]
    close = difflib.get_close_matches(wanted, present, n=limit, cutoff=0.6)
    return tuple(dict.fromkeys([*by_stem, *close]))[:limit]


async def check_device(
    device: str,
    client: ComfyClient,
    style_checkpoints: Mapping[str, str],
    catalog: NodeCatalog | None = None,
) -> DevicePreflight:
    """Ask one server what it has and report every engine's readiness (never raises for the server)."""
    catalog = catalog or load_catalog()
    try:
        inventory = ServerInventory(client, await client.object_info())
        engines = []
        for engine in ENGINES:
            # An image engine's example names a placeholder checkpoint: real ones are checked per style.
            skip = ("checkpoints",) if engine.media == "image" else ()
            nodes, models = await inventory.shortfall(engine.example(), catalog, skip_folders=skip)
            engines.append(EngineReadiness(engine.key, engine.label, engine.media, nodes, models))
        checkpoints = []
        present = await inventory.files("checkpoints")
        for style, checkpoint in sorted(style_checkpoints.items()):
            checkpoints.append(
                CheckpointReadiness(
                    style,
                    checkpoint,
                    checkpoint in present,
                    () if checkpoint in present else near_names(checkpoint, present),
                )
            )
    except ComfyUnavailable as exc:
        return DevicePreflight(device=device, url=client.base_url, error=str(exc))
    return DevicePreflight(
        device=device, url=client.base_url, error=None, engines=tuple(engines), checkpoints=tuple(checkpoints)
    )


class DeviceCapabilities:
    """Preflight of every ComfyUI device, cached briefly: `/object_info` is half a megabyte per server."""

    def __init__(self, devices: Mapping[str, str], timeout: float) -> None:
        self._devices = dict(devices)  # device name -> ComfyUI URL
        self._timeout = timeout
        self._cache: tuple[float, dict[str, str], list[DevicePreflight]] | None = None
        self._lock = asyncio.Lock()

    async def check_all(self, style_checkpoints: Mapping[str, str], max_age: float = 30.0) -> list[DevicePreflight]:
        async with self._lock:  # tabs opened together share one round of requests
            now = time.monotonic()
            if self._cache is not None:
                at, checkpoints, result = self._cache
                if now - at <= max_age and checkpoints == dict(style_checkpoints):
                    return result
            result = list(
                await asyncio.gather(*(self._check(d, u, style_checkpoints) for d, u in self._devices.items()))
            )
            self._cache = (time.monotonic(), dict(style_checkpoints), result)
            return result

    async def _check(self, device: str, url: str, style_checkpoints: Mapping[str, str]) -> DevicePreflight:
        client = ComfyClient(url, timeout=self._timeout)
        try:
            return await check_device(device, client, style_checkpoints)
        finally:
            await client.aclose()
