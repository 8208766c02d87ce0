"""Sampler names: the human-readable names users type, translated to ComfyUI's (sampler_name, scheduler)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Human-readable (A1111-style) name -> ComfyUI (sampler_name, scheduler); the table the earlier system used.
SAMPLERS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
        "DPM++ 2M SDE Karras": ("dpmpp_2m_sde", "karras"),
        "DPM++ 2S a Karras": ("dpmpp_2s_ancestral", "karras"),
        "DPM++ SDE Karras": ("dpmpp_sde", "karras"),
        "DPM++ 2M": ("dpmpp_2m", "normal"),
        "Euler a": ("euler_ancestral", "normal"),
        "Euler": ("euler", "normal"),
        "DDIM": ("ddim", "ddim_uniform"),
    }
)

# What an unknown human-readable name becomes: the studio's default sampler.
FALLBACK_SAMPLER: tuple[str, str] = ("dpmpp_2m", "karras")

# A ComfyUI sampler name given without a scheduler gets this one (ComfyUI's own default).
COMFY_DEFAULT_SCHEDULER = "normal"

# KSampler's sampler_name options in current ComfyUI; a name from this set is passed through unchanged.
COMFY_SAMPLERS: frozenset[str] = frozenset(
    {
        "euler",
        "euler_cfg_pp",
        "euler_ancestral",
        "euler_ancestral_cfg_pp",
        "heun",
        "heunpp2",
        "dpm_2",
        "dpm_2_ancestral",
        "lms",
        "dpm_fast",
        "dpm_adaptive",
        "dpmpp_2s_ancestral",
        "dpmpp_2s_ancestral_cfg_pp",
        "dpmpp_sde",
        "dpmpp_sde_gpu",
        "dpmpp_2m",
        "dpmpp_2m_cfg_pp",
        "dpmpp_2m_sde",
        "dpmpp_2m_sde_gpu",
        "dpmpp_3m_sde",
        "dpmpp_3m_sde_gpu",
        "ddpm",
        "lcm",
        "ipndm",
        "ipndm_v",
        "deis",
        "res_multistep",
        "res_multistep_cfg_pp",
        "res_multistep_ancestral",
        "res_multistep_ancestral_cfg_pp",
        "gradient_estimation",
        "er_sde",
        "seeds_2",
        "seeds_3",
        "ddim",
        "uni_pc",
        "uni_pc_bh2",
    }
)

# KSampler's scheduler options in current ComfyUI.
COMFY_SCHEDULERS: frozenset[str] = frozenset(
    {
        "normal",
        "karras",
        "exponential",
        "sgm_uniform",
        "simple",
        "ddim_uniform",
        "beta",
        "linear_quadratic",
        "kl_optimal",
    }
)

_HUMAN_BY_KEY: Mapping[str, str] = {name.lower(): name for name in SAMPLERS}


def human_sampler(name: str | None) -> str | None:
    """The SAMPLERS key a name refers to (case-insensitive), or None when it is not a human-readable name.

    An exact ComfyUI name is not a human-readable one: "euler" is ComfyUI's sampler (a profile may pair it
    with "sgm_uniform"), while "Euler" is the human name that implies the "normal" scheduler.
    """
    if name is None or name.strip() in COMFY_SAMPLERS:
        return None
    return _HUMAN_BY_KEY.get(name.strip().lower())


def comfy_sampler(name: str | None, scheduler: str | None) -> tuple[str, str]:
    """Translate a sampler (human-readable like ``Euler a`` or ComfyUI like ``euler``) to ComfyUI names.

    An explicit, known ``scheduler`` wins over the one a human-readable name implies, so a style can say
    "Euler" with "sgm_uniform". A missing or unknown name falls back to ``("dpmpp_2m", "karras")``
    rather than failing: ComfyUI would reject an unknown name only after the job was queued.
    """
    explicit = scheduler.strip().lower() if scheduler and scheduler.strip().lower() in COMFY_SCHEDULERS else None
    human = human_sampler(name)
    if human is not None:
        sampler, implied = SAMPLERS[human]
        return sampler, explicit or implied
    comfy = name.strip().lower() if name else ""
    if comfy in COMFY_SAMPLERS:
        return comfy, explicit or COMFY_DEFAULT_SCHEDULER
    return FALLBACK_SAMPLER[0], explicit or FALLBACK_SAMPLER[1]


def is_known_sampler(name: str) -> bool:
    """True when ``name`` is a human-readable or ComfyUI sampler name this module understands."""
    return human_sampler(name) is not None or name.strip().lower() in COMFY_SAMPLERS
