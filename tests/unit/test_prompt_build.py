"""build_prompt golden cases: the exact prompts the studio would send, and the reasons it shows."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from services.prompts import (
    BUILTIN_PROFILES,
    BUILTIN_SPECIES_RULES,
    Appearance,
    CharacterInput,
    Explanation,
    PromptPlan,
    SpeciesRule,
    StyleInput,
    build_prompt,
)

MIRA = CharacterInput(
    name="Mira",
    design_prompt="1girl, young woman in Arcane style, neon-noir alley, leather jacket",
    appearance=Appearance.from_data(
        {
            "species": "elf",
            "gender": "female",
            "key_colors": {"hair": "silver", "eyes": "green"},
            "key_features": ["pointed ears", "Scar on cheek"],
            "body_type": "slender",
            "negatives": ["extra arms, child"],
            "voice": "husky alto",
        }
    ),
)

SHELLY = CharacterInput(
    name="Shelly",
    design_prompt="a cheerful turtle, green shell",
    appearance=Appearance.from_data(
        {"species": "turtle (NOT human)", "gender": "female", "key_colors": {"shell": "green"}}
    ),
)

MARIO = CharacterInput(
    name="Mario",
    design_prompt="1man, plumber, red cap, mustache",
    appearance=Appearance.from_data(
        {
            "species": "human",
            "gender": "male",
            "key_colors": {"cap": "red", "overalls": "blue"},
            "body_type": "short and stocky",
        }
    ),
)


def style(checkpoint: str, name: str = "test-style", **overrides: object) -> StyleInput:
    values: dict[str, object] = {
        "name": name,
        "checkpoint_model": checkpoint,
        "cfg_scale": None,
        "steps": None,
        "sampler": None,
        "scheduler": None,
        "width": 1024,
        "height": 1024,
    }
    values.update(overrides)
    return StyleInput(**values)  # type: ignore[arg-type]


def plan_for(character: CharacterInput, checkpoint: str, **kwargs: object) -> PromptPlan:
    style_overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in StyleInput.__dataclass_fields__}
    return build_prompt(
        character,
        style(checkpoint, **style_overrides),
        BUILTIN_PROFILES,
        BUILTIN_SPECIES_RULES,
        **kwargs,  # type: ignore[arg-type]
    )


def explained(plan: PromptPlan, part: str, action: str) -> list[tuple[str, str]]:
    return [(e.text, e.because) for e in plan.explanations if e.part == part and e.action == action]


NOOB_PREFIX = "masterpiece, best quality, newest, absurdres, highres"
NOOB_NEGATIVE = "worst quality, low quality, lowres, bad anatomy, bad hands, jpeg artifacts, signature, watermark"


def test_booru_translation_strips_style_tags_and_spells_appearance_as_tags() -> None:
    plan = plan_for(MIRA, "noobaiXLVpred_v10.safetensors", pose="standing, arms crossed", world_negative="modern cars")
    assert plan.profile.name == "NoobAI-XL v-pred"
    assert (plan.architecture, plan.prompt_format) == ("sdxl", "booru_tags")
    assert plan.positive == (
        f"{NOOB_PREFIX}, 1girl, young woman, leather jacket, silver_hair, green_eyes, pointed_ears, "
        "scar_on_cheek, slender, standing, arms crossed, solo, simple_background"
    )
    assert plan.negative == f"{NOOB_NEGATIVE}, modern cars, extra arms, child"
    assert explained(plan, "positive", "removed") == [
        ("Arcane style", "style tag stripped for booru-tag models (profile NoobAI-XL v-pred)"),
        ("in", "leftover word around a stripped style tag"),
        ("neon-noir alley", "style tag stripped for booru-tag models (profile NoobAI-XL v-pred)"),
    ]
    assert explained(plan, "positive", "skipped") == [
        ("1girl", "duplicate of an earlier token '1girl' (design prompt of Mira)")
    ]
    added = dict(explained(plan, "positive", "added"))
    assert added["newest"] == "quality prefix of profile NoobAI-XL v-pred"
    assert added["silver_hair"] == "key colour of hair in the appearance data"
    assert added["scar_on_cheek"] == "key feature in the appearance data"
    assert added["slender"] == "body type in the appearance data"
    assert added["arms crossed"] == "pose for this image"
    assert added["solo"] == "solo suffix of profile NoobAI-XL v-pred"
    assert added["simple_background"] == "background suffix of profile NoobAI-XL v-pred"
    negatives = dict(explained(plan, "negative", "added"))
    assert negatives["watermark"] == (
        "quality negative of profile NoobAI-XL v-pred (style test-style has no negative template)"
    )
    assert negatives["modern cars"] == "negative guidance of the world settings"
    assert negatives["child"] == "negative typed for Mira"
    # The stored design prompt is read, never rewritten.
    assert MIRA.design_prompt == "1girl, young woman in Arcane style, neon-noir alley, leather jacket"


def test_prose_translation_of_the_same_character_keeps_the_design_prompt() -> None:
    plan = plan_for(
        MIRA,
        "counterfeitV30.safetensors",
        positive_template="dark fantasy",
        negative_template="worst quality, lowres",
    )
    assert (plan.profile.name, plan.architecture, plan.prompt_format) == ("Counterfeit", "sd15", "prose")
    assert plan.positive == (
        "masterpiece, best quality, dark anime style, dramatic shadows, dark fantasy, 1girl, "
        "young woman in Arcane style, neon-noir alley, leather jacket, silver hair, green eyes, pointed ears, "
        "Scar on cheek, slender, solo, simple background"
    )
    # The style's negative template replaces the profile's quality negative, and that is explained.
    assert plan.negative == "worst quality, lowres, extra arms, child"
    assert explained(plan, "negative", "skipped") == [
        (
            "worst quality, low quality, lowres, bad anatomy, bad hands, extra fingers, blurry, watermark",
            "quality negative of profile Counterfeit is replaced by the negative template of style test-style",
        )
    ]
    assert explained(plan, "positive", "removed") == []
    assert dict(explained(plan, "positive", "added"))["dark fantasy"] == "positive template of style test-style"
    assert plan.ip_adapter_model == "ip-adapter-plus_sd15"
    assert plan.non_human is False
    assert plan.verification_questions == ()


def test_vpred_profile_gives_euler_sgm_uniform_rescale_and_v_prediction() -> None:
    plan = plan_for(MIRA, "noobaiXLVpred_v10.safetensors", name="noob-vpred")
    params = plan.params
    assert (params.cfg, params.steps, params.sampler, params.scheduler) == (4.5, 30, "euler", "sgm_uniform")
    assert (params.prediction_type, params.rescale_cfg) == ("v_prediction", 0.7)
    assert (params.width, params.height) == (1024, 1024)
    assert dict(params.sources) == {
        "cfg": "profile NoobAI-XL v-pred",
        "steps": "profile NoobAI-XL v-pred",
        "sampler": "profile NoobAI-XL v-pred",
        "scheduler": "profile NoobAI-XL v-pred",
        "width": "style noob-vpred",
        "height": "style noob-vpred",
        "prediction_type": "profile NoobAI-XL v-pred",
        "rescale_cfg": "profile NoobAI-XL v-pred",
    }
    assert explained(plan, "params", "chosen")[-2:] == [
        ("prediction_type v_prediction", "profile NoobAI-XL v-pred"),
        ("rescale_cfg 0.7", "profile NoobAI-XL v-pred"),
    ]


def test_non_human_turtle_on_a_booru_model_gets_no_humans_and_species_negatives() -> None:
    plan = plan_for(SHELLY, "ponyDiffusionV6XL.safetensors")
    assert plan.profile.name == "Pony Diffusion"
    # no_humans, not 1girl: a creature tagged 1girl is drawn as a girl.
    assert plan.positive == (
        "score_9, score_8_up, score_7_up, source_anime, a cheerful turtle, green shell, solo, no_humans, "
        "simple_background"
    )
    assert plan.negative == (
        "score_6, score_5, score_4, worst quality, low quality, bad anatomy, watermark, signature, "
        "human, human face, human skin, realistic person, fur, mammal, missing shell"
    )
    assert plan.non_human is True
    assert [rule.name for rule in plan.species_rules] == ["turtle"]
    assert plan.verification_questions == (
        "Does the character have a turtle shell on its back and a reptilian, turtle-like head and skin? "
        "Answer yes or no.",
    )
    assert explained(plan, "species", "chosen") == [
        (
            "not human",
            "species 'turtle (NOT human)' says it is not human; matches rule 'turtle' (keyword 'turtle')",
        ),
        ("turtle", "species rule matching 'turtle (NOT human)'"),
    ]
    negatives = dict(explained(plan, "negative", "added"))
    assert negatives["human face"] == "species 'turtle (NOT human)' is not human"
    assert negatives["missing shell"] == "species rule 'turtle'"
    assert dict(explained(plan, "positive", "added"))["no_humans"] == (
        "booru-tag subject tag: the character is not human"
    )
    # "green_shell" from key_colors is the same tag as "green shell" from the design prompt.
    assert explained(plan, "positive", "skipped") == [
        ("green_shell", "duplicate of an earlier token 'green shell' (design prompt of Shelly)")
    ]


def test_non_human_turtle_on_a_prose_model() -> None:
    plan = plan_for(SHELLY, "v1-5-pruned-emaonly.safetensors", width=512, height=512)
    assert plan.profile.name == "Default"
    assert plan.positive == (
        "masterpiece, best quality, highly detailed, a cheerful turtle, green shell, solo, simple background"
    )
    assert plan.negative == (
        "worst quality, low quality, blurry, deformed, human, human face, human skin, realistic person, "
        "fur, mammal, missing shell"
    )


def test_star_shaped_creature_gets_child_and_humanoid_negatives() -> None:
    twinkle = CharacterInput(
        name="Twinkle",
        design_prompt="a tiny star-shaped creature with big eyes, floating",
        appearance=Appearance.from_data({"species": "star-shaped creature", "key_colors": {"body": "pale yellow"}}),
    )
    plan = plan_for(twinkle, "realcartoonPixar_v12.safetensors", width=512, height=512)
    assert plan.positive == (
        "3d render, pixar style, highly detailed, vibrant colors, soft lighting, "
        "a tiny star-shaped creature with big eyes, floating, pale yellow body, solo, simple background"
    )
    assert plan.negative == (
        "photo, photorealistic, worst quality, low quality, blurry, deformed, bad anatomy, "
        "human, human face, human skin, realistic person, child, boy, girl, humanoid"
    )
    assert plan.non_human is True
    assert plan.verification_questions == (
        "Is the character a small five-pointed star-shaped creature, not a child or a humanoid figure? "
        "Answer yes or no.",
    )
    assert (plan.params.cfg, plan.params.steps) == (8.5, 40)


def test_explicit_human_gets_1boy_and_no_species_negatives() -> None:
    plan = plan_for(MARIO, "ponyDiffusionV6XL.safetensors")
    assert plan.positive == (
        "score_9, score_8_up, score_7_up, source_anime, 1man, plumber, red cap, mustache, blue_overalls, "
        "short_and_stocky, solo, 1boy, simple_background"
    )
    assert plan.negative == "score_6, score_5, score_4, worst quality, low quality, bad anatomy, watermark, signature"
    assert plan.non_human is False
    assert plan.species_rules == ()
    assert plan.verification_questions == ()
    assert explained(plan, "species", "chosen") == [("human-like", "species 'human' says human")]
    assert dict(explained(plan, "positive", "added"))["1boy"] == "booru-tag subject tag: appearance gender is male"


def test_unmatched_species_is_treated_as_human_like_with_a_hint() -> None:
    plan = plan_for(MIRA, "dreamshaper_8.safetensors")
    assert plan.non_human is False
    assert explained(plan, "species", "chosen") == [
        ("human-like", "no species rule matches 'elf'; treated as human-like — add a species rule to change this")
    ]
    assert "human" not in plan.negative.split(", ")


def test_booru_gender_falls_back_to_the_design_prompt_and_other_gets_no_subject_tag() -> None:
    unknown = CharacterInput("Kai", "1boy, ninja", Appearance.from_data({"species": "human"}))
    plan = plan_for(unknown, "ponyDiffusionV6XL.safetensors")
    assert plan.positive.endswith("1boy, ninja, solo, simple_background")
    assert explained(plan, "positive", "skipped") == [
        ("1boy", "duplicate of an earlier token '1boy' (design prompt of Kai)")
    ]
    robot = CharacterInput("Unit", "android, chrome plating", Appearance.from_data({"gender": "none"}))
    assert robot.appearance.gender == "other"
    plan = plan_for(robot, "ponyDiffusionV6XL.safetensors")
    assert plan.positive.endswith("android, chrome plating, solo, simple_background")


def test_style_overrides_of_architecture_and_format_are_applied_and_explained() -> None:
    plan = plan_for(
        MARIO, "counterfeitV30.safetensors", name="xl-tags", model_architecture="sdxl", prompt_format="booru_tags"
    )
    assert plan.profile.name == "Counterfeit"
    assert (plan.architecture, plan.prompt_format) == ("sdxl", "booru_tags")
    assert plan.ip_adapter_model is None
    assert plan.positive == (
        "masterpiece, best quality, dark anime style, dramatic shadows, 1man, plumber, red cap, mustache, "
        "blue_overalls, short_and_stocky, solo, 1boy, simple background"
    )
    assert plan.explained("profile") == (
        Explanation(
            "profile",
            "chosen",
            "Counterfeit",
            "checkpoint 'counterfeitV30.safetensors' contains 'Counterfeit' (ignoring case and separators): "
            "profile Counterfeit (priority 30)",
        ),
        Explanation(
            "profile", "chosen", "sdxl", "architecture overridden by style xl-tags (profile Counterfeit says sd15)"
        ),
        Explanation(
            "profile",
            "skipped",
            "ip-adapter-plus_sd15",
            "IP-Adapter of profile Counterfeit is for sd15, but style xl-tags overrides the architecture to sdxl",
        ),
        Explanation(
            "profile",
            "chosen",
            "booru_tags",
            "prompt format overridden by style xl-tags (profile Counterfeit says prose)",
        ),
    )


def test_an_override_equal_to_the_profile_changes_nothing() -> None:
    plan = plan_for(MIRA, "counterfeitV30.safetensors", model_architecture="sd15", prompt_format="prose")
    assert len(plan.explained("profile")) == 1
    assert plan.ip_adapter_model == "ip-adapter-plus_sd15"


def test_prose_style_forced_to_booru_on_a_booru_profile_strips_and_vice_versa() -> None:
    plan = plan_for(MIRA, "ponyDiffusionV6XL.safetensors", prompt_format="prose")
    assert plan.prompt_format == "prose"
    assert "young woman in Arcane style" in plan.positive.split(", ")
    assert plan.positive.endswith(
        "silver hair, green eyes, pointed ears, Scar on cheek, slender, solo, simple_background"
    )


def test_duplicates_are_dropped_case_insensitively_keeping_the_first() -> None:
    character = CharacterInput(
        "Dup",
        "Masterpiece, red scarf, , RED  SCARF, (glowing eyes, sparkles:1.2)",
        Appearance.from_data({"key_features": "red scarf", "negatives": ["Blurry", "lowres"]}),
    )
    plan = plan_for(character, "dreamshaper_8.safetensors", negative_template="blurry, text")
    assert plan.positive == (
        "masterpiece, best quality, highly detailed, digital illustration, red scarf, "
        "(glowing eyes, sparkles:1.2), solo, simple background"
    )
    assert explained(plan, "positive", "skipped") == [
        ("Masterpiece", "duplicate of an earlier token 'masterpiece' (quality prefix of profile DreamShaper)"),
        ("RED SCARF", "duplicate of an earlier token 'red scarf' (design prompt of Dup)"),
        ("red scarf", "duplicate of an earlier token 'red scarf' (design prompt of Dup)"),
    ]
    assert plan.negative == "blurry, text, lowres"
    assert explained(plan, "negative", "skipped")[-1] == (
        "Blurry",
        "duplicate of an earlier token 'blurry' (negative template of style test-style)",
    )


def test_a_negative_never_removes_a_positive_token() -> None:
    dreamer = CharacterInput(
        "Dreamer", "a turtle who wants to be human, human", Appearance.from_data({"species": "turtle, NOT human"})
    )
    plan = plan_for(dreamer, "dreamshaper_8.safetensors")
    assert "human" in plan.positive.split(", ")
    assert "human" in plan.negative.split(", ")


def test_verification_questions_come_from_every_matched_rule_with_a_question() -> None:
    silent = SpeciesRule(name="slime", keywords=("slime",), negatives=("solid body",))
    hybrid = CharacterInput("Goo", "slime dragon", Appearance.from_data({"species": "slime dragon"}))
    plan = build_prompt(hybrid, style("dreamshaper_8.safetensors"), BUILTIN_PROFILES, (*BUILTIN_SPECIES_RULES, silent))
    assert [rule.name for rule in plan.species_rules] == ["dragon", "slime"]
    assert plan.verification_questions == (
        "Is the character a dragon with scales, horns or frills, claws and a long tail? Answer yes or no.",
    )
    assert plan.negative.endswith(
        "human, human face, human skin, realistic person, fur, mammal, human ears, solid body"
    )


def test_a_style_tag_that_is_a_whole_fragment_disappears_with_its_filler() -> None:
    character = CharacterInput(
        "Vi", "in the style of Arcane, cinematic lighting, pink hair, neon-noir style", Appearance()
    )
    plan = plan_for(character, "NoobAI-XL-v1.1.safetensors")
    assert plan.positive == f"{NOOB_PREFIX}, pink hair, solo, simple_background"
    assert [text for text, _ in explained(plan, "positive", "removed")] == [
        "in the style of Arcane",
        "cinematic lighting",
        "neon-noir",
        "style",
    ]


def test_build_prompt_is_pure_and_repeatable() -> None:
    first = plan_for(SHELLY, "ponyDiffusionV6XL.safetensors", pose="waving")
    second = plan_for(SHELLY, "ponyDiffusionV6XL.safetensors", pose="waving")
    assert first == second
    assert SHELLY.design_prompt == "a cheerful turtle, green shell"


def test_appearance_from_data_is_lenient() -> None:
    appearance = Appearance.from_data(
        {
            "species": "  mouse ",
            "gender": "Woman",
            "key_colors": {"fur": "grey", "ears": "", "tail": None, "": "red"},
            "key_features": "round ears, long tail",
            "common_errors": ["depicted as a child", 3, None],
            "negatives": 5,
            "voice": "squeaky",
        }
    )
    assert appearance == Appearance(
        species="mouse",
        gender="female",
        key_colors={"fur": "grey"},
        key_features=("round ears", "long tail"),
        common_errors=("depicted as a child", "3"),
        voice="squeaky",
    )
    assert Appearance.from_data(None) == Appearance()
    assert Appearance.from_data({"gender": "M"}).gender == "male"


def test_inputs_from_records_shaped_like_the_studio_models() -> None:
    row = SimpleNamespace(
        name="noob",
        checkpoint_model="noobaiXLVpred_v10.safetensors",
        cfg_scale=5.0,
        steps=28,
        sampler="Euler a",
        scheduler=None,
        width=832,
        height=1216,
        positive_prompt_template="anime screencap",
        negative_prompt_template="",
        model_architecture="",
        prompt_format=None,
    )
    converted = StyleInput.from_record(row)
    assert converted == StyleInput(
        "noob", "noobaiXLVpred_v10.safetensors", 5.0, 28, "Euler a", None, 832, 1216, "anime screencap", ""
    )
    character = CharacterInput.from_record(
        SimpleNamespace(name="Shelly", design_prompt=None, appearance_data={"species": "turtle"})
    )
    assert character == CharacterInput("Shelly", "", Appearance(species="turtle"))


def test_style_input_rejects_unknown_overrides() -> None:
    with pytest.raises(ValueError, match="model_architecture must be one of"):
        style("x.safetensors", model_architecture="flux")
    with pytest.raises(ValueError, match="prompt_format must be one of"):
        style("x.safetensors", prompt_format="tags")
