"""Sampler names: human-readable to ComfyUI."""

from __future__ import annotations

import pytest

from services.prompts import SAMPLERS, comfy_sampler


def test_the_sampler_table_is_the_earlier_systems_sampler_map() -> None:
    assert dict(SAMPLERS) == {
        "DPM++ 2M Karras": ("dpmpp_2m", "karras"),
        "DPM++ 2M SDE Karras": ("dpmpp_2m_sde", "karras"),
        "DPM++ 2S a Karras": ("dpmpp_2s_ancestral", "karras"),
        "DPM++ SDE Karras": ("dpmpp_sde", "karras"),
        "DPM++ 2M": ("dpmpp_2m", "normal"),
        "Euler a": ("euler_ancestral", "normal"),
        "Euler": ("euler", "normal"),
        "DDIM": ("ddim", "ddim_uniform"),
    }


@pytest.mark.parametrize(("human", "comfy"), list(SAMPLERS.items()))
def test_every_human_name_maps_to_its_comfy_pair(human: str, comfy: tuple[str, str]) -> None:
    assert comfy_sampler(human, None) == comfy


@pytest.mark.parametrize(
    ("name", "scheduler", "expected"),
    [
        ("euler a", None, ("euler_ancestral", "normal")),  # human names are case-insensitive
        ("  DPM++ 2M karras ", None, ("dpmpp_2m", "karras")),
        ("Euler a", "karras", ("euler_ancestral", "karras")),  # an explicit scheduler wins
        ("euler", None, ("euler", "normal")),  # ComfyUI names pass through
        ("euler", "sgm_uniform", ("euler", "sgm_uniform")),
        ("dpmpp_3m_sde_gpu", "exponential", ("dpmpp_3m_sde_gpu", "exponential")),
        ("ddim", None, ("ddim", "normal")),  # the ComfyUI name, not the human "DDIM"
        ("Euler", "Karras", ("euler", "karras")),
        ("Euler", "bogus", ("euler", "normal")),  # unknown schedulers are ignored
        ("Restart 2000", None, ("dpmpp_2m", "karras")),  # unknown names fall back
        ("Restart 2000", "simple", ("dpmpp_2m", "simple")),
        (None, None, ("dpmpp_2m", "karras")),
        ("", None, ("dpmpp_2m", "karras")),
    ],
)
def test_comfy_sampler(name: str | None, scheduler: str | None, expected: tuple[str, str]) -> None:
    assert comfy_sampler(name, scheduler) == expected
