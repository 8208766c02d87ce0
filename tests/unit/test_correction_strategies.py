"""Auto-correction's seven strategies on a recipe, and the categories, triage flags and scores that reach each."""

from __future__ import annotations

from typing import Any

import pytest

from services.autonomy.strategies import (
    CATEGORY_STRATEGIES,
    FLAG_STRATEGIES,
    STRATEGIES,
    corrected,
    fix_appearance,
    fix_blur,
    fix_brightness,
    fix_contrast,
    fix_quality,
    fix_resolution,
    fix_solo,
    strategies_for,
    triage_flags,
)
from services.datasets.categories import CATEGORY_NAMES

REQUEST: dict[str, Any] = {
    "architecture": "sd15",
    "checkpoint": "counterfeitV30.safetensors",
    "positive": "masterpiece, koopa king, spiked shell",
    "negative": "worst quality, low quality",
    "width": 512,
    "height": 768,
    "seed": 1234,
    "steps": 25,
    "cfg": 7.0,
    "sampler": "euler_ancestral",
    "scheduler": "normal",
}


def test_fix_quality_adds_steps_and_guidance_and_swaps_a_soft_sampler() -> None:
    fixed = fix_quality(REQUEST)
    assert (fixed["steps"], fixed["cfg"], fixed["sampler"], fixed["scheduler"]) == (35, 8.0, "dpmpp_2m", "karras")
    capped = fix_quality({**REQUEST, "steps": 45, "cfg": 9.5, "sampler": "dpmpp_sde", "scheduler": "normal"})
    assert (capped["steps"], capped["cfg"], capped["sampler"], capped["scheduler"]) == (50, 9.5, "dpmpp_sde", "normal")
    assert fix_quality({**REQUEST, "cfg": 8.5})["cfg"] == 9.5
    assert fix_quality({**REQUEST, "steps": 80})["steps"] == 80  # never fewer steps than before
    assert REQUEST["steps"] == 25  # pure: the given recipe is left alone


def test_fix_resolution_grows_small_images_more_keeps_the_aspect_and_a_multiple_of_8() -> None:
    assert (lambda f: (f["width"], f["height"]))(fix_resolution(REQUEST)) == (768, 1152)  # a side below 768: x1.5
    big = fix_resolution({**REQUEST, "width": 1024, "height": 1000})  # x1.2, rounded down to multiples of 8
    assert (big["width"], big["height"]) == (1224, 1200)
    huge = fix_resolution({**REQUEST, "width": 1800, "height": 1200})  # at most 2048 a side
    assert huge["width"] <= 2048 and huge["width"] % 8 == 0 and huge["height"] % 8 == 0 and huge["height"] > 1200
    assert fix_resolution({**REQUEST, "width": 2048, "height": 2048})["width"] == 2048


def test_fix_blur_raises_steps_to_40_sets_guidance_9_and_asks_for_sharp_focus() -> None:
    fixed = fix_blur(REQUEST)
    assert (fixed["steps"], fixed["cfg"]) == (40, 9.0)
    assert fixed["positive"].endswith("sharp focus, highly detailed")
    assert fix_blur({**REQUEST, "steps": 30})["steps"] == 45
    assert fix_blur({**REQUEST, "steps": 60})["steps"] == 60


def test_fix_brightness_and_fix_contrast_add_their_terms() -> None:
    bright = fix_brightness(REQUEST)
    assert "well-lit" in bright["positive"] and "underexposed" in bright["negative"]
    contrast = fix_contrast(REQUEST)
    assert "high contrast" in contrast["positive"] and "vivid colors" in contrast["positive"]
    assert "washed out" in contrast["negative"]
    assert bright["seed"] == contrast["seed"] == REQUEST["seed"]  # the seed stays: the change is the fix


def test_fix_appearance_adds_the_negatives_its_categories_teach() -> None:
    fixed = fix_appearance(REQUEST, ("wrong_appearance", "bad_anatomy"))
    for term in ("off-model", "wrong outfit", "bad hands", "extra limbs"):
        assert term in fixed["negative"]
    assert fixed["positive"] == REQUEST["positive"]
    assert (
        fix_appearance({**REQUEST, "negative": "off-model"}, ("wrong_appearance",))["negative"].count("off-model") == 1
    )


def test_fix_solo_puts_solo_first_and_groups_in_the_negative() -> None:
    fixed = fix_solo(REQUEST)
    assert fixed["positive"].startswith("solo, single character, masterpiece")
    assert "multiple characters, group shot, crowd" in fixed["negative"]


@pytest.mark.parametrize(
    ("categories", "flags", "score", "expected"),
    [
        (["bad_quality"], [], None, ["fix_quality"]),
        (["wrong_appearance"], [], 0.8, ["fix_appearance"]),
        (["wrong_pose", "wrong_species"], [], None, ["fix_appearance"]),
        (["not_solo"], [], None, ["fix_solo"]),
        (["wrong_style"], [], None, ["fix_quality", "fix_contrast"]),
        (["bad_quality"], ["small"], None, ["fix_quality", "fix_resolution"]),
        ([], ["blurry"], None, ["fix_blur"]),
        ([], ["dark"], None, ["fix_brightness"]),
        ([], ["bright"], None, ["fix_contrast"]),
        (["other"], [], 0.35, ["fix_quality"]),  # a low score alone calls for quality
        (["other"], ["nsfw"], 0.9, []),
        (["duplicate"], [], None, []),
    ],
)
def test_categories_flags_and_score_choose_the_strategies(
    categories: list[str], flags: list[str], score: float | None, expected: list[str]
) -> None:
    assert strategies_for(categories, flags, score) == expected


def test_every_strategy_is_reachable_and_every_mapping_names_real_ones() -> None:
    reached = {name for strategies in [*CATEGORY_STRATEGIES.values(), *FLAG_STRATEGIES.values()] for name in strategies}
    assert reached == set(STRATEGIES)  # the earlier system never reached three of its seven
    assert set(CATEGORY_STRATEGIES) <= CATEGORY_NAMES


def test_corrected_applies_strategies_in_turn_and_reads_stored_flags() -> None:
    fixed = corrected(REQUEST, ["fix_quality", "fix_blur", "fix_appearance"], ["bad_quality"])
    assert (fixed["steps"], fixed["cfg"], fixed["sampler"]) == (50, 9.0, "dpmpp_2m")  # 25 -> 35 -> 35 + 15
    assert "sharp focus" in fixed["positive"] and "jpeg artifacts" in fixed["negative"]
    assert triage_flags(",blurry,small,") == ["blurry", "small"] and triage_flags("") == []
