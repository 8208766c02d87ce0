"""build_prompt: everything the studio would send for one character and style, and why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.prompts.explain import Explanation
from services.prompts.inputs import CharacterInput, LoraInput, StyleInput
from services.prompts.params import DEFAULT_MIN_CONFIDENCE, Confidence, GenerationParams, LearnedParams, resolve_params
from services.prompts.profiles import Architecture, ModelProfile, PromptFormat, match_profile
from services.prompts.species import SpeciesRule, classify_species
from services.prompts.tokens import split_tokens
from services.prompts.translate import Candidate, dedupe, negative_candidates, positive_candidates


@dataclass(frozen=True)
class PromptPlan:
    """The prompts, parameters and review hints for one generation, with the explanation of every decision."""

    positive: str
    negative: str
    profile: ModelProfile
    architecture: Architecture
    prompt_format: PromptFormat
    params: GenerationParams
    non_human: bool
    species_rules: tuple[SpeciesRule, ...]
    verification_questions: tuple[str, ...]
    ip_adapter_model: str | None
    explanations: tuple[Explanation, ...]
    # The character's registered LoRA when it fits the architecture (the generation loads it first).
    loras: tuple[LoraInput, ...] = ()

    def explained(self, part: str, action: str | None = None) -> tuple[Explanation, ...]:
        """The explanations of one part ("positive", "negative", ...), optionally of one action only."""
        return tuple(e for e in self.explanations if e.part == part and (action is None or e.action == action))


def build_prompt(
    character: CharacterInput,
    style: StyleInput,
    profiles: Sequence[ModelProfile],
    species_rules: Sequence[SpeciesRule],
    *,
    world_negative: str = "",
    pose: str = "",
    learned: LearnedParams | None = None,
    min_confidence: Confidence = DEFAULT_MIN_CONFIDENCE,
) -> PromptPlan:
    """Plan the prompts and parameters for ``character`` drawn in ``style``; pure, no I/O.

    The profile comes from the style's checkpoint (then the style's architecture/format overrides), the
    species rules decide non-human safeguards, and every token added, stripped or skipped is explained.
    The character's stored design prompt is only read, never changed.
    """
    explanations: list[Explanation] = []

    profile, profile_reason = match_profile(style.checkpoint_model, profiles)
    explanations.append(Explanation("profile", "chosen", profile.name, profile_reason))
    architecture: Architecture = profile.architecture
    prompt_format: PromptFormat = profile.prompt_format
    ip_adapter_model = profile.ip_adapter_model
    if style.model_architecture is not None and style.model_architecture != profile.architecture:
        architecture = style.model_architecture
        explanations.append(
            Explanation(
                "profile",
                "chosen",
                architecture,
                f"architecture overridden by style {style.name} (profile {profile.name} says {profile.architecture})",
            )
        )
        if ip_adapter_model is not None:
            # The profile's IP-Adapter was chosen for its own architecture and would not load on the other.
            explanations.append(
                Explanation(
                    "profile",
                    "skipped",
                    ip_adapter_model,
                    f"IP-Adapter of profile {profile.name} is for {profile.architecture}, "
                    f"but style {style.name} overrides the architecture to {architecture}",
                )
            )
            ip_adapter_model = None
    if style.prompt_format is not None and style.prompt_format != profile.prompt_format:
        prompt_format = style.prompt_format
        explanations.append(
            Explanation(
                "profile",
                "chosen",
                prompt_format,
                f"prompt format overridden by style {style.name} (profile {profile.name} says {profile.prompt_format})",
            )
        )

    lora = _fitting_lora(character.lora, architecture, style.name, explanations)

    species = character.appearance.species
    non_human, rules, species_reason = classify_species(species, species_rules)
    explanations.append(Explanation("species", "chosen", "not human" if non_human else "human-like", species_reason))
    explanations.extend(
        Explanation("species", "chosen", rule.name, f"species rule matching '{species}'") for rule in rules
    )

    positive_tokens, stripped = positive_candidates(character, style, profile, prompt_format, non_human, pose)
    explanations.extend(stripped)
    if lora is not None:
        # First, where the LoRA was trained to find it (kohya keeps the first caption tokens in place).
        because = f"trigger word of the {lora.because}"
        positive_tokens[:0] = [Candidate(token, because) for token in split_tokens(lora.trigger_word)]
    positive, positive_explanations = dedupe(positive_tokens, "positive")
    explanations.extend(positive_explanations)

    negative_tokens, negative_notes = negative_candidates(character, style, profile, non_human, rules, world_negative)
    explanations.extend(negative_notes)
    negative, negative_explanations = dedupe(negative_tokens, "negative")
    explanations.extend(negative_explanations)

    params, param_explanations = resolve_params(style, profile, learned, min_confidence)
    explanations.extend(param_explanations)

    return PromptPlan(
        positive=positive,
        negative=negative,
        profile=profile,
        architecture=architecture,
        prompt_format=prompt_format,
        params=params,
        non_human=non_human,
        species_rules=rules,
        verification_questions=tuple(q for rule in rules if (q := rule.verification_question.strip())),
        ip_adapter_model=ip_adapter_model,
        explanations=tuple(explanations),
        loras=(lora,) if lora is not None else (),
    )


def _fitting_lora(
    lora: LoraInput | None, architecture: Architecture, style_name: str, explanations: list[Explanation]
) -> LoraInput | None:
    """The LoRA when it can load on `architecture` (an SD 1.5 LoRA cannot load on SDXL, nor the reverse)."""
    if lora is None:
        return None
    if lora.family != architecture:
        because = f"{lora.because} is an {lora.family} LoRA; style {style_name} draws with {architecture}"
        explanations.append(Explanation("lora", "skipped", lora.file_name, because))
        return None
    explanations.append(Explanation("lora", "chosen", lora.file_name, f"{lora.because}, weight {lora.weight:g}"))
    return lora
