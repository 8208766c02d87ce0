"""Splitting a generation prompt into tags: booru lists, A1111 weights and escapes, LoRA calls, profile tags."""

from __future__ import annotations

import pytest

from services.errors import Invalid
from services.prompts import BUILTIN_PROFILES
from services.tags import clean_tag, profile_tags, tags_from_prompt


@pytest.mark.parametrize(
    ("prompt", "tags"),
    [
        ("1girl, solo, blue_eyes, long hair", ["1girl", "solo", "blue eyes", "long hair"]),
        ("(blue eyes:1.2), ((smile)), [frown], {sky}", ["blue eyes", "smile", "frown", "sky"]),
        ("(red hair, green eyes:0.8), castle", ["red hair", "green eyes", "castle"]),
        (r"hatsune miku \(cosplay\), stage", ["hatsune miku (cosplay)", "stage"]),
        ("<lora:mira_v2:0.8>, mira, <lyco:style:1>smile", ["mira", "smile"]),
        ("a castle BREAK night sky\nstars", ["a castle", "night sky", "stars"]),
        ("Smile,  smile , SMILE, Blue  Eyes", ["smile", "blue eyes"]),
        (", ,(:1.3), ", []),
        ("re:zero, score_9", ["re:zero", "score 9"]),
    ],
)
def test_prompts_split_into_normalised_tags(prompt: str, tags: list[str]) -> None:
    assert tags_from_prompt(prompt) == tags


def test_a_profiles_quality_and_style_tags_are_dropped() -> None:
    pony = next(p for p in BUILTIN_PROFILES if p.name == "Pony Diffusion")
    prompt = "score_9, score_8_up, score_7_up, source_anime, 1girl, fox ears"
    assert tags_from_prompt(prompt, drop=profile_tags(pony)) == ["1girl", "fox ears"]
    assert tags_from_prompt("masterpiece, best quality, cat", drop=["Best_Quality", "masterpiece"]) == ["cat"]


def test_sentences_longer_than_a_tag_are_not_tags() -> None:
    assert tags_from_prompt("x" * 201 + ", cat") == ["cat"]


@pytest.mark.parametrize("bad", ["", "   ", "a, b", "two\nlines", "x" * 201])
def test_a_bad_tag_is_refused_with_the_reason(bad: str) -> None:
    with pytest.raises(Invalid) as refused:
        clean_tag(bad)
    assert refused.value.field == "tag"


def test_tags_are_normalised() -> None:
    assert clean_tag("  Blue__Eyes ") == "blue eyes"
