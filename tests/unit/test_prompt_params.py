"""The parameter cascade: learning's recommendation (at the configured confidence) > style > profile > studio
default, with recorded sources."""

from __future__ import annotations

from services.prompts import (
    BUILTIN_PROFILES,
    BUILTIN_SPECIES_RULES,
    Appearance,
    CharacterInput,
    LearnedParams,
    ModelProfile,
    PromptPlan,
    StyleInput,
    build_prompt,
)
from services.prompts.params import Confidence

CHARACTER = CharacterInput("Mira", "1girl, knight", Appearance.from_data({"gender": "female"}))


def plan(
    checkpoint: str,
    *,
    cfg: float | None = None,
    steps: int | None = None,
    sampler: str | None = None,
    scheduler: str | None = None,
    learned: LearnedParams | None = None,
    profiles: tuple[ModelProfile, ...] = BUILTIN_PROFILES,
    min_confidence: Confidence = "medium",
) -> PromptPlan:
    style = StyleInput("my-style", checkpoint, cfg, steps, sampler, scheduler, 768, 1152)
    return build_prompt(
        CHARACTER, style, profiles, BUILTIN_SPECIES_RULES, learned=learned, min_confidence=min_confidence
    )


def summary(result: PromptPlan) -> tuple[float, int, str, str]:
    return result.params.cfg, result.params.steps, result.params.sampler, result.params.scheduler


def test_high_confidence_learned_params_win_over_the_style() -> None:
    learned = LearnedParams(cfg=6.0, steps=32, sampler="DPM++ 2M SDE Karras", confidence="high", samples=42)
    result = plan("dreamshaper_8.safetensors", cfg=7.5, steps=20, sampler="Euler a", learned=learned)
    assert summary(result) == (6.0, 32, "dpmpp_2m_sde", "karras")
    assert dict(result.params.sources) == {
        "cfg": "recommended by learning (high confidence, 42 reviewed images)",
        "steps": "recommended by learning (high confidence, 42 reviewed images)",
        "sampler": "recommended by learning (high confidence, 42 reviewed images)",
        "scheduler": "recommended by learning (high confidence, 42 reviewed images) (implied by sampler "
        "'DPM++ 2M SDE Karras')",
        "width": "style my-style",
        "height": "style my-style",
        "prediction_type": "profile DreamShaper",
        "rescale_cfg": "profile DreamShaper",
    }
    assert (result.params.width, result.params.height) == (768, 1152)


def test_medium_confidence_counts_and_missing_learned_values_fall_through() -> None:
    learned = LearnedParams(cfg=None, steps=35, sampler=None, confidence="medium", samples=12)
    result = plan("dreamshaper_8.safetensors", cfg=7.5, sampler="Euler a", learned=learned)
    assert summary(result) == (7.5, 35, "euler_ancestral", "normal")
    sources = result.params.sources
    assert (sources["cfg"], sources["steps"], sources["sampler"]) == (
        "style my-style",
        "recommended by learning (medium confidence, 12 reviewed images)",
        "style my-style",
    )


def test_low_confidence_learned_params_are_skipped_and_explained() -> None:
    learned = LearnedParams(cfg=3.0, steps=60, sampler="DDIM", confidence="low", samples=3)
    result = plan("dreamshaper_8.safetensors", cfg=7.5, steps=20, sampler="Euler a", learned=learned)
    assert summary(result) == (7.5, 20, "euler_ancestral", "normal")
    assert result.explained("params", "skipped")[0].because == (
        "recommended by learning (low confidence, 3 reviewed images) is not used: the settings ask for medium or "
        "high confidence (learning_min_confidence)"
    )


def test_the_configured_confidence_decides_and_a_recommended_scheduler_travels_with_its_sampler() -> None:
    learned = LearnedParams(
        cfg=5.5, steps=28, sampler="euler", scheduler="sgm_uniform", confidence="medium", samples=14, approved=11
    )
    source = "recommended by learning (medium confidence, 11 of 14 reviewed images approved)"
    result = plan("dreamshaper_8.safetensors", cfg=7.5, sampler="Euler a", scheduler="karras", learned=learned)
    assert summary(result) == (5.5, 28, "euler", "sgm_uniform")
    assert {result.params.sources[name] for name in ("cfg", "steps", "sampler", "scheduler")} == {source}

    strict = plan("dreamshaper_8.safetensors", cfg=7.5, sampler="Euler a", learned=learned, min_confidence="high")
    assert summary(strict) == (7.5, 25, "euler_ancestral", "normal")
    assert [e.because for e in strict.explained("params", "skipped")] == [
        f"{source} is not used: the settings ask for high confidence (learning_min_confidence)"
    ]
    low = LearnedParams(cfg=9.0, steps=None, sampler=None, confidence="low", samples=3, approved=3)
    assert plan("dreamshaper_8.safetensors", learned=low, min_confidence="low").params.cfg == 9.0


def test_unset_style_values_fall_back_to_the_profile_then_the_studio_default() -> None:
    result = plan("ponyDiffusionV6XL.safetensors")
    # Pony sets cfg and steps but no sampler: that comes from the studio default.
    assert summary(result) == (7.0, 28, "dpmpp_2m", "karras")
    assert dict(result.params.sources) == {
        "cfg": "profile Pony Diffusion",
        "steps": "profile Pony Diffusion",
        "sampler": "studio default",
        "scheduler": "studio default (implied by sampler 'DPM++ 2M Karras')",
        "width": "style my-style",
        "height": "style my-style",
        "prediction_type": "profile Pony Diffusion",
        "rescale_cfg": "profile Pony Diffusion",
    }
    assert [(e.text, e.because) for e in result.explained("params", "chosen")][:4] == [
        ("cfg 7", "profile Pony Diffusion"),
        ("steps 28", "profile Pony Diffusion"),
        ("sampler dpmpp_2m", "studio default"),
        ("scheduler karras", "studio default (implied by sampler 'DPM++ 2M Karras')"),
    ]


def test_style_values_beat_profile_defaults() -> None:
    result = plan("noobaiXLVpred_v10.safetensors", cfg=5.0, steps=24, sampler="Euler a")
    assert summary(result) == (5.0, 24, "euler_ancestral", "normal")
    # v-prediction is a property of the checkpoint, so it still comes from the profile.
    assert (result.params.prediction_type, result.params.rescale_cfg) == ("v_prediction", 0.7)


def test_a_style_scheduler_wins_and_a_comfy_sampler_without_one_uses_the_profiles() -> None:
    assert summary(plan("noobaiXLVpred_v10.safetensors", sampler="Euler", scheduler="karras"))[2:] == (
        "euler",
        "karras",
    )
    result = plan("noobaiXLVpred_v10.safetensors", sampler="euler_ancestral")
    assert summary(result)[2:] == ("euler_ancestral", "sgm_uniform")
    assert result.params.sources["scheduler"] == "profile NoobAI-XL v-pred"
    result = plan("dreamshaper_8.safetensors", sampler="euler")
    assert summary(result)[2:] == ("euler", "normal")
    assert result.params.sources["scheduler"] == "studio default"


def test_a_sampler_outside_the_0364_list_is_sent_as_named_and_said_so_never_replaced() -> None:
    # A newer device may offer it (it was checked against the device's list at save); otherwise ComfyUI
    # refuses it naming the input, which beats running a different sampler than the style says.
    result = plan("dreamshaper_8.safetensors", sampler="res_2s", scheduler="bogus")
    assert summary(result)[2:] == ("res_2s", "bogus")
    assert result.params.sources["sampler"] == "style my-style (not one ComfyUI 0.3.64 offers; sent as named)"
    assert result.params.sources["scheduler"] == "style my-style (not one ComfyUI 0.3.64 offers; sent as named)"
    assert not result.explained("params", "skipped")
