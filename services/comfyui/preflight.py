"""Preflight: what a ComfyUI server can run, and exactly what it lacks for the rest.

For every engine the studio can build a graph for, the graph's own requirements (node classes, model
files, files a node finds by name pattern) are compared with the server's `/object_info` and model
folder listings. A missing node names the custom-node package that provides it; a missing model file
names the folder it was looked for in and the closest names that are there (a renamed or differently
quantised file is the usual cause).
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.comfyui.client import ComfyClient
from services.comfyui.errors import ComfyUnavailable
from services.prompts import ModelProfile, SamplerNames, match_profile
from studio.models import GenerationStyle
from workflows import ENGINES, NodeCatalog, NodeSpec, load_catalog, requirements_of, validate_graph

ARCHITECTURE_LABELS = {"sd15": "SD 1.5", "sdxl": "SDXL"}

# A pack that registers every node of another pack the studio's graphs use, under the same names, and more.
# The studio recommends the larger one for both, so following one engine's fix never installs a pack that
# clashes with what another engine's fix installed: FramePackWrapper_Plus re-registers kijai's
# LoadFramePackModel and FramePackSampler and adds the F1 nodes, so it runs both FramePack engines.
_INSTALL_INSTEAD = {"kijai/ComfyUI-FramePackWrapper": "ShmuelRonen/ComfyUI-FramePackWrapper_Plus"}


@dataclass(frozen=True)
class MissingNode:
    class_type: str
    package: str  # "core" (update ComfyUI) or "owner/repo" of the custom-node pack to install
    replaces: str | None = None  # an installed pack registering the same node names: remove it first

    def describe(self) -> str:
        if self.package == "core":
            return f"node {self.class_type} (part of ComfyUI itself: update ComfyUI)"
        if self.replaces:
            return (
                f"node {self.class_type} (install {self.package} in place of {self.replaces}, "
                "which registers the same node names: keep only one)"
            )
        return f"node {self.class_type} (install {self.package})"


@dataclass(frozen=True)
class MissingModel:
    folder: str
    name: str  # a file name, or an example of a matching name for pattern requirements
    looked_in: str  # the listing that was searched, e.g. "http://host:8188/models/loras"; "" if none exists
    near: tuple[str, ...]
    why: str = ""
    what: str = "model file"  # "" when `name` already says what is missing ("an SDXL checkpoint")

    def describe(self) -> str:
        where = f"(looked in {self.looked_in})" if self.looked_in else "(the server has no such folder)"
        text = f"{self.what} {self.name}".strip() + f" in {self.folder} {where}"
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
class StyleCheckpoint:
    """A generation style's checkpoint, the architecture the style sets for it (None: its profile's), and the
    VAE it decodes with (None: the checkpoint's own)."""

    style: str
    checkpoint: str
    architecture: str | None = None
    vae: str | None = None

    @classmethod
    def of(cls, style: GenerationStyle) -> StyleCheckpoint:
        return cls(style.name, style.checkpoint_model, style.model_architecture, style.vae)


@dataclass(frozen=True)
class CheckpointReadiness:
    """Whether a device has a style's checkpoint, and its VAE when the style names one."""

    style: str
    checkpoint: str
    present: bool
    near: tuple[str, ...]
    vae: str | None = None
    vae_present: bool = True
    vae_near: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return self.present and self.vae_present


# ComfyUI's native LoRA training nodes changed names: 0.3.41-0.3.64 registered V1 nodes (kohya folders in the
# loader since 0.3.44), PR #10708 (2025-11) moved them to the V3 schema with new dataset nodes and renamed
# the saver. Each role lists its names newest first; a server is asked, never assumed to be one generation.
_TRAINING_LOADERS = (
    # (folder loader, the node turning its output into latents + conditioning, generation)
    ("LoadImageTextDataSetFromFolder", "MakeTrainingDataset", "v3"),
    ("LoadImageTextSetFromFolderNode", "VAEEncode", "0.3.64"),
)
_TRAINING_SAVERS = ("SaveLoRA", "SaveLoRANode")
_TRAINING_TRAINER = "TrainLoraNode"
_TRAINING_EXTRAS = ("LossGraphNode", "LoraModelLoader", "LoadImageDataSetFromFolder", "LoadImageSetFromFolderNode")
_TRAINING_NAMES = frozenset(
    {_TRAINING_TRAINER, *_TRAINING_SAVERS, *_TRAINING_EXTRAS, *(loader for loader, _, _ in _TRAINING_LOADERS)}
)


@dataclass(frozen=True)
class TrainingNodes:
    """The node names one server's native LoRA training runs with."""

    generation: str  # "0.3.64" (V1 names, 0.3.41-0.3.64) or "v3" (after PR #10708)
    folder_loader: str  # reads input/<folder>/ with kohya repeat folders and same-stem .txt captions
    dataset: str  # VAEEncode (0.3.64: the loader encodes the captions) or MakeTrainingDataset (v3)
    trainer: str
    saver: str
    loss_graph: str | None  # LossGraphNode, when the server has it


@dataclass(frozen=True)
class TrainingReadiness:
    """Whether a server can train a LoRA with ComfyUI's own nodes: the names to use, or what it lacks."""

    nodes: TrainingNodes | None
    missing: tuple[str, ...] = ()  # one entry per role no node fills, naming the nodes that would
    has_any: bool = False  # the server has some training node (so: update it) or none at all

    @property
    def ready(self) -> bool:
        return self.nodes is not None

    def describe(self) -> str:
        if self.nodes is not None:
            names = f"{self.nodes.folder_loader} → {self.nodes.dataset} → {self.nodes.trainer} → {self.nodes.saver}"
            label = "V3 node names" if self.nodes.generation == "v3" else "0.3.41-0.3.64 node names"
            return f"LoRA training with ComfyUI's own nodes: ready ({label}: {names})"
        if not self.has_any:
            return (
                "LoRA training with ComfyUI's own nodes: ComfyUI 0.3.41 or newer has the training nodes; "
                "this server has none of them (update ComfyUI)"
            )
        return (
            "LoRA training with ComfyUI's own nodes lacks "
            + "; ".join(self.missing)
            + " (part of ComfyUI itself: update ComfyUI)"
        )


def training_readiness(classes: Collection[str]) -> TrainingReadiness:
    """Resolve the training node names from a server's node classes (its `/object_info` keys)."""
    present = set(classes)
    missing: list[str] = []
    loader = next(((f, d, g) for f, d, g in _TRAINING_LOADERS if f in present and d in present), None)
    if loader is None:
        partial = next(((f, d, g) for f, d, g in _TRAINING_LOADERS if f in present), None)
        if partial is not None:
            missing.append(f"node {partial[1]} (it turns {partial[0]}'s images and captions into a training set)")
        else:
            names = " or ".join(f for f, _, _ in _TRAINING_LOADERS)
            missing.append(f"an image-and-caption folder loader ({names}; kohya folders since ComfyUI 0.3.44)")
    if _TRAINING_TRAINER not in present:
        missing.append(f"node {_TRAINING_TRAINER}")
    saver = next((name for name in _TRAINING_SAVERS if name in present), None)
    if saver is None:
        missing.append(f"a LoRA saver ({' or '.join(_TRAINING_SAVERS)})")
    has_any = bool(present & _TRAINING_NAMES)
    if missing or loader is None or saver is None:
        return TrainingReadiness(None, tuple(missing), has_any)
    folder_loader, dataset, generation = loader
    loss_graph = "LossGraphNode" if "LossGraphNode" in present else None
    nodes = TrainingNodes(generation, folder_loader, dataset, _TRAINING_TRAINER, saver, loss_graph)
    return TrainingReadiness(nodes, (), True)


@dataclass(frozen=True)
class DevicePreflight:
    device: str
    url: str
    error: str | None  # set when the server could not be asked at all
    engines: tuple[EngineReadiness, ...] = ()
    checkpoints: tuple[CheckpointReadiness, ...] = ()
    sampler_names: SamplerNames | None = None  # KSampler's choices, when the server reported them
    training: TrainingReadiness | None = None  # None when the server could not be asked

    @property
    def ready_engines(self) -> list[str]:
        return [e.key for e in self.engines if e.ready]


class ServerInventory:
    """What one server has: its node classes and, fetched on demand, its model folders."""

    def __init__(self, client: ComfyClient, object_info: Mapping[str, Any]) -> None:
        self._client = client
        self.classes = frozenset(object_info)
        self._modules = frozenset(info.get("python_module") for info in object_info.values() if isinstance(info, dict))
        self._folders: dict[str, list[str]] = {}
        self._folder_names: frozenset[str] | None = None
        self._object_info = object_info
        self._choices: tuple[NodeCatalog, NodeCatalog] | None = None  # (catalog, with this server's choices)

    async def files(self, folder: str) -> list[str]:
        if folder not in self._folders:
            self._folders[folder] = await self._client.models(folder)
        return self._folders[folder]

    async def has_folder(self, folder: str) -> bool:
        """Whether the server knows the model folder at all: custom-node packs register their own (unet_gguf)."""
        if self._folder_names is None:
            self._folder_names = frozenset(await self._client.model_folders())
        return folder in self._folder_names

    def missing_node(self, class_type: str, catalog: NodeCatalog) -> MissingNode:
        """What to install for a class the server lacks, and which installed pack it would clash with."""
        package = catalog.package_of(class_type) if class_type in catalog else "unknown"
        package = _INSTALL_INSTEAD.get(package, package)
        clashing = next(
            (
                old
                for old, new in _INSTALL_INSTEAD.items()
                if new == package
                and any(spec.source == old and spec.module in self._modules for spec in catalog.values())
            ),
            None,
        )
        return MissingNode(class_type, package, clashing)

    async def _folder_gone(self, folder: str, reader: str | None, catalog: NodeCatalog) -> str | None:
        """Why no file can be found in `folder` (the server has no such folder), or None when it has it.

        Packs register their own folders (ComfyUI-GGUF's unet_gguf): looking in one that is not there would
        send a person to the wrong place, the missing pack is the fix.
        """
        if await self.has_folder(folder):
            return None
        pack = catalog.package_of(reader) if reader is not None and reader in catalog else "core"
        if reader in self.classes or pack == "core":
            return f"ComfyUI reports no {folder} folder"
        return (
            f"ComfyUI has no {folder} folder until {_INSTALL_INSTEAD.get(pack, pack)}, which registers it, is installed"
        )

    def looked_in(self, folder: str) -> str:
        return f"{self._client.base_url}/models/{folder}"

    async def shortfall(
        self, graph: Mapping[str, Any], catalog: NodeCatalog, *, skip_folders: Collection[str] = ()
    ) -> tuple[tuple[MissingNode, ...], tuple[MissingModel, ...]]:
        """The node classes and model files `graph` needs that this server lacks."""
        needs = requirements_of(graph, catalog)
        nodes = tuple(self.missing_node(c, catalog) for c in needs.nodes if c not in self.classes)
        models: list[MissingModel] = []
        for file in needs.models:
            if file.folder in skip_folders:
                continue
            gone = await self._folder_gone(file.folder, file.class_type, catalog)
            if gone is not None:
                models.append(MissingModel(file.folder, file.name, "", (), gone))
                continue
            present = await self.files(file.folder)
            if file.name not in present:
                models.append(
                    MissingModel(file.folder, file.name, self.looked_in(file.folder), near_names(file.name, present))
                )
        for pattern in needs.patterns:
            gone = await self._folder_gone(pattern.folder, None, catalog)
            if gone is not None:
                models.append(MissingModel(pattern.folder, pattern.example, "", (), f"{gone}; {pattern.why}"))
                continue
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
        checked = self.with_server_choices(catalog)
        structure = [str(p) for p in validate_graph(graph, checked) if p.class_type not in missing]
        return [n.describe() for n in nodes] + structure + [m.describe() for m in models]

    def with_server_choices(self, catalog: NodeCatalog) -> NodeCatalog:
        """`catalog` with each fixed choice list as this server reports it: a sampler a newer ComfyUI offers
        passes, one an older one lacks does not. File-backed inputs stay: `shortfall` checks their files."""
        if self._choices is None or self._choices[0] is not catalog:
            server = NodeCatalog.from_object_info(self._object_info, reference=catalog)
            specs = {}
            for class_type, spec in catalog.items():
                reported = server.get(class_type)
                specs[class_type] = spec if reported is None else _choices_of(spec, reported)
            self._choices = (catalog, NodeCatalog(specs))
        return self._choices[1]


def _choices_of(spec: NodeSpec, reported: NodeSpec) -> NodeSpec:
    def merged(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: theirs[name] if isinstance(marker, list) and isinstance(theirs.get(name), list) else marker
            for name, marker in ours.items()
        }

    return dataclasses.replace(
        spec,
        required=merged(spec.required, reported.required),
        optional=merged(spec.optional, reported.optional),
    )


def near_names(wanted: str, present: Sequence[str], limit: int = 3) -> tuple[str, ...]:
    """Files whose names look like `wanted`: close spelling, or the same stem in another folder/format."""
    stem = wanted.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    by_stem = [name for name in present if stem and stem in name.lower()]
    close = difflib.get_close_matches(wanted, present, n=limit, cutoff=0.6)
    return tuple(dict.fromkeys([*by_stem, *close]))[:limit]


async def check_device(
    device: str,
    client: ComfyClient,
    styles: Sequence[StyleCheckpoint],
    profiles: Sequence[ModelProfile],
    catalog: NodeCatalog | None = None,
) -> DevicePreflight:
    """Ask one server what it has and report every engine's and style's readiness (never raises for the server).

    `styles` and `profiles` tell each checkpoint's architecture, so "SDXL text-to-image: ready" means an
    SDXL checkpoint is there.
    """
    catalog = catalog or load_catalog()
    try:
        object_info = await client.object_info()
        inventory = ServerInventory(client, object_info)
        present = await inventory.files("checkpoints")
        vaes = await inventory.files("vae") if any(style.vae for style in styles) else []
        engines = []
        for engine in ENGINES:
            # An image engine's example names a placeholder checkpoint: its architecture is checked instead.
            skip = ("checkpoints",) if engine.media == "image" else ()
            nodes, models = await inventory.shortfall(engine.example(), catalog, skip_folders=skip)
            if engine.architecture is not None:
                models += _checkpoint_of(
                    engine.architecture, present, styles, profiles, inventory.looked_in("checkpoints")
                )
            engines.append(EngineReadiness(engine.key, engine.label, engine.media, nodes, models))
        checkpoints = []
        for style in sorted(styles, key=lambda s: s.style):
            vae_present = style.vae is None or style.vae in vaes
            checkpoints.append(
                CheckpointReadiness(
                    style.style,
                    style.checkpoint,
                    style.checkpoint in present,
                    () if style.checkpoint in present else near_names(style.checkpoint, present),
                    style.vae,
                    vae_present,
                    () if vae_present or style.vae is None else near_names(style.vae, vaes),
                )
            )
    except ComfyUnavailable as exc:
        return DevicePreflight(device=device, url=client.base_url, error=str(exc))
    return DevicePreflight(
        device=device,
        url=client.base_url,
        error=None,
        engines=tuple(engines),
        checkpoints=tuple(checkpoints),
        sampler_names=SamplerNames.from_object_info(object_info, f"ComfyUI on {device}"),
        training=training_readiness(object_info.keys()),
    )


def architecture_of(checkpoint: str, styles: Sequence[StyleCheckpoint], profiles: Sequence[ModelProfile]) -> str:
    """A checkpoint's architecture as a generation with it is planned: a style naming the file may set it,
    else the model profile the file name matches decides."""
    explicit = next((s.architecture for s in styles if s.checkpoint == checkpoint and s.architecture), None)
    return explicit or match_profile(checkpoint, profiles)[0].architecture


def _checkpoint_of(
    architecture: str,
    present: Sequence[str],
    styles: Sequence[StyleCheckpoint],
    profiles: Sequence[ModelProfile],
    looked_in: str,
) -> tuple[MissingModel, ...]:
    """Nothing when a checkpoint of `architecture` is present, else what to add."""
    if any(architecture_of(name, styles, profiles) == architecture for name in present):
        return ()
    label = ARCHITECTURE_LABELS[architecture]
    claiming = [p.name for p in profiles if p.architecture == architecture and p.match]
    why = (
        f"no file there matches a model profile for {label} ({', '.join(claiming)}): add such a checkpoint, or "
        "a model profile whose match strings name yours (or a style naming it with that architecture)"
        if claiming
        else f"no model profile is for {label}: add one whose match strings name your checkpoint"
    )
    return (MissingModel("checkpoints", f"an {label} checkpoint", looked_in, (), why, what=""),)


class DeviceCapabilities:
    """Preflight of every ComfyUI device, cached briefly: `/object_info` is half a megabyte per server."""

    def __init__(self, devices: Callable[[], Mapping[str, str]], timeout: float) -> None:
        self._devices = devices  # device name -> ComfyUI URL, asked each time: devices change in the app
        self._timeout = timeout
        self._cache: tuple[float, tuple[Any, ...], list[DevicePreflight]] | None = None
        self._lock = asyncio.Lock()

    async def check_all(
        self, styles: Sequence[StyleCheckpoint], profiles: Sequence[ModelProfile], max_age: float = 30.0
    ) -> list[DevicePreflight]:
        key = (tuple(styles), tuple(profiles))
        async with self._lock:  # tabs opened together share one round of requests
            devices = dict(self._devices())
            key = (*key, tuple(devices.items()))  # a device added, changed or removed is checked at once
            now = time.monotonic()
            if self._cache is not None:
                at, cached_key, result = self._cache
                if now - at <= max_age and cached_key == key:
                    return result
            result = list(await asyncio.gather(*(self.check(d, u, styles, profiles) for d, u in devices.items())))
            self._cache = (time.monotonic(), key, result)
            return result

    def sampler_names(self) -> SamplerNames:
        """The sampler and scheduler names the devices reported at their last check (any of them may run a
        style); ComfyUI 0.3.64's names while none has answered yet."""
        checked = self._cache[2] if self._cache is not None else []
        return SamplerNames.union(p.sampler_names for p in checked if p.sampler_names is not None)

    async def check(
        self, device: str, url: str, styles: Sequence[StyleCheckpoint], profiles: Sequence[ModelProfile]
    ) -> DevicePreflight:
        """One server's preflight now, uncached (also for an address not saved yet)."""
        client = ComfyClient(url, timeout=self._timeout)
        try:
            return await check_device(device, client, styles, profiles)
        finally:
            await client.aclose()

    async def model_files(self, folder: str) -> list[str]:
        """Every file the ComfyUI devices list in one model folder (`GET /models/{folder}`), for pickers.

        A device that does not answer (or answers nonsense) lists nothing: the picker still takes a typed name.
        """
        by_device = await self.model_files_by_device(folder)
        return sorted({name for files in by_device.values() for name in files}, key=str.lower)

    async def model_files_by_device(self, folder: str) -> dict[str, list[str]]:
        """Each ComfyUI device's files in one model folder; a device that does not answer lists nothing."""

        async def listed(url: str) -> list[str]:
            client = ComfyClient(url, timeout=self._timeout)
            try:
                return await client.models(folder)
            except (ComfyUnavailable, ValueError):  # ValueError: a body that is not JSON
                return []
            finally:
                await client.aclose()

        devices = dict(self._devices())
        lists = await asyncio.gather(*(listed(url) for url in devices.values()))
        return dict(zip(devices, lists, strict=True))
