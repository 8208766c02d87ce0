"""Training presets: every family at every GPU memory, values that fit the card (the SDXL 12 GB rules from sd-scripts'
docs and issues), overrides checked field by field, and kohya's sample prompt file."""

from __future__ import annotations

import pytest

from services.errors import Invalid, NotFound
from services.training import PRESETS, TrainingParams, preset
from services.training.presets import apply_overrides, training_preset
from services.training.runs import sample_prompts_text


def test_every_family_has_every_memory_tier() -> None:
    assert set(PRESETS) == {
        f"{family}-{gb}gb" for family in ("sd15", "sdxl", "illustrious", "pony", "noobai") for gb in (8, 12, 16, 24)
    }
    for found in PRESETS.values():
        assert found.description and "\n" not in found.description
        assert found.params.alpha == found.params.rank / 2
        # Caching the text encoders' outputs is only allowed when training the U-Net alone (sd-scripts).
        assert not found.params.cache_text_encoder_outputs or found.params.network_train_unet_only
    assert {PRESETS[f"{f}-12gb"].params.family_label for f in ("illustrious", "pony", "noobai")} == {
        "Illustrious",
        "Pony",
        "NoobAI",
    }


def test_sdxl_at_12_gb_is_the_known_fitting_recipe_and_24_gb_does_more() -> None:
    small = preset("sdxl-12gb")
    assert (small.family, small.batch_size, small.rank, small.optimizer, small.resolution) == (
        "sdxl",
        1,
        16,
        "AdamW8bit",
        1024,
    )
    assert small.gradient_checkpointing and small.cache_latents and small.cache_text_encoder_outputs
    assert small.network_train_unet_only
    large = preset("sdxl-24gb")
    assert large.rank > small.rank and large.batch_size > small.batch_size and not large.network_train_unet_only
    assert preset("sd15-8gb").resolution == 512 and preset("sd15-8gb").family == "sd15"


def test_preset_returns_a_copy() -> None:
    copy = preset("pony-16gb")
    copy.epochs = 99
    assert preset("pony-16gb").epochs != 99


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(NotFound, match="sdxl-12gb"):
        training_preset("sdxl-13gb")


def test_overrides_change_only_what_they_name() -> None:
    params = apply_overrides(preset("sdxl-12gb"), {"epochs": 4, "rank": 32, "resolution": 768, "learning_rate": 5e-5})
    assert (params.epochs, params.rank, params.alpha, params.resolution, params.learning_rate) == (4, 32, 16, 768, 5e-5)
    assert params.batch_size == 1 and params.optimizer == "AdamW8bit"
    assert apply_overrides(preset("sdxl-12gb"), None) == preset("sdxl-12gb")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"epochs": 0}, "overrides.epochs"),
        ({"epochs": 101}, "overrides.epochs"),
        ({"repeats": 101}, "overrides.repeats"),
        ({"rank": 129}, "overrides.rank"),
        ({"learning_rate": 0.5}, "overrides.learning_rate"),
        ({"learning_rate": 1e-7}, "overrides.learning_rate"),
        ({"resolution": 200}, "overrides.resolution"),
        ({"resolution": 1000}, "overrides.resolution"),
        ({"resolution": 2112}, "overrides.resolution"),
        ({"sample_prompts": []}, "overrides.sample_prompts"),
        ({"sample_prompts": ["a"] * 9}, "overrides.sample_prompts"),
        ({"sample_prompts": ["x" * 501]}, "overrides.sample_prompts"),
        ({"sample_prompts": ["  "]}, "overrides.sample_prompts"),
        ({"sample_prompts": ["a girl --n ugly"]}, "overrides.sample_prompts"),
        ({"batch_size": 64}, "overrides.batch_size"),
    ],
)
def test_bad_overrides_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(Invalid) as caught:
        apply_overrides(preset("sdxl-12gb"), overrides)
    assert caught.value.field == field
    assert not caught.value.message.startswith("Value error")


def test_sample_prompt_file_has_fixed_seeds_and_one_line_per_prompt() -> None:
    params = apply_overrides(preset("sd15-12gb"), {"sample_prompts": ["koopa, front view", "koopa,\nsmiling"]})
    lines = sample_prompts_text(params).splitlines()
    assert lines[0].startswith("koopa, front view --n ") and lines[1].startswith("koopa, smiling --n ")
    assert "--w 512 --h 512 --d 1234 --l 7 --s 28" in lines[0] and "--d 1235" in lines[1]


def test_params_round_trip_through_json() -> None:
    params = preset("noobai-24gb")
    assert TrainingParams.model_validate(params.model_dump(mode="json")) == params
