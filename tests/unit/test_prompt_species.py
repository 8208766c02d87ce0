"""Species rules: who is not human, which rules match, and why."""

from __future__ import annotations

import pytest

from services.prompts import BUILTIN_SPECIES_RULES, NON_HUMAN_NEGATIVES, SpeciesRule, classify_species

RULES = {rule.name: rule for rule in BUILTIN_SPECIES_RULES}


def test_builtin_rules_cover_the_seven_species_with_questions_and_checklists() -> None:
    assert list(RULES) == ["turtle", "koopa", "dinosaur", "star-shaped", "mushroom", "mouse", "dragon"]
    for rule in BUILTIN_SPECIES_RULES:
        assert rule.non_human, rule.name
        assert rule.negatives, rule.name
        assert rule.verification_question.endswith("Answer yes or no."), rule.name
        assert rule.look_for, rule.name
        assert rule.wrong_if, rule.name
    assert RULES["star-shaped"].negatives == ("child", "boy", "girl", "humanoid")
    assert RULES["mushroom"].negatives == ("human child", "boy wearing hat")
    assert NON_HUMAN_NEGATIVES == ("human", "human face", "human skin", "realistic person")


@pytest.mark.parametrize(
    ("species", "non_human", "rules", "reason"),
    [
        (
            "turtle (NOT human)",
            True,
            ["turtle"],
            "species 'turtle (NOT human)' says it is not human; matches rule 'turtle' (keyword 'turtle')",
        ),
        ("a small mouse", True, ["mouse"], "species 'a small mouse' matches rule 'mouse' (keyword 'mouse'); not human"),
        (
            "mousepad collector",
            False,
            [],
            "no species rule matches 'mousepad collector'; treated as human-like — add a species rule to change this",
        ),
        (
            "star-shaped creature",
            True,
            ["star-shaped"],
            "species 'star-shaped creature' matches rule 'star-shaped' (keyword 'star-shaped'); not human",
        ),
        ("Star Shaped sprite", True, ["star-shaped"], None),
        ("human", False, [], "species 'human' says human"),
        ("Human plumber", False, [], "species 'Human plumber' says human"),
        (
            "human with dragon wings",
            False,
            [],
            "species 'human with dragon wings' says human; non-human rules 'dragon' are ignored",
        ),
        (
            "elf",
            False,
            [],
            "no species rule matches 'elf'; treated as human-like — add a species rule to change this",
        ),
        ("", False, [], "no species given; treated as human-like — add a species to change this"),
        ("nonhuman spirit", True, [], "species 'nonhuman spirit' says it is not human"),
        ("Non-Human robot", True, [], None),
        ("not a human, a ghost", True, [], None),
        ("half-dragon knight", True, ["dragon"], None),
        ("Koopa Troopa (NOT human)", True, ["koopa"], None),
        ("mushroom retainer, not human", True, ["mushroom"], None),
        ("dinosaur turtle hybrid", True, ["turtle", "dinosaur"], None),
        ("humanoid fox", False, [], None),
        ("dragonfly fairy", False, [], None),
    ],
)
def test_classify_species(species: str, non_human: bool, rules: list[str], reason: str | None) -> None:
    got_non_human, got_rules, got_reason = classify_species(species, BUILTIN_SPECIES_RULES)
    assert got_non_human is non_human
    assert [rule.name for rule in got_rules] == rules
    if reason is not None:
        assert got_reason == reason


def test_a_human_like_user_rule_matches_without_making_the_character_non_human() -> None:
    elf = SpeciesRule(name="elf", keywords=["elf", "elven"], non_human=False, negatives=["round ears"])  # type: ignore[arg-type]
    assert elf.keywords == ("elf", "elven")
    non_human, rules, reason = classify_species("Elven archer", (*BUILTIN_SPECIES_RULES, elf))
    assert (non_human, rules) == (False, (elf,))
    assert reason == "species 'Elven archer' matches rule 'elf' (keyword 'elven'); human-like"
    # An explicit "human" keeps human-like rules.
    assert classify_species("half-elf, half-human", [elf])[:2] == (False, (elf,))
