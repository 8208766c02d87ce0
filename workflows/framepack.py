"""FramePack image-to-video (HunyuanVideo-based), standard or F1, with the earlier system's settings.

F1 needs ShmuelRonen/ComfyUI-FramePackWrapper_Plus: its `FramePackSampler_F1` samples forward in time from
timed text conditioning. (The earlier system only swapped in the F1 model file and kept `FramePackSampler`.)
The Plus pack reuses kijai's class names, so a server has one of the two packs, and the studio recommends
Plus (it runs both engines; see services/comfyui/preflight.py); the Plus `FramePackSampler` needs at least
1 second, so that is the minimum here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.arguments import require_multiple, require_range, require_seed, require_text
from workflows.graph import Graph, Link, Node
from workflows.video_combine import add_video_combine

MIN_SECONDS = 1.0
MAX_SECONDS = 120.0
# Fixed sampler settings from the earlier system (and the wrapper's defaults).
LATENT_WINDOW_SIZE = 9
TEACACHE_THRESHOLD = 0.15
GUIDANCE_SCALE = 10.0
SHIFT = 0.0
SAMPLER = "unipc_bh1"


@dataclass(frozen=True)
class FramePackRequest:
    """Animate one image (a name in ComfyUI's input folder) for `seconds`.

    FramePack renders 30 fps; another `fps` changes playback speed. `negative` only matters with cfg > 1
    (at 1.0 the sampler skips the negative pass), and an empty one is zeroed conditioning.
    """

    image: str
    prompt: str
    negative: str = ""
    seconds: float = 5.0
    seed: int = 0
    f1: bool = False
    width: int = 544
    height: int = 704
    fps: float = 30
    steps: int = 25
    cfg: float = 1.0
    gpu_memory_preservation: float = 6.0
    filename_prefix: str = "studio/framepack"
    model: str = "FramePackI2V_HY_fp8_e4m3fn.safetensors"
    f1_model: str = "FramePack_F1_I2V_HY_20250503_fp8_e4m3fn.safetensors"
    clip_l: str = "clip_l.safetensors"
    llava: str = "llava_llama3_fp16.safetensors"
    vae: str = "hunyuan_video_vae_bf16.safetensors"
    clip_vision: str = "sigclip_vision_patch14_384.safetensors"

    def __post_init__(self) -> None:
        require_text("image", self.image)
        require_range("seconds", self.seconds, MIN_SECONDS, MAX_SECONDS)
        require_seed(self.seed)
        # The image is encoded to a 1/8 latent that the transformer patches 2x2, hence multiples of 16.
        require_multiple("width", self.width, 16, 64)
        require_multiple("height", self.height, 16, 64)
        require_range("fps", self.fps, 1, 240)
        require_range("steps", self.steps, 1, 10000)
        require_range("cfg", self.cfg, 0.0, 30.0)
        require_range("gpu_memory_preservation", self.gpu_memory_preservation, 0.0, 128.0)
        require_text("filename_prefix", self.filename_prefix)


def build_framepack_workflow(req: FramePackRequest) -> dict[str, dict[str, Any]]:
    graph = Graph()
    model = graph.add(
        "LoadFramePackModel",
        model=req.f1_model if req.f1 else req.model,
        base_precision="bf16",
        quantization="fp8_e4m3fn",
        load_device="offload_device",
        attention_mode="sdpa",
    )
    clip = graph.add("DualCLIPLoader", clip_name1=req.clip_l, clip_name2=req.llava, type="hunyuan_video")
    vae = graph.add("VAELoader", vae_name=req.vae)
    image = graph.add("LoadImage", "Start image", image=req.image)
    scaled = graph.add(
        "ImageScale", image=image[0], upscale_method="lanczos", width=req.width, height=req.height, crop="center"
    )
    start_latent = graph.add("VAEEncode", pixels=scaled[0], vae=vae[0])
    vision = graph.add("CLIPVisionLoader", clip_name=req.clip_vision)
    embeds = graph.add("CLIPVisionEncode", clip_vision=vision[0], image=scaled[0], crop="center")
    shared = {
        "model": model[0],
        "steps": req.steps,
        "use_teacache": True,
        "teacache_rel_l1_thresh": TEACACHE_THRESHOLD,
        "cfg": req.cfg,
        "guidance_scale": GUIDANCE_SCALE,
        "shift": SHIFT,
        "seed": req.seed,
        "gpu_memory_preservation": req.gpu_memory_preservation,
        "sampler": SAMPLER,
    }
    if req.f1:
        sampled = _add_f1_sampler(graph, req, clip[0], start_latent[0], embeds[0], shared)
    else:
        sampled = _add_standard_sampler(graph, req, clip[0], start_latent[0], embeds[0], shared)
    decoded = graph.add(
        "VAEDecodeTiled",
        samples=sampled[0],
        vae=vae[0],
        tile_size=256,
        overlap=64,
        temporal_size=64,
        temporal_overlap=8,
    )
    add_video_combine(graph, decoded[0], fps=req.fps, filename_prefix=req.filename_prefix)
    return graph.to_api()


def _add_standard_sampler(
    graph: Graph, req: FramePackRequest, clip: Link, start_latent: Link, embeds: Link, shared: dict[str, Any]
) -> Node:
    positive = graph.add("CLIPTextEncode", "Positive prompt", text=req.prompt, clip=clip)
    if req.negative.strip():
        negative = graph.add("CLIPTextEncode", "Negative prompt", text=req.negative, clip=clip)
    else:
        negative = graph.add("ConditioningZeroOut", "Negative prompt", conditioning=positive[0])
    return graph.add(
        "FramePackSampler",
        positive=positive[0],
        negative=negative[0],
        start_latent=start_latent,
        image_embeds=embeds,
        latent_window_size=LATENT_WINDOW_SIZE,
        total_second_length=req.seconds,
        **shared,
    )


def _add_f1_sampler(
    graph: Graph, req: FramePackRequest, clip: Link, start_latent: Link, embeds: Link, shared: dict[str, Any]
) -> Node:
    # The timed encoder carries the length and window to the sampler; an empty negative is zeroed there too.
    text = graph.add(
        "FramePackTimestampedTextEncode",
        "Prompt",
        clip=clip,
        text=req.prompt,
        negative_text=req.negative,
        total_second_length=req.seconds,
        latent_window_size=LATENT_WINDOW_SIZE,
        prompt_blend_sections=0,
    )
    return graph.add(
        "FramePackSampler_F1",
        positive_timed_data=text[0],
        negative=text[1],
        start_latent=start_latent,
        start_image_embeds=embeds,
        **shared,
    )
