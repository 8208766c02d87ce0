"""Tags from the prompt a generated image was made with (its provenance), without what the prompt added that does
not describe the picture: the model profile's quality and style tags, LoRA calls, and the character's trigger word
(the caption writer puts that first itself)."""

from __future__ import annotations

from collections.abc import Sequence

from services.prompts import ModelProfile, match_profile
from services.tags.prompt_tags import profile_tags, tags_from_prompt
from services.tags.store import MachineTag
from studio.models import DatasetImage


def image_profile(image: DatasetImage, profiles: Sequence[ModelProfile]) -> ModelProfile | None:
    """The model profile a generated image was made with: the one its provenance names (as triage finds it), else
    the one its checkpoint matches; None for an image the studio did not generate."""
    provenance = image.provenance or {}
    name = provenance.get("profile")
    if isinstance(name, str):
        named = next((profile for profile in profiles if profile.name == name), None)
        if named is not None:
            return named
    checkpoint = provenance.get("checkpoint")
    if isinstance(checkpoint, str) and checkpoint and profiles:
        try:
            return match_profile(checkpoint, profiles)[0]
        except ValueError:  # no catch-all profile and no match: nothing to drop
            return None
    return None


def prompt_of(image: DatasetImage) -> str:
    """The positive prompt the image was generated with; "" for imported images."""
    positive = (image.provenance or {}).get("positive")
    return positive.strip() if isinstance(positive, str) else ""


def tags_from_image_prompt(
    image: DatasetImage, profiles: Sequence[ModelProfile], trigger_word: str = ""
) -> list[MachineTag] | None:
    """The image's prompt as tags (no confidence: the prompt asked for them, nothing measured them); None when
    the image has no prompt."""
    prompt = prompt_of(image)
    if not prompt:
        return None
    profile = image_profile(image, profiles)
    drop = [*(profile_tags(profile) if profile is not None else ()), *([trigger_word] if trigger_word else ())]
    return [MachineTag(tag) for tag in tags_from_prompt(prompt, drop)]
