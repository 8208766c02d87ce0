"""Wan 2.1 T2V 1.3B text-to-video, from a GGUF or a safetensors diffusion model, with the earlier system's settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.arguments import require_frame_count, require_multiple, require_range, require_seed, require_text
from workflows.graph import Graph
from workflows.video_combine import add_video_combine

DEFAULT_NEGATIVE = "low quality, blurry, distorted, watermark"
SAMPLER = "uni_pc"
SCHEDULER = "simple"
_GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class WanRequest:
    """One Wan 2.1 clip. `gguf` picks `gguf_model` (ComfyUI-GGUF's loader, folder `unet_gguf`) over
    `diffusion_model`; a text encoder ending in .gguf is loaded with CLIPLoaderGGUF."""

    prompt: str
    negative: str = DEFAULT_NEGATIVE
    width: int = 480
    height: int = 720
    frames: int = 81
    fps: float = 16
    steps: int = 30
    cfg: float = 6.0
    seed: int = 0
    shift: float = 8.0
    gguf: bool = True
    filename_prefix: str = "studio/wan"
    gguf_model: str = "Wan2.1-T2V-1.3B-Q8_0.gguf"
    diffusion_model: str = "wan2.1_t2v_1.3B_fp16.safetensors"
    text_encoder: str = "umt5_xxl_fp8_e4m3fn_scaled.safetensors"
    vae: str = "wan_2.1_vae.safetensors"

    def __post_init__(self) -> None:
        require_text("prompt", self.prompt)
        # EmptyHunyuanLatentVideo: sizes in steps of 16, length 4*k + 1 (the Wan VAE packs 4 frames per latent).
        require_multiple("width", self.width, 16, 16)
        require_multiple("height", self.height, 16, 16)
        require_frame_count(self.frames, 4, 1)
        require_range("fps", self.fps, 1, 240)
        require_range("steps", self.steps, 1, 10000)
        require_range("cfg", self.cfg, 0.0, 100.0)
        require_seed(self.seed)
        require_range("shift", self.shift, 0.0, 100.0)
        require_text("filename_prefix", self.filename_prefix)


def build_wan_workflow(req: WanRequest) -> dict[str, dict[str, Any]]:
    graph = Graph()
    if req.gguf:
        model = graph.add("UnetLoaderGGUF", unet_name=req.gguf_model)
    else:
        model = graph.add("UNETLoader", unet_name=req.diffusion_model, weight_dtype="default")
    sampling = graph.add("ModelSamplingSD3", model=model[0], shift=req.shift)
    if req.text_encoder.lower().endswith(_GGUF_SUFFIX):
        clip = graph.add("CLIPLoaderGGUF", clip_name=req.text_encoder, type="wan")
    else:
        clip = graph.add("CLIPLoader", clip_name=req.text_encoder, type="wan")
    vae = graph.add("VAELoader", vae_name=req.vae)
    positive = graph.add("CLIPTextEncode", "Positive prompt", text=req.prompt, clip=clip[0])
    negative = graph.add("CLIPTextEncode", "Negative prompt", text=req.negative, clip=clip[0])
    latent = graph.add("EmptyHunyuanLatentVideo", width=req.width, height=req.height, length=req.frames, batch_size=1)
    sampled = graph.add(
        "KSampler",
        model=sampling[0],
        seed=req.seed,
        steps=req.steps,
        cfg=req.cfg,
        sampler_name=SAMPLER,
        scheduler=SCHEDULER,
        positive=positive[0],
        negative=negative[0],
        latent_image=latent[0],
        denoise=1.0,
    )
    decoded = graph.add("VAEDecode", samples=sampled[0], vae=vae[0])
    add_video_combine(graph, decoded[0], fps=req.fps, filename_prefix=req.filename_prefix)
    return graph.to_api()
