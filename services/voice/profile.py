"""A character's voice: which engine speaks its lines and how, stored in `Character.voice_profile`.

`{}` in the column means every default: the bundled Piper voice at normal speed. Only the fields that
differ from the defaults are stored, so a profile saved today keeps meaning the same thing.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

VoiceEngine = Literal["piper", "espeak", "http"]
ENGINES: tuple[VoiceEngine, ...] = ("piper", "espeak", "http")

# espeak-ng names languages like BCP 47 tags ("en-us", "en-gb-x-rp", "cmn-latn-pinyin"): letters, digits and
# dashes, never starting with a dash, so a voice can never be read as a command-line option.
_ESPEAK_VOICE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,4}")
# Variant file names (`espeak-ng --voices=variant`): m1..m8, f1..f5, klatt, Alex, RicishayMax2, AnxiousAndy...
_VARIANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
# Languages as GPT-SoVITS (en, ja, all_ja, auto, yue) and XTTS (en, zh-cn, pt) name them.
_LANGUAGE = re.compile(r"[a-z]{2,4}([_-][a-z0-9]{1,8}){0,2}")
_FIELDS: dict[VoiceEngine, tuple[str, ...]] = {
    "piper": ("length_scale", "noise_scale", "noise_w_scale"),
    "espeak": ("espeak_voice", "variant", "pitch", "speed"),
    "http": ("sample_id", "reference_sample", "reference_text", "language"),
}


class VoiceProfile(BaseModel):
    """How a character sounds. Only the fields of the chosen engine are used."""

    # `validate_default`: the http engine's missing sample is an error even when the field is left out.
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    engine: VoiceEngine = Field(
        "piper",
        description="piper: the bundled neural US English voice; espeak: espeak-ng (robotic, many languages); "
        "http: a voice-cloning server (GPT-SoVITS or XTTS) at STUDIO_VOICE_SERVICE_URL.",
    )
    # --- piper ---
    length_scale: float = Field(
        1.0, ge=0.5, le=2.0, description="Piper's speed as a length factor: 1 is normal, 2 twice as slow, 0.5 fast."
    )
    noise_scale: float | None = Field(
        None, ge=0.0, le=1.5, description="Piper's voice variability (unset: the voice's own, 0.667)."
    )
    noise_w_scale: float | None = Field(
        None, ge=0.0, le=1.5, description="Piper's rhythm variability (unset: the voice's own, 0.8)."
    )
    # --- espeak ---
    espeak_voice: str = Field("en-us", max_length=40, description="espeak-ng language voice, e.g. en-us, en-gb, ja.")
    variant: str | None = Field(
        None, max_length=32, description="espeak-ng variant, e.g. m3, f2, klatt (unset: the plain voice)."
    )
    pitch: int = Field(50, ge=0, le=99, description="espeak-ng pitch, 0-99.")
    speed: int = Field(175, ge=80, le=450, description="espeak-ng speed in words per minute.")
    # --- http ---
    # Before `reference_sample`: its check reads this one.
    sample_id: int | None = Field(
        None,
        ge=1,
        description="The approved voice sample (a segment on the Voices page) the reference comes from; then "
        "`reference_sample` is its WAV relative to the data folder and the studio keeps both up to date. Unset: "
        "`reference_sample` is a path or speaker name typed by hand.",
    )
    reference_chosen: bool = Field(
        False,
        description="A person chose `sample_id` as the reference; otherwise the studio keeps the best approved "
        "3-10 s sample as the reference.",
    )
    reference_sample: str | None = Field(
        None,
        max_length=500,
        description="The reference audio the voice server clones, as the server names it: a path on the "
        "GPT-SoVITS machine, or an XTTS speaker name or path.",
    )
    reference_text: str = Field("", max_length=1000, description="What is said in the reference audio (GPT-SoVITS).")
    language: str = Field("en", max_length=20, description="Language of the lines: en, ja, zh, ... (or auto).")

    @field_validator("espeak_voice")
    @classmethod
    def _espeak_voice(cls, value: str) -> str:
        value = value.strip()
        if not _ESPEAK_VOICE.fullmatch(value):
            raise ValueError("an espeak-ng language looks like en-us, en-gb or ja (letters, digits and dashes)")
        return value

    @field_validator("variant")
    @classmethod
    def _variant(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not _VARIANT.fullmatch(value):
            raise ValueError("an espeak-ng variant is a name like m3, f2 or klatt (letters, digits, _ and -)")
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()
        if not _LANGUAGE.fullmatch(value):
            raise ValueError("a language is a code like en, ja, zh-cn or auto")
        return value

    @field_validator("reference_text")
    @classmethod
    def _reference_text(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("reference_sample", mode="after")
    @classmethod
    def _reference_sample(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        if value is not None and any(not ch.isprintable() for ch in value):
            raise ValueError("the reference sample's name has control characters")
        if value is None and info.data.get("engine") == "http" and info.data.get("sample_id") is None:
            raise ValueError(
                "the http engine needs a reference sample: the path (or XTTS speaker name) of the audio to "
                "clone, as the voice server knows it"
            )
        return value

    def synthesis_settings(self) -> dict[str, Any]:
        """The fields that change how this profile's engine sounds (what the line cache is keyed on)."""
        return {name: getattr(self, name) for name in _FIELDS[self.engine]}

    def stored(self) -> dict[str, Any]:
        """What goes in `Character.voice_profile`: the fields that differ from the defaults."""
        return self.model_dump(mode="json", exclude_defaults=True)


DEFAULT_PROFILE = VoiceProfile()
