"""LTX-Video 2B text-to-video and image-to-video with ComfyUI's core LTXV nodes only.

The earlier system's `LTXVBaseSampler` and tiled decoder came from the LTXVideo pack; core
SamplerCustomAdvanced and VAEDecode do the same job. One CheckpointLoaderSimple gives both the model and its
embedded VAE, where the earlier system loaded the same file twice (UNETLoader plus a checkpoint loader for the VAE),
so the file belongs in `checkpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.arguments import require_frame_count, require_multiple, require_range, require_seed, require_text
from workflows.graph import Graph, Link
from workflows.video_combine import add_video_combine

DEFAULT_NEGATIVE = "low quality, blurry, distorted, watermark"
# LTXVScheduler settings from the earlier system (also the node's defaults).
MAX_SHIFT = 2.05
BASE_SHIFT = 0.95
TERMINAL = 0.1
SAMPLER = "euler"


@dataclass(frozen=True)
class LtxRequest:
    """One LTX-Video clip; `image` (a name in ComfyUI's input folder) makes it image-to-video, None text-to-video.

    `image_compression` is LTXVPreprocess's: LTX-Video was trained on compressed video, and a too-clean start
    image tends to stay still, so it is degraded like a video frame first (0 turns that off).
    """

    prompt: str
    negative: str = DEFAULT_NEGATIVE
    image: str | None = None
    width: int = 512
    height: int = 320
    frames: int = 65
    fps: float = 24
    steps: int = 20
    seed: int = 0
    cfg: float = 3.5
    image_strength: float = 1.0
    image_compression: int = 35
    filename_prefix: str = "studio/ltx"
    checkpoint: str = "ltxv-2b-fp8.safetensors"
    text_encoder: str = "t5xxl_fp8_e4m3fn.safetensors"

    def __post_init__(self) -> None:
        require_text("prompt", self.prompt)
        if self.image is not None:
            require_text("image", self.image)
        # LTXV latents: 32x32 pixels per cell and 8 frames per step plus the first frame.
        require_multiple("width", self.width, 32, 64)
        require_multiple("height", self.height, 32, 64)
        require_frame_count(self.frames, 8, 9)
        require_range("fps", self.fps, 1, 240)
        require_range("steps", self.steps, 1, 10000)
        require_seed(self.seed)
        require_range("cfg", self.cfg, 0.0, 100.0)
        require_range("image_strength", self.image_strength, 0.0, 1.0)
        require_range("image_compression", self.image_compression, 0, 100)
        require_text("filename_prefix", self.filename_prefix)


def build_ltx_workflow(req: LtxRequest) -> dict[str, dict[str, Any]]:
    graph = Graph()
    checkpoint = graph.add("CheckpointLoaderSimple", ckpt_name=req.checkpoint)
    model, vae = checkpoint[0], checkpoint[2]
    clip = graph.add("CLIPLoader", clip_name=req.text_encoder, type="ltxv")
    positive: Link = graph.add("CLIPTextEncode", "Positive prompt", text=req.prompt, clip=clip[0])[0]
    negative: Link = graph.add("CLIPTextEncode", "Negative prompt", text=req.negative, clip=clip[0])[0]
    if req.image is None:
        latent = graph.add("EmptyLTXVLatentVideo", width=req.width, height=req.height, length=req.frames, batch_size=1)[
            0
        ]
    else:
        image = graph.add("LoadImage", "Start image", image=req.image)
        prepared = graph.add("LTXVPreprocess", image=image[0], img_compression=req.image_compression)
        to_video = graph.add(
            "LTXVImgToVideo",
            positive=positive,
            negative=negative,
            vae=vae,
            image=prepared[0],
            width=req.width,
            height=req.height,
            length=req.frames,
            batch_size=1,
            strength=req.image_strength,
        )
        positive, negative, latent = to_video[0], to_video[1], to_video[2]
    conditioning = graph.add("LTXVConditioning", positive=positive, negative=negative, frame_rate=req.fps)
    sigmas = graph.add(
        "LTXVScheduler",
        steps=req.steps,
        max_shift=MAX_SHIFT,
        base_shift=BASE_SHIFT,
        stretch=True,
        terminal=TERMINAL,
        latent=latent,
    )
    noise = graph.add("RandomNoise", noise_seed=req.seed)
    guider = graph.add("CFGGuider", model=model, positive=conditioning[0], negative=conditioning[1], cfg=req.cfg)
    sampler = graph.add("KSamplerSelect", sampler_name=SAMPLER)
    sampled = graph.add(
        "SamplerCustomAdvanced",
        noise=noise[0],
        guider=guider[0],
        sampler=sampler[0],
        sigmas=sigmas[0],
        latent_image=latent,
    )
    decoded = graph.add("VAEDecode", samples=sampled[0], vae=vae)
    add_video_combine(graph, decoded[0], fps=req.fps, filename_prefix=req.filename_prefix)
    return graph.to_api()
