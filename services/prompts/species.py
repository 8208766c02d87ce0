"""Species rules: which characters are not human, the negatives that keep them so, and the review question.

Vision models and checkpoints both pull creatures towards humans (a "star-shaped creature" becomes a
child in a star costume), so non-human characters get extra negatives and a focused yes/no check later.
Rules are data (the ``species_rules`` table); users add their own.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

NON_HUMAN_NEGATIVES: tuple[str, ...] = ("human", "human face", "human skin", "realistic person")


@dataclass(frozen=True)
class SpeciesRule:
    """Keywords that identify a species in a character's species text, and what that implies."""

    name: str
    keywords: tuple[str, ...]
    non_human: bool = True
    negatives: tuple[str, ...] = ()
    verification_question: str = ""
    look_for: tuple[str, ...] = ()
    wrong_if: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Rows come from JSON list columns; keep the rule immutable and hashable anyway.
        for field_name in ("keywords", "negatives", "look_for", "wrong_if"):
            object.__setattr__(self, field_name, tuple(getattr(self, field_name)))


BUILTIN_SPECIES_RULES: tuple[SpeciesRule, ...] = (
    SpeciesRule(
        name="turtle",
        keywords=("turtle", "tortoise", "terrapin"),
        negatives=("fur", "mammal", "missing shell"),
        verification_question=(
            "Does the character have a turtle shell on its back and a reptilian, turtle-like head and skin? "
            "Answer yes or no."
        ),
        look_for=("shell on the back", "scaly reptile skin", "beaked turtle head"),
        wrong_if=("no shell", "human face", "human skin", "fur or hair on the body"),
    ),
    SpeciesRule(
        name="koopa",
        keywords=("koopa", "koopa troopa"),
        negatives=("mammal", "missing shell", "human ears"),
        verification_question=(
            "Is the character a Koopa: an upright turtle-like creature with a shell on its back and a beaked "
            "reptile face? Answer yes or no."
        ),
        look_for=("shell on the back", "beaked reptile face", "upright turtle body", "scaly limbs"),
        wrong_if=("no shell", "human face", "human ears", "human in a turtle costume"),
    ),
    SpeciesRule(
        name="dinosaur",
        keywords=("dinosaur", "dino", "raptor", "tyrannosaurus", "t-rex"),
        negatives=("fur", "mammal", "human ears"),
        verification_question=(
            "Does the character have a reptilian dinosaur body with scales, a snout and a tail? Answer yes or no."
        ),
        look_for=("scaly reptile skin", "snout", "tail", "claws"),
        wrong_if=("human face", "fur", "no tail", "human in a dinosaur costume"),
    ),
    SpeciesRule(
        name="star-shaped",
        keywords=("star-shaped", "star shaped"),
        negatives=("child", "boy", "girl", "humanoid"),
        verification_question=(
            "Is the character a small five-pointed star-shaped creature, not a child or a humanoid figure? "
            "Answer yes or no."
        ),
        look_for=("five-pointed star body", "eyes on the star body", "glowing or pastel colour"),
        wrong_if=("human child", "humanoid body with arms and legs", "human face", "person holding a star"),
    ),
    SpeciesRule(
        name="mushroom",
        keywords=("mushroom", "toadstool", "fungus"),
        negatives=("human child", "boy wearing hat"),
        verification_question=(
            "Is the character's head a large mushroom cap that is part of its body (not a hat)? Answer yes or no."
        ),
        look_for=("spotted mushroom cap head", "small stubby body", "cap grows from the head"),
        wrong_if=("human child wearing a hat", "hat instead of a mushroom cap", "human hair under the cap"),
    ),
    SpeciesRule(
        name="mouse",
        keywords=("mouse", "mice"),
        negatives=("human ears", "human nose", "hairless skin"),
        verification_question=(
            "Does the character have mouse features: round ears on top of the head, a whiskered snout, fur and "
            "a thin tail? Answer yes or no."
        ),
        look_for=("round mouse ears", "snout with whiskers", "fur", "thin tail"),
        wrong_if=("human ears", "human face", "no tail", "human wearing mouse ears"),
    ),
    SpeciesRule(
        name="dragon",
        keywords=("dragon", "wyvern"),
        negatives=("fur", "mammal", "human ears"),
        verification_question=(
            "Is the character a dragon with scales, horns or frills, claws and a long tail? Answer yes or no."
        ),
        look_for=("scales", "horns or frills", "long tail", "claws or wings"),
        wrong_if=("human face", "human in a dragon costume", "fur"),
    ),
)

# "NOT human", "non-human", "nonhuman", "not a human": the user said so explicitly.
_NEGATED_HUMAN = re.compile(r"\b(?:not\s+(?:an?\s+)?|non[\s-]?)human\b", re.IGNORECASE)
_HUMAN = re.compile(r"\bhuman\b", re.IGNORECASE)


@lru_cache(maxsize=512)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    # Whole words only ("mouse" must not claim "mousepad"); any run of spaces matches a space.
    body = r"\s+".join(re.escape(word) for word in keyword.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def rule_keyword_in(species: str, rule: SpeciesRule) -> str | None:
    """The first of the rule's keywords found as a whole word in ``species``, or None."""
    for keyword in rule.keywords:
        if keyword.strip() and _keyword_pattern(keyword.strip()).search(species):
            return keyword.strip()
    return None


def classify_species(species: str, rules: Sequence[SpeciesRule]) -> tuple[bool, tuple[SpeciesRule, ...], str]:
    """Decide whether a character is non-human, which species rules apply, and explain the decision.

    Non-human when the text says so ("NOT human", "non-human", "nonhuman", "not a human") or a matching
    rule is non-human. A plain "human" in the text wins over non-human rules (a "human with dragon wings"
    is a person): those rules are left out, and the reason names them. Anything else is treated as
    human-like, because most design prompts describe people.
    """
    text = species.strip()
    hits = [(rule, keyword) for rule in rules if (keyword := rule_keyword_in(text, rule)) is not None]
    found = "; ".join(f"rule '{rule.name}' (keyword '{keyword}')" for rule, keyword in hits)
    if _NEGATED_HUMAN.search(text):
        reason = f"species '{text}' says it is not human"
        return True, tuple(rule for rule, _ in hits), f"{reason}; matches {found}" if hits else reason
    if _HUMAN.search(text):
        kept = tuple(rule for rule, _ in hits if not rule.non_human)
        dropped = [rule.name for rule, _ in hits if rule.non_human]
        reason = f"species '{text}' says human"
        if dropped:
            reason += f"; non-human rules {', '.join(repr(name) for name in dropped)} are ignored"
        return False, kept, reason
    if hits:
        non_human = any(rule.non_human for rule, _ in hits)
        kind = "not human" if non_human else "human-like"
        return non_human, tuple(rule for rule, _ in hits), f"species '{text}' matches {found}; {kind}"
    if not text:
        return False, (), "no species given; treated as human-like — add a species to change this"
    return False, (), f"no species rule matches '{text}'; treated as human-like — add a species rule to change this"
