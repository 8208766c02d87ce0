"""Plain-words messages for what a form sent and a service or schema refused, naming fields as forms label them."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from services.errors import Invalid, StudioError

# How the schemas' field names read in a sentence.
LABELS: Mapping[str, str] = {
    "story_arcs": "story arc",
    "humor_style": "humor style",
    "style_preamble": "style preamble",
    "art_style": "art style",
    "color_palette": "colour palette",
    "world_location": "world location",
    "time_period": "time period",
    "production_notes": "production notes",
    "known_issues": "known issues",
    "negative_prompt_guidance": "negative prompt guidance",
    "checkpoint_model": "checkpoint",
    "cfg_scale": "CFG scale",
    "positive_prompt_template": "positive template",
    "negative_prompt_template": "negative template",
    "model_architecture": "architecture override",
    "prompt_format": "prompt format",
    "strip_style_tags": "strip style tags",
    "quality_prefix": "quality prefix",
    "quality_negative": "quality negative",
    "solo_suffix": "solo suffix",
    "background_suffix": "background suffix",
    "ip_adapter_model": "IP-Adapter model",
    "vision_hint": "vision hint",
    "style_label": "style label",
    "default_cfg": "default CFG",
    "default_steps": "default steps",
    "default_sampler": "default sampler",
    "default_scheduler": "default scheduler",
    "prediction_type": "prediction type",
    "rescale_cfg": "rescale CFG",
    "min_side": "smallest side",
    "max_side": "largest side",
    "threshold_offset": "threshold offset",
    "non_human": "non-human",
    "verification_question": "verification question",
    "look_for": "look for",
    "wrong_if": "wrong if",
    "frame_width": "frame width",
    "frame_height": "frame height",
    "frame_rate": "frames per second",
    "content_rating": "rating",
    "default_style": "default style",
    "design_prompt": "design prompt",
    "body_type": "body type",
    "key_colors": "key colours",
    "key_features": "key features",
    "common_errors": "common errors",
    "reference_image": "reference image",
}

# Nesting that a form shows flat (the appearance fields sit beside the name in the editor).
FLATTENED = frozenset({"appearance_data", "[key]"})


def _where(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"{part + 1}")
        elif part not in FLATTENED:
            parts.append(LABELS.get(part, part.replace("_", " ")))
    return " ".join(parts) or "value"


def _message(problem: Mapping) -> str:
    kind, ctx = problem.get("type"), problem.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "needs at least one entry"
    if kind == "string_pattern_mismatch":
        return "use letters, digits, spaces, '.', '-' or '_' (starting with a letter or digit)"
    message = str(problem.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


def explain(exc: ValidationError | StudioError | ValueError) -> str:
    """One line per problem, each naming the field the way the form labels it."""
    if isinstance(exc, ValidationError):
        lines = [f"{_where(p['loc']).capitalize()}: {_message(p)}" for p in exc.errors()[:6]]
        return "\n".join(lines)
    if isinstance(exc, Invalid):
        label = _where(tuple(exc.field.split(".")))
        if exc.message.lower().startswith(label.lower()):
            return exc.message[0].upper() + exc.message[1:]
        return f"{label.capitalize()}: {exc.message}"
    message = str(exc)
    return message[:1].upper() + message[1:]
