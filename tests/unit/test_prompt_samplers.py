"""Sampler names: human-readable to ComfyUI."""

from __future__ import annotations

import pytest

from services.prompts import SAMPLERS, comfy_sampler
from services.prompts.samplers import COMFY_NAMES, SamplerNames, sampler_problems


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
        ("Euler", "bogus", ("euler", "bogus")),  # never swapped: checked at save, named by ComfyUI at run
        ("res_2s", None, ("res_2s", "normal")),  # a newer server's sampler passes through
        ("sa_solver_pece", "beta", ("sa_solver_pece", "beta")),
        (None, None, ("dpmpp_2m", "karras")),
        ("", None, ("dpmpp_2m", "karras")),
    ],
)
def test_comfy_sampler(name: str | None, scheduler: str | None, expected: tuple[str, str]) -> None:
    assert comfy_sampler(name, scheduler) == expected


def test_the_studio_knows_every_sampler_and_scheduler_comfyui_0364_offers() -> None:
    # Five samplers of 0.3.64 were once missing (a hand-copied older list): KSampler's live-dumped spec is the source.
    assert {
        "dpmpp_2m_sde_heun",
        "dpmpp_2m_sde_heun_gpu",
        "gradient_estimation_cfg_pp",
        "sa_solver",
        "sa_solver_pece",
    } <= (COMFY_NAMES.samplers)
    assert len(COMFY_NAMES.samplers) == 42 and "kl_optimal" in COMFY_NAMES.schedulers
    assert sampler_problems("sa_solver", "linear_quadratic", COMFY_NAMES) == {}


def test_unknown_names_are_refused_with_the_names_that_are_offered() -> None:
    problems = sampler_problems("Restart 2000", "bogus", COMFY_NAMES)
    assert problems["sampler"].startswith("unknown sampler 'Restart 2000'; ComfyUI 0.3.64 offers: ddim, ddpm,")
    assert "DPM++ 2M Karras" in problems["sampler"]
    assert problems["scheduler"].startswith("unknown scheduler 'bogus'; ComfyUI 0.3.64 offers: beta, ddim_uniform")
    assert sampler_problems("Euler a", "Karras", COMFY_NAMES) == {}  # human names and case are understood


def test_a_device_list_from_object_info_is_what_counts() -> None:
    object_info = {
        "KSampler": {
            "input": {
                "required": {
                    "sampler_name": [["euler", "res_2s"], {}],
                    "scheduler": ["COMBO", {"options": ["normal", "karras"]}],
                }
            }
        }
    }
    device = SamplerNames.from_object_info(object_info, "ComfyUI on gpu1")
    assert device is not None and device.samplers == {"euler", "res_2s"}
    assert sampler_problems("res_2s", "karras", device) == {}
    assert "ComfyUI on gpu1 offers: euler, res_2s" in sampler_problems("DPM++ 2M", None, device)["sampler"]
    assert SamplerNames.from_object_info({}, "nothing") is None
    assert SamplerNames.union([]) is COMFY_NAMES
