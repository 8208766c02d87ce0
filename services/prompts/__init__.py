"""The prompt engine: model-aware, species-aware prompts and parameters, every decision explained.

Pure functions over data (model profiles and species rules are rows users edit), so the studio can show
exactly what it would send to ComfyUI and why, before sending anything.
"""

from services.prompts.explain import Explanation
from services.prompts.inputs import Appearance, CharacterInput, LoraInput, StyleInput
from services.prompts.params import GenerationParams, LearnedParams
from services.prompts.plan import PromptPlan, build_prompt
from services.prompts.profiles import (
    BUILTIN_PROFILES,
    Architecture,
    ModelProfile,
    PredictionType,
    PromptFormat,
    match_profile,
    validate_size,
)
from services.prompts.samplers import COMFY_NAMES, SAMPLERS, SamplerNames, comfy_sampler, sampler_problems
from services.prompts.species import BUILTIN_SPECIES_RULES, NON_HUMAN_NEGATIVES, SpeciesRule, classify_species

__all__ = [
    "BUILTIN_PROFILES",
    "BUILTIN_SPECIES_RULES",
    "COMFY_NAMES",
    "NON_HUMAN_NEGATIVES",
    "SAMPLERS",
    "Appearance",
    "Architecture",
    "CharacterInput",
    "Explanation",
    "GenerationParams",
    "LearnedParams",
    "LoraInput",
    "ModelProfile",
    "PredictionType",
    "PromptFormat",
    "PromptPlan",
    "SamplerNames",
    "SpeciesRule",
    "StyleInput",
    "build_prompt",
    "classify_species",
    "comfy_sampler",
    "match_profile",
    "sampler_problems",
    "validate_size",
]
