"""ComfyUI API-format graph builders, one module per engine, validated offline against node specs.

Builders are pure: they take a frozen request (which checks its own arguments) and return the API dict.
`validate_graph` checks a graph against a `NodeCatalog` (the bundled one from `load_catalog()`, or a live
server's via `NodeCatalog.from_object_info`), and `requirements_of` lists the nodes and files it needs.
"""

from workflows.engines import ENGINES, PLACEHOLDER_CHECKPOINT, PLACEHOLDER_IMAGE, EngineWorkflow, engine
from workflows.framepack import FramePackRequest, build_framepack_workflow
from workflows.graph import STUDIO_OUTPUT_FOLDER, Graph, Link, Node, workflow_hash
from workflows.image import Architecture, ImageRequest, IPAdapterRef, LoraRef, build_image_workflow
from workflows.ltx import LtxRequest, build_ltx_workflow
from workflows.requirements import (
    ARCHITECTURE_META_KEY,
    ModelFile,
    ModelPattern,
    Requirements,
    requirements_of,
)
from workflows.specs import NodeCatalog, NodeSpec, load_catalog
from workflows.validate import GraphProblem, validate_graph
from workflows.wan import WanRequest, build_wan_workflow

__all__ = [
    "ARCHITECTURE_META_KEY",
    "ENGINES",
    "PLACEHOLDER_CHECKPOINT",
    "PLACEHOLDER_IMAGE",
    "STUDIO_OUTPUT_FOLDER",
    "Architecture",
    "EngineWorkflow",
    "FramePackRequest",
    "Graph",
    "GraphProblem",
    "IPAdapterRef",
    "ImageRequest",
    "Link",
    "LoraRef",
    "LtxRequest",
    "ModelFile",
    "ModelPattern",
    "Node",
    "NodeCatalog",
    "NodeSpec",
    "Requirements",
    "WanRequest",
    "build_framepack_workflow",
    "build_image_workflow",
    "build_ltx_workflow",
    "build_wan_workflow",
    "engine",
    "load_catalog",
    "requirements_of",
    "validate_graph",
    "workflow_hash",
]
