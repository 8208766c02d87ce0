"""SD 1.5 / SDXL text-to-image: checkpoint, LoRA stack, optional v-prediction, RescaleCFG, IP-Adapter and a separate
VAE."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from workflows.arguments import require_multiple, require_range, require_seed, require_text
from workflows.graph import Graph, Link
from workflows.requirements import ARCHITECTURE_META_KEY, ARCHITECTURES

Architecture = Literal["sd15", "sdxl"]


@dataclass(frozen=True)
class LoraRef:
    """A LoRA file in ComfyUI's `loras` folder; 0.8 is the strength the earlier system used."""

    name: str
    strength_model: float = 0.8
    strength_clip: float = 0.8


@dataclass(frozen=True)
class IPAdapterRef:
    """A reference image (a name in ComfyUI's input folder) steering the image through IP-Adapter.

    The defaults are the earlier system's: PLUS preset at 0.95, linear, concat, 0 → 0.85, K+V.
    """

    image: str
    weight: float = 0.95
    preset: str = "PLUS (high strength)"
    weight_type: str = "linear"
    start_at: float = 0.0
    end_at: float = 0.85
    combine_embeds: str = "concat"
    embeds_scaling: str = "K+V"

    def __post_init__(self) -> None:
        require_text("ip_adapter.image", self.image)
        require_range("ip_adapter.weight", self.weight, -1.0, 5.0)
        require_range("ip_adapter.start_at", self.start_at, 0.0, 1.0)
        require_range("ip_adapter.end_at", self.end_at, self.start_at, 1.0)


@dataclass(frozen=True)
class ImageRequest:
    """One text-to-image job; prompt and sampling defaults are a new project's defaults in the earlier system."""

    architecture: Architecture
    checkpoint: str
    positive: str = "masterpiece, best quality, highly detailed"
    negative: str = "worst quality, low quality, blurry, deformed"
    width: int = 768
    height: int = 768
    seed: int = 0
    steps: int = 25
    cfg: float = 7.0
    sampler: str = "dpmpp_2m"
    scheduler: str = "karras"
    batch_size: int = 1
    loras: tuple[LoraRef, ...] = ()
    ip_adapter: IPAdapterRef | None = None
    # For v-prediction checkpoints (e.g. NoobAI-XL V-Pred): sampling v_prediction with zero terminal SNR.
    v_prediction: bool = False
    rescale_cfg: float | None = None
    # A file in ComfyUI's `vae` folder that decodes instead of the checkpoint's baked-in VAE (many anime
    # checkpoints ship a washed-out one); None decodes with the checkpoint's own.
    vae: str | None = None
    filename_prefix: str = "studio/image"

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}")
        require_text("checkpoint", self.checkpoint)
        # EmptyLatentImage: 16 .. 16384 in steps of 8 (the VAE works on 8x8 pixel blocks).
        require_multiple("width", self.width, 8, 16)
        require_multiple("height", self.height, 8, 16)
        require_range("width", self.width, 16, 16384)
        require_range("height", self.height, 16, 16384)
        require_seed(self.seed)
        require_range("steps", self.steps, 1, 10000)
        require_range("cfg", self.cfg, 0.0, 100.0)
        require_range("batch_size", self.batch_size, 1, 4096)
        for lora in self.loras:
            require_text("lora name", lora.name)
        if self.ip_adapter is not None and self.architecture != "sd15":
            raise ValueError("IP-Adapter is only set up for SD 1.5 checkpoints; drop ip_adapter or use an sd15 style")
        if self.rescale_cfg is not None:
            require_range("rescale_cfg", self.rescale_cfg, 0.0, 1.0)
        if self.vae is not None:
            require_text("vae", self.vae)
        require_text("filename_prefix", self.filename_prefix)


def build_image_workflow(req: ImageRequest) -> dict[str, dict[str, Any]]:
    graph = Graph()
    checkpoint = graph.add("CheckpointLoaderSimple", ckpt_name=req.checkpoint)
    model, clip = checkpoint[0], checkpoint[1]
    for lora in req.loras:
        loader = graph.add(
            "LoraLoader",
            model=model,
            clip=clip,
            lora_name=lora.name,
            strength_model=lora.strength_model,
            strength_clip=lora.strength_clip,
        )
        model, clip = loader[0], loader[1]
    if req.v_prediction:
        model = graph.add("ModelSamplingDiscrete", model=model, sampling="v_prediction", zsnr=True)[0]
    if req.rescale_cfg is not None:
        model = graph.add("RescaleCFG", model=model, multiplier=req.rescale_cfg)[0]
    if req.ip_adapter is not None:
        model = _add_ip_adapter(graph, model, req.ip_adapter, req.architecture)
    positive = graph.add("CLIPTextEncode", "Positive prompt", text=req.positive, clip=clip)
    negative = graph.add("CLIPTextEncode", "Negative prompt", text=req.negative, clip=clip)
    latent = graph.add("EmptyLatentImage", width=req.width, height=req.height, batch_size=req.batch_size)
    sampled = graph.add(
        "KSampler",
        model=model,
        seed=req.seed,
        steps=req.steps,
        cfg=req.cfg,
        sampler_name=req.sampler,
        scheduler=req.scheduler,
        positive=positive[0],
        negative=negative[0],
        latent_image=latent[0],
        denoise=1.0,
    )
    vae = graph.add("VAELoader", vae_name=req.vae)[0] if req.vae is not None else checkpoint[2]
    decoded = graph.add("VAEDecode", samples=sampled[0], vae=vae)
    graph.add("SaveImage", "Save image", images=decoded[0], filename_prefix=req.filename_prefix)
    return graph.to_api()


def _add_ip_adapter(graph: Graph, model: Link, ref: IPAdapterRef, architecture: str) -> Link:
    # The unified loader finds its own CLIP vision model, so no CLIPVisionLoader is needed.
    loader = graph.add("IPAdapterUnifiedLoader", model=model, preset=ref.preset)
    loader.meta[ARCHITECTURE_META_KEY] = architecture  # read by requirements_of to name the IP-Adapter file
    reference = graph.add("LoadImage", "IP-Adapter reference", image=ref.image)
    applied = graph.add(
        "IPAdapterAdvanced",
        model=loader[0],
        ipadapter=loader[1],
        image=reference[0],
        weight=ref.weight,
        weight_type=ref.weight_type,
        combine_embeds=ref.combine_embeds,
        start_at=ref.start_at,
        end_at=ref.end_at,
        embeds_scaling=ref.embeds_scaling,
    )
    return applied[0]
