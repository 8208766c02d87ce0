"""Explanations: one record per decision the prompt engine makes, so the studio can show *why*."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ExplanationPart = Literal["positive", "negative", "params", "profile", "species", "lora"]
ExplanationAction = Literal["added", "removed", "skipped", "chosen"]


@dataclass(frozen=True)
class Explanation:
    """One decision: which part of the plan it touched, what happened to which text, and the rule behind it."""

    part: ExplanationPart
    action: ExplanationAction
    text: str
    because: str
