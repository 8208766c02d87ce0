"""Translate a character into positive and negative prompts for one model profile, explaining every token."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.prompts.explain import Explanation, ExplanationPart
from services.prompts.inputs import Appearance, CharacterInput, Gender, StyleInput
from services.prompts.profiles import ModelProfile, PromptFormat
from services.prompts.species import NON_HUMAN_NEGATIVES, SpeciesRule
from services.prompts.tokens import split_tokens, to_tag, token_key

# Words left dangling when a style phrase is cut out of a fragment ("in arcane style" -> "in").
_FILLER_WORDS = frozenset({"a", "an", "and", "art", "at", "by", "in", "of", "on", "the", "with", "style"})
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Candidate:
    """A token about to enter a prompt, with the rule that put it there."""

    text: str
    because: str


def _candidates(text: str, because: str) -> list[Candidate]:
    return [Candidate(token, because) for token in split_tokens(text)]


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    body = r"\s+".join(re.escape(word) for word in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


def _trim_filler(words: list[str]) -> tuple[list[str], list[str]]:
    removed: list[str] = []
    while words and words[0].lower() in _FILLER_WORDS:
        removed.append(words.pop(0))
    while words and words[-1].lower() in _FILLER_WORDS:
        removed.append(words.pop())
    return words, removed


def strip_style_tags(design_prompt: str, phrases: Sequence[str], profile_name: str) -> tuple[str, list[Explanation]]:
    """Remove the profile's style phrases from a design prompt (case-insensitive, whole words).

    Longer phrases go first so "arcane style" is removed whole rather than leaving "style". Words left
    dangling at the edges of a fragment ("in", "the") go too, and fragments left empty disappear.
    Returns the stripped text (the stored design prompt itself is never changed) and one explanation per removal.
    """
    because = f"style tag stripped for booru-tag models (profile {profile_name})"
    ordered = sorted({phrase.strip() for phrase in phrases if phrase.strip()}, key=lambda p: (-len(p), p.lower()))
    patterns = [_phrase_pattern(phrase) for phrase in ordered]
    explanations: list[Explanation] = []
    kept: list[str] = []
    for fragment in split_tokens(design_prompt):
        stripped = fragment
        for pattern in patterns:
            for found in pattern.finditer(stripped):
                explanations.append(Explanation("positive", "removed", found.group(0), because))
            stripped = pattern.sub(" ", stripped)
        if stripped == fragment:
            kept.append(fragment)
            continue
        words, leftovers = _trim_filler(_SPACES.sub(" ", stripped).split())
        explanations.extend(
            Explanation("positive", "removed", word, "leftover word around a stripped style tag") for word in leftovers
        )
        if words:
            kept.append(" ".join(words))
    return ", ".join(kept), explanations


def appearance_candidates(appearance: Appearance, prompt_format: PromptFormat) -> list[Candidate]:
    """Key colours, key features and body type as prose phrases or booru tags."""

    def spell(text: str) -> str:
        return to_tag(text) if prompt_format == "booru_tags" else _SPACES.sub(" ", text.strip())

    candidates = [
        Candidate(spell(f"{color} {part}"), f"key colour of {part} in the appearance data")
        for part, color in appearance.key_colors.items()
    ]
    candidates += [
        Candidate(spell(feature), "key feature in the appearance data")
        for feature in appearance.key_features
        if feature.strip()
    ]
    if appearance.body_type:
        candidates.append(Candidate(spell(appearance.body_type), "body type in the appearance data"))
    return candidates


# Gender tokens a design prompt may already carry (the earlier system's "1man," convention).
_FEMALE_TOKENS = frozenset({"1girl", "1woman", "1female"})
_MALE_TOKENS = frozenset({"1boy", "1man", "1male"})


def _prompt_gender(design_prompt: str) -> Gender:
    keys = {token_key(token) for token in split_tokens(design_prompt)}
    if keys & _FEMALE_TOKENS:
        return "female"
    if keys & _MALE_TOKENS:
        return "male"
    return ""


def solo_candidates(
    profile: ModelProfile,
    prompt_format: PromptFormat,
    appearance: Appearance,
    design_prompt: str,
    non_human: bool,
) -> list[Candidate]:
    """The profile's solo suffix; booru models also get the tag that says who is in the picture.

    Booru models count subjects by tags: ``1girl``/``1boy`` for people, ``no_humans`` for creatures
    (a creature tagged ``1girl`` becomes a girl).
    """
    candidates = _candidates(profile.solo_suffix, f"solo suffix of profile {profile.name}")
    if prompt_format != "booru_tags":
        return candidates
    if non_human:
        return [*candidates, Candidate("no_humans", "booru-tag subject tag: the character is not human")]
    gender = appearance.gender
    because = f"booru-tag subject tag: appearance gender is {gender}"
    if not gender:
        gender = _prompt_gender(design_prompt)
        because = f"booru-tag subject tag: the design prompt says {gender}"
    if gender == "female":
        return [*candidates, Candidate("1girl", because)]
    if gender == "male":
        return [*candidates, Candidate("1boy", because)]
    return candidates


def dedupe(candidates: Iterable[Candidate], part: ExplanationPart) -> tuple[str, list[Explanation]]:
    """Join candidates with ", ", keeping the first of case-insensitive duplicates and explaining each token."""
    first_by_key: dict[str, Candidate] = {}
    kept: list[str] = []
    explanations: list[Explanation] = []
    for candidate in candidates:
        key = token_key(candidate.text)
        if not key:
            continue
        earlier = first_by_key.get(key)
        if earlier is not None:
            because = f"duplicate of an earlier token '{earlier.text}' ({earlier.because})"
            explanations.append(Explanation(part, "skipped", candidate.text, because))
            continue
        first_by_key[key] = candidate
        kept.append(candidate.text)
        explanations.append(Explanation(part, "added", candidate.text, candidate.because))
    return ", ".join(kept), explanations


def positive_candidates(
    character: CharacterInput,
    style: StyleInput,
    profile: ModelProfile,
    prompt_format: PromptFormat,
    non_human: bool,
    pose: str,
) -> tuple[list[Candidate], list[Explanation]]:
    """Positive tokens in order: quality prefix, style template, design prompt, appearance, pose, solo, background."""
    explanations: list[Explanation] = []
    design = character.design_prompt
    if prompt_format == "booru_tags" and profile.strip_style_tags:
        design, explanations = strip_style_tags(design, profile.strip_style_tags, profile.name)
    candidates = [
        *_candidates(profile.quality_prefix, f"quality prefix of profile {profile.name}"),
        *_candidates(style.positive_template, f"positive template of style {style.name}"),
        *_candidates(design, f"design prompt of {character.name}"),
        *appearance_candidates(character.appearance, prompt_format),
        *_candidates(pose, "pose for this image"),
        *solo_candidates(profile, prompt_format, character.appearance, character.design_prompt, non_human),
        *_candidates(profile.background_suffix, f"background suffix of profile {profile.name}"),
    ]
    return candidates, explanations


def negative_candidates(
    character: CharacterInput,
    style: StyleInput,
    profile: ModelProfile,
    non_human: bool,
    species_rules: Sequence[SpeciesRule],
    world_negative: str,
) -> tuple[list[Candidate], list[Explanation]]:
    """Negative tokens in order: style template or profile negative, world, character, non-human, species rules.

    A style's negative template replaces the profile's quality negative (the user wrote the full list for
    that style); the skipped profile negative is explained so it can be copied in if wanted.
    """
    explanations: list[Explanation] = []
    if style.negative_template.strip():
        candidates = _candidates(style.negative_template, f"negative template of style {style.name}")
        if profile.quality_negative.strip():
            explanations.append(
                Explanation(
                    "negative",
                    "skipped",
                    profile.quality_negative,
                    f"quality negative of profile {profile.name} is replaced by the negative template of "
                    f"style {style.name}",
                )
            )
    else:
        candidates = _candidates(
            profile.quality_negative,
            f"quality negative of profile {profile.name} (style {style.name} has no negative template)",
        )
    candidates += _candidates(world_negative, "negative guidance of the world settings")
    candidates += [
        candidate
        for negative in character.appearance.negatives
        for candidate in _candidates(negative, f"negative typed for {character.name}")
    ]
    if non_human:
        species = character.appearance.species
        candidates += [Candidate(term, f"species '{species}' is not human") for term in NON_HUMAN_NEGATIVES]
    for rule in species_rules:
        candidates += [
            candidate
            for negative in rule.negatives
            for candidate in _candidates(negative, f"species rule '{rule.name}'")
        ]
    return candidates, explanations
