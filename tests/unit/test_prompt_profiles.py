"""Model profiles: matching checkpoint filenames, size validation, profiles as data."""

from __future__ import annotations

import pytest

from services.prompts import BUILTIN_PROFILES, ModelProfile, match_profile, validate_size

PROFILES = {profile.name: profile for profile in BUILTIN_PROFILES}


def test_builtin_profiles_are_the_eleven_families_with_one_catch_all() -> None:
    assert list(PROFILES) == [
        "NoobAI-XL v-pred",
        "NoobAI-XL",
        "Illustrious-XL",
        "Counterfeit",
        "Pony Diffusion",
        "CyberRealistic",
        "RealCartoon-Pixar",
        "Realistic Vision",
        "DreamShaper",
        "SDXL",
        "Default",
    ]
    assert [p.name for p in BUILTIN_PROFILES if p.match == ()] == ["Default"]
    assert PROFILES["Default"].priority == max(p.priority for p in BUILTIN_PROFILES)


@pytest.mark.parametrize(
    ("name", "arch", "fmt", "cfg", "steps", "sampler", "scheduler", "ip_adapter", "offset"),
    [
        ("NoobAI-XL v-pred", "sdxl", "booru_tags", 4.5, 30, "euler", "sgm_uniform", None, -0.05),
        ("NoobAI-XL", "sdxl", "booru_tags", 5.5, 28, "euler_ancestral", "normal", None, -0.05),
        ("Counterfeit", "sd15", "prose", 7.5, 30, "euler_ancestral", "normal", "ip-adapter-plus_sd15", 0.0),
        ("Pony Diffusion", "sdxl", "booru_tags", 7.0, 28, None, None, None, -0.05),
        ("CyberRealistic", "sd15", "prose", 7.0, 25, None, None, "ip-adapter-plus_sd15", 0.0),
        ("RealCartoon-Pixar", "sd15", "prose", 8.5, 40, None, None, "ip-adapter-plus_sd15", -0.03),
        ("Realistic Vision", "sd15", "prose", 7.0, 25, None, None, "ip-adapter-plus_sd15", 0.0),
        ("DreamShaper", "sd15", "prose", 7.0, 25, None, None, "ip-adapter-plus_sd15", 0.0),
        ("Default", "sd15", "prose", 7.0, 25, None, None, None, 0.0),
    ],
)
def test_builtin_profile_values_follow_the_facts_table(
    name: str,
    arch: str,
    fmt: str,
    cfg: float,
    steps: int,
    sampler: str | None,
    scheduler: str | None,
    ip_adapter: str | None,
    offset: float,
) -> None:
    profile = PROFILES[name]
    assert (profile.architecture, profile.prompt_format) == (arch, fmt)
    assert (profile.default_cfg, profile.default_steps) == (cfg, steps)
    assert (profile.default_sampler, profile.default_scheduler) == (sampler, scheduler)
    assert profile.ip_adapter_model == ip_adapter
    assert profile.threshold_offset == offset
    assert (profile.min_side, profile.max_side) == ((512, 2048) if arch == "sdxl" else (256, 1024))
    # Only booru-tag models strip prose style phrases.
    assert bool(profile.strip_style_tags) == (fmt == "booru_tags")


def test_only_the_vpred_profile_is_v_prediction_with_rescale_cfg() -> None:
    vpred = [(p.name, p.prediction_type, p.rescale_cfg) for p in BUILTIN_PROFILES if p.prediction_type != "epsilon"]
    assert vpred == [("NoobAI-XL v-pred", "v_prediction", 0.7)]
    assert PROFILES["Pony Diffusion"].quality_prefix == "score_9, score_8_up, score_7_up, source_anime"


@pytest.mark.parametrize(
    ("checkpoint", "expected"),
    [
        ("noobaiXLVpred_v10.safetensors", "NoobAI-XL v-pred"),
        ("NoobAI-XL-Vpred-v1.0.safetensors", "NoobAI-XL v-pred"),
        ("noobaiXLNAIXL_vPred10Version.safetensors", "NoobAI-XL v-pred"),
        ("noobaiXLNAIXL_epsilonPred11Version.safetensors", "NoobAI-XL"),
        ("NoobAI-XL-v1.1.safetensors", "NoobAI-XL"),
        ("counterfeitV30.safetensors", "Counterfeit"),
        ("Counterfeit-V3.0_fp16.safetensors", "Counterfeit"),
        ("ponyDiffusionV6XL.safetensors", "Pony Diffusion"),
        ("ponyDiffusionV6XL_v6StartWithThisOne.safetensors", "Pony Diffusion"),
        ("cyberrealistic_v42.safetensors", "CyberRealistic"),
        ("realcartoonPixar_v12.safetensors", "RealCartoon-Pixar"),
        ("realisticVisionV60B1_v51VAE.safetensors", "Realistic Vision"),
        ("Realistic_Vision_V5.1.safetensors", "Realistic Vision"),
        ("dreamshaper_8.safetensors", "DreamShaper"),
        ("SD15/DreamShaper_8_pruned.safetensors", "DreamShaper"),
        ("sd_xl_base_1.0.safetensors", "SDXL"),
        ("illustriousXL_v01.safetensors", "Illustrious-XL"),
        ("animagineXL40_v4Opt.safetensors", "Illustrious-XL"),
        ("juggernautXL_v9.safetensors", "Default"),
        ("v1-5-pruned-emaonly.safetensors", "Default"),
        ("", "Default"),
    ],
)
def test_realistic_checkpoint_filenames_pick_their_profile(checkpoint: str, expected: str) -> None:
    profile, _ = match_profile(checkpoint, BUILTIN_PROFILES)
    assert profile.name == expected


def test_match_reason_names_the_substring_and_priority() -> None:
    profile, reason = match_profile("models/noobaiXLVpred_v10.safetensors", BUILTIN_PROFILES)
    assert profile is PROFILES["NoobAI-XL v-pred"]
    assert reason == (
        "checkpoint 'noobaiXLVpred_v10.safetensors' contains 'NoobAI-XL-Vpred' (ignoring case and separators): "
        "profile NoobAI-XL v-pred (priority 10)"
    )


def test_unknown_checkpoint_falls_back_to_the_catch_all_and_says_so() -> None:
    profile, reason = match_profile("mysteryMix_v3.safetensors", BUILTIN_PROFILES)
    assert profile is PROFILES["Default"]
    assert reason == "no profile matches checkpoint 'mysteryMix_v3.safetensors'; using the catch-all profile Default"
    assert (
        match_profile("", BUILTIN_PROFILES)[1]
        == "no profile matches no checkpoint; using the catch-all profile Default"
    )


def test_priority_not_list_order_decides_so_vpred_beats_plain_noobai() -> None:
    profile, _ = match_profile("NoobAI-XL-Vpred-v1.0.safetensors", tuple(reversed(BUILTIN_PROFILES)))
    assert profile.name == "NoobAI-XL v-pred"


def test_only_the_file_name_is_matched_not_its_folder() -> None:
    assert match_profile("ponyDiffusion/v1-5-pruned.safetensors", BUILTIN_PROFILES)[0].name == "Default"
    assert match_profile("C:\\models\\pony\\dreamshaper_8.safetensors", BUILTIN_PROFILES)[0].name == "DreamShaper"


def test_user_profiles_are_data_and_take_part_by_priority() -> None:
    animagine = ModelProfile(
        name="Animagine XL",
        match=["animagine"],  # type: ignore[arg-type]  # as loaded from a JSON column
        priority=5,
        architecture="sdxl",
        prompt_format="booru_tags",
        strip_style_tags=["arcane"],  # type: ignore[arg-type]
    )
    assert animagine.match == ("animagine",)
    assert animagine.strip_style_tags == ("arcane",)
    profile, reason = match_profile("animagineXLV31_v31.safetensors", (*BUILTIN_PROFILES, animagine))
    assert profile is animagine
    assert reason.endswith("profile Animagine XL (priority 5)")


def test_without_a_catch_all_an_unknown_checkpoint_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"no model profile matches checkpoint 'mystery\.safetensors'"):
        match_profile("mystery.safetensors", [p for p in BUILTIN_PROFILES if p.match])


def test_a_profile_with_an_unknown_architecture_is_rejected() -> None:
    with pytest.raises(ValueError, match="architecture must be one of"):
        ModelProfile(name="bad", match=(), priority=1, architecture="sd3", prompt_format="prose")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_side <= max_side"):
        ModelProfile(name="bad", match=(), priority=1, architecture="sd15", prompt_format="prose", min_side=2048)


@pytest.mark.parametrize(
    ("width", "height", "profile", "messages"),
    [
        (1024, 1024, "NoobAI-XL", []),
        (512, 768, "Counterfeit", []),
        (770, 1024, "NoobAI-XL", ["width 770 is not a multiple of 8"]),
        (1024, 4096, "NoobAI-XL", ["height 4096 exceeds 2048 for sdxl models (profile NoobAI-XL)"]),
        (1536, 1024, "Default", ["width 1536 exceeds 1024 for sd15 models (profile Default)"]),
        (256, 1024, "Pony Diffusion", ["width 256 is below 512 for sdxl models (profile Pony Diffusion)"]),
        (
            1030,
            0,
            "DreamShaper",
            [
                "width 1030 is not a multiple of 8",
                "width 1030 exceeds 1024 for sd15 models (profile DreamShaper)",
                "height 0 must be positive",
            ],
        ),
    ],
)
def test_validate_size_explains_every_problem(width: int, height: int, profile: str, messages: list[str]) -> None:
    assert validate_size(width, height, PROFILES[profile]) == messages
