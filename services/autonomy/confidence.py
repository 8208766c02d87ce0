"""How much a review history can be trusted: the Wilson lower bound of an approval rate and the confidence level
a sample size earns. Pure arithmetic, shared by learning, drift and (later) analytics.

Ranking by the raw approval rate lets three lucky approvals beat eight of ten; the lower bound of the rate's 95%
interval rewards both a high rate and enough reviews to believe it.
"""

from __future__ import annotations

import math

from services.prompts.params import Confidence

# z for a two-sided 95% interval.
Z_95 = 1.959963984540054

# Reviewed images needed for each level (the earlier system's model selector: under 10 low, under 25 medium).
MEDIUM_FROM = 10
HIGH_FROM = 25


def wilson_lower_bound(approved: int, total: int, z: float = Z_95) -> float:
    """The lower end of the Wilson score interval of approved/total; 0 without reviews."""
    if total <= 0:
        return 0.0
    rate = approved / total
    spread = z * z / total
    centre = rate + spread / 2
    margin = z * math.sqrt(rate * (1 - rate) / total + spread / (4 * total))
    return max(0.0, (centre - margin) / (1 + spread))


def confidence_for(reviewed: int) -> Confidence:
    """The confidence level `reviewed` decisions earn: low under 10, medium under 25, high from 25."""
    if reviewed < MEDIUM_FROM:
        return "low"
    return "medium" if reviewed < HIGH_FROM else "high"
