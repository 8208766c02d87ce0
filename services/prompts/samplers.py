"""Sampler names: the human-readable names users type, translated to ComfyUI's (sampler_name, scheduler), and
checked against the names a ComfyUI server offers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from workflows import load_catalog

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

# What a missing sampler name becomes: the studio's default sampler.
FALLBACK_SAMPLER: tuple[str, str] = ("dpmpp_2m", "karras")

# A ComfyUI sampler name given without a scheduler gets this one (ComfyUI's own default).
COMFY_DEFAULT_SCHEDULER = "normal"


@dataclass(frozen=True)
class SamplerNames:
    """The sampler_name and scheduler choices of KSampler on some ComfyUI, and whose they are."""

    samplers: frozenset[str]
    schedulers: frozenset[str]
    source: str  # who offers them: "ComfyUI 0.3.64", "ComfyUI on gpu1", ...

    @classmethod
    def from_object_info(cls, object_info: Mapping[str, object], source: str) -> SamplerNames | None:
        """KSampler's choice lists from a server's `/object_info`; None when it does not report them."""
        ksampler = object_info.get("KSampler")
        required = ksampler.get("input", {}).get("required", {}) if isinstance(ksampler, dict) else {}
        samplers, schedulers = (_choices(required.get(name)) for name in ("sampler_name", "scheduler"))
        if not samplers or not schedulers:
            return None
        return cls(frozenset(samplers), frozenset(schedulers), source)

    @classmethod
    def union(cls, names: Iterable[SamplerNames]) -> SamplerNames:
        """What at least one of several servers offers (a style is not tied to one device)."""
        known = list(names)
        if not known:
            return COMFY_NAMES
        return cls(
            frozenset().union(*(n.samplers for n in known)),
            frozenset().union(*(n.schedulers for n in known)),
            " and ".join(n.source for n in known),
        )


def _choices(config: object) -> list[str]:
    # Old-style combo `[[choices], {...}]`, or new-style `["COMBO", {"options": [...]}]` (protocol §7).
    if not isinstance(config, list) or not config:
        return []
    if isinstance(config[0], list):
        return [str(c) for c in config[0]]
    options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
    return [str(c) for c in options.get("options", [])]


def _bundled_choices(input_name: str) -> frozenset[str]:
    marker = load_catalog()["KSampler"].marker(input_name)
    if not isinstance(marker, list):
        raise ValueError(f"the bundled KSampler spec must list the {input_name} choices, not {marker!r}")
    return frozenset(marker)


# KSampler's choices in ComfyUI 0.3.64 (the bundled, live-dumped node specs): what a style is checked against
# while no device has told the studio its own lists.
COMFY_NAMES = SamplerNames(_bundled_choices("sampler_name"), _bundled_choices("scheduler"), "ComfyUI 0.3.64")
COMFY_SAMPLERS: frozenset[str] = COMFY_NAMES.samplers
COMFY_SCHEDULERS: frozenset[str] = COMFY_NAMES.schedulers

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

    An explicit ``scheduler`` wins over the one a human-readable name implies, so a style can say "Euler"
    with "sgm_uniform". Any other name is ComfyUI's own and passes through unchanged: names were checked
    against the device's lists when the style was saved (`sampler_problems`), and a name the server does not
    offer fails with the input named rather than being swapped for another. Only a missing name becomes
    ``("dpmpp_2m", "karras")``.
    """
    explicit = _comfy_name(scheduler, COMFY_SCHEDULERS) if scheduler and scheduler.strip() else None
    human = human_sampler(name)
    if human is not None:
        sampler, implied = SAMPLERS[human]
        return sampler, explicit or implied
    if name and name.strip():
        return _comfy_name(name, COMFY_SAMPLERS), explicit or COMFY_DEFAULT_SCHEDULER
    return FALLBACK_SAMPLER[0], explicit or FALLBACK_SAMPLER[1]


def _comfy_name(name: str, known: frozenset[str]) -> str:
    # ComfyUI's names are lower case; a known one typed in another case is meant, anything else is kept as is.
    name = name.strip()
    return name.lower() if name.lower() in known else name


def sampler_problems(sampler: str | None, scheduler: str | None, names: SamplerNames) -> dict[str, str]:
    """Why `sampler` / `scheduler` cannot be sent to a ComfyUI offering `names`, by field; empty when they can.

    A human-readable sampler is checked through the ComfyUI names it stands for.
    """
    problems: dict[str, str] = {}
    if sampler and sampler.strip():
        human = human_sampler(sampler)
        wanted = SAMPLERS[human][0] if human else _comfy_name(sampler, names.samplers)
        if wanted not in names.samplers:
            problems["sampler"] = (
                f"unknown sampler '{sampler.strip()}'; {names.source} offers: {', '.join(sorted(names.samplers))} "
                f"(or a human-readable name: {', '.join(SAMPLERS)})"
            )
    if scheduler and scheduler.strip() and _comfy_name(scheduler, names.schedulers) not in names.schedulers:
        problems["scheduler"] = (
            f"unknown scheduler '{scheduler.strip()}'; {names.source} offers: {', '.join(sorted(names.schedulers))}"
        )
    return problems
