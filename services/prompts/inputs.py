"""What the prompt engine reads: a character's design and appearance, and the generation style."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from services.prompts.profiles import ARCHITECTURES, PROMPT_FORMATS, Architecture, PromptFormat
from services.prompts.tokens import split_tokens

Gender = Literal["male", "female", "other", ""]

# Words people type into the gender field; anything else non-empty is "other".
_MALE = frozenset({"male", "man", "boy", "m", "masculine", "1boy", "1man", "1male"})
_FEMALE = frozenset({"female", "woman", "girl", "f", "feminine", "1girl", "1woman", "1female"})


def _gender(value: Any) -> Gender:
    text = str(value or "").strip().lower()
    if not text:
        return ""
    if text in _MALE:
        return "male"
    if text in _FEMALE:
        return "female"
    return "other"


def _texts(value: Any) -> tuple[str, ...]:
    # appearance_data is hand-edited or LLM-written JSON: accept a list or one comma-separated string.
    if isinstance(value, str):
        return tuple(split_tokens(value))
    if isinstance(value, list | tuple):
        return tuple(text for item in value if isinstance(item, str | int | float) and (text := str(item).strip()))
    return ()


def _colors(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        return MappingProxyType({})
    pairs = ((str(part).strip(), str(color).strip()) for part, color in value.items() if color is not None)
    return MappingProxyType({part: color for part, color in pairs if part and color})


@dataclass(frozen=True)
class Appearance:
    """The structured part of a character (``Character.appearance_data``) that drives prompts and review."""

    species: str = ""
    gender: Gender = ""
    body_type: str = ""
    key_colors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    key_features: tuple[str, ...] = ()
    common_errors: tuple[str, ...] = ()
    negatives: tuple[str, ...] = ()
    voice: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> Appearance:
        """Parse ``appearance_data`` leniently: missing keys are empty, wrong types are ignored, not fatal."""
        if not isinstance(data, Mapping):
            return cls()
        return cls(
            species=str(data.get("species") or "").strip(),
            gender=_gender(data.get("gender")),
            body_type=str(data.get("body_type") or "").strip(),
            key_colors=_colors(data.get("key_colors")),
            key_features=_texts(data.get("key_features")),
            common_errors=_texts(data.get("common_errors")),
            negatives=_texts(data.get("negatives")),
            voice=str(data.get("voice") or "").strip(),
        )


@dataclass(frozen=True)
class LoraInput:
    """A character's registered LoRA as the prompt engine sees it; `because` names it for the explanations
    ("registered LoRA of Koopa, epoch 8")."""

    file_name: str
    family: Architecture
    weight: float
    trigger_word: str
    because: str


@dataclass(frozen=True)
class CharacterInput:
    """A character as the prompt engine sees it."""

    name: str
    design_prompt: str
    appearance: Appearance
    lora: LoraInput | None = None

    @classmethod
    def from_record(cls, record: Any, lora: LoraInput | None = None) -> CharacterInput:
        """Build from anything shaped like ``studio.models.Character`` (name, design_prompt, appearance_data)."""
        return cls(
            name=str(record.name),
            design_prompt=str(record.design_prompt or ""),
            appearance=Appearance.from_data(record.appearance_data),
            lora=lora,
        )


@dataclass(frozen=True)
class StyleInput:
    """A generation style: checkpoint, optional parameters (None = let the profile decide) and templates."""

    name: str
    checkpoint_model: str
    cfg_scale: float | None
    steps: int | None
    sampler: str | None
    scheduler: str | None
    width: int
    height: int
    positive_template: str = ""
    negative_template: str = ""
    model_architecture: Architecture | None = None
    prompt_format: PromptFormat | None = None

    def __post_init__(self) -> None:
        if self.model_architecture is not None and self.model_architecture not in ARCHITECTURES:
            raise ValueError(f"style {self.name}: model_architecture must be one of {ARCHITECTURES} or None")
        if self.prompt_format is not None and self.prompt_format not in PROMPT_FORMATS:
            raise ValueError(f"style {self.name}: prompt_format must be one of {PROMPT_FORMATS} or None")

    @classmethod
    def from_record(cls, record: Any) -> StyleInput:
        """Build from anything shaped like ``studio.models.GenerationStyle``; empty overrides mean "no override"."""
        return cls(
            name=str(record.name),
            checkpoint_model=str(record.checkpoint_model or ""),
            cfg_scale=record.cfg_scale,
            steps=record.steps,
            sampler=record.sampler or None,
            scheduler=record.scheduler or None,
            width=int(record.width),
            height=int(record.height),
            positive_template=str(record.positive_prompt_template or ""),
            negative_template=str(record.negative_prompt_template or ""),
            model_architecture=record.model_architecture or None,
            prompt_format=record.prompt_format or None,
        )
