"""The generation engines the studio offers, each with an example graph built from its request defaults.

An example graph is what `requirements_of` and `validate_graph` are run on to tell whether a server can run the
engine at all. Image examples name `PLACEHOLDER_CHECKPOINT` and image-to-video examples `PLACEHOLDER_IMAGE`:
checkpoints are chosen per style and checked per style, and input images are uploaded per job, so a caller
skips those two names when it checks an example's files against a server.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from workflows.framepack import FramePackRequest, build_framepack_workflow
from workflows.image import Architecture, ImageRequest, IPAdapterRef, build_image_workflow
from workflows.ltx import LtxRequest, build_ltx_workflow
from workflows.wan import WanRequest, build_wan_workflow

PLACEHOLDER_CHECKPOINT = "placeholder-checkpoint.safetensors"
PLACEHOLDER_IMAGE = "placeholder.png"
EXAMPLE_PROMPT = "a girl with silver hair walks through a quiet street, anime style"
SDXL_SIZE = 1024


@dataclass(frozen=True)
class EngineWorkflow:
    key: str
    label: str
    media: Literal["image", "video"]
    build_example: Callable[[], dict[str, Any]] = field(repr=False)
    # An image engine needs a checkpoint of this architecture on the server (its example's is a placeholder).
    architecture: Architecture | None = None

    def example(self) -> dict[str, Any]:
        return self.build_example()


ENGINES: tuple[EngineWorkflow, ...] = (
    EngineWorkflow(
        "sd15_image",
        "SD 1.5 text-to-image",
        "image",
        lambda: build_image_workflow(ImageRequest("sd15", PLACEHOLDER_CHECKPOINT)),
        "sd15",
    ),
    EngineWorkflow(
        "sdxl_image",
        "SDXL text-to-image",
        "image",
        lambda: build_image_workflow(ImageRequest("sdxl", PLACEHOLDER_CHECKPOINT, width=SDXL_SIZE, height=SDXL_SIZE)),
        "sdxl",
    ),
    EngineWorkflow(
        "sd15_ip_adapter",
        "SD 1.5 text-to-image with an IP-Adapter reference image",
        "image",
        lambda: build_image_workflow(
            ImageRequest("sd15", PLACEHOLDER_CHECKPOINT, ip_adapter=IPAdapterRef(PLACEHOLDER_IMAGE))
        ),
        "sd15",
    ),
    EngineWorkflow(
        "framepack",
        "FramePack image-to-video",
        "video",
        lambda: build_framepack_workflow(FramePackRequest(PLACEHOLDER_IMAGE, EXAMPLE_PROMPT)),
    ),
    EngineWorkflow(
        "framepack_f1",
        "FramePack F1 image-to-video",
        "video",
        lambda: build_framepack_workflow(FramePackRequest(PLACEHOLDER_IMAGE, EXAMPLE_PROMPT, f1=True)),
    ),
    EngineWorkflow(
        "ltx_i2v",
        "LTX-Video image-to-video",
        "video",
        lambda: build_ltx_workflow(LtxRequest(EXAMPLE_PROMPT, image=PLACEHOLDER_IMAGE)),
    ),
    EngineWorkflow(
        "ltx_t2v",
        "LTX-Video text-to-video",
        "video",
        lambda: build_ltx_workflow(LtxRequest(EXAMPLE_PROMPT)),
    ),
    EngineWorkflow(
        "wan_t2v",
        "Wan 2.1 text-to-video",
        "video",
        lambda: build_wan_workflow(WanRequest(EXAMPLE_PROMPT)),
    ),
)


def engine(key: str) -> EngineWorkflow:
    for candidate in ENGINES:
        if candidate.key == key:
            return candidate
    raise KeyError(f"unknown engine {key!r}; known engines: {', '.join(e.key for e in ENGINES)}")
