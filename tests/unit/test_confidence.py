"""The arithmetic of trust: Wilson lower bounds, confidence levels, cfg buckets, and the threshold the cascade
compares a recommendation's confidence with."""

from __future__ import annotations

import pytest

from services.autonomy.confidence import confidence_for, wilson_lower_bound
from services.autonomy.learning import cfg_bucket
from services.prompts.params import is_trusted


def test_the_lower_bound_prefers_eight_of_ten_to_three_of_three() -> None:
    assert wilson_lower_bound(8, 10) == pytest.approx(0.4902, abs=1e-4)
    assert wilson_lower_bound(3, 3) == pytest.approx(0.4385, abs=1e-4)
    assert wilson_lower_bound(8, 10) > wilson_lower_bound(3, 3)


def test_the_lower_bound_grows_with_evidence_and_stays_within_zero_and_the_rate() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(0, 5) == 0.0
    bounds = [wilson_lower_bound(n * 4 // 5, n) for n in (5, 10, 50, 500)]
    assert bounds == sorted(bounds)
    assert all(0 < bound < 0.8 for bound in bounds)
    assert wilson_lower_bound(400, 500) == pytest.approx(0.7627, abs=1e-4)


def test_confidence_levels_follow_the_number_of_reviews() -> None:
    assert [confidence_for(n) for n in (0, 9, 10, 24, 25, 1000)] == ["low", "low", "medium", "medium", "high", "high"]


def test_a_threshold_trusts_its_own_level_and_every_stronger_one() -> None:
    assert [is_trusted(level, "medium") for level in ("low", "medium", "high")] == [False, True, True]
    assert all(is_trusted(level, "low") for level in ("low", "medium", "high"))
    assert [is_trusted(level, "high") for level in ("low", "medium", "high")] == [False, False, True]


def test_cfg_rounds_to_the_nearest_half_with_halves_going_up() -> None:
    assert [cfg_bucket(v) for v in (5.0, 5.2, 5.25, 6.74, 6.75, 7.1)] == [5.0, 5.0, 5.5, 6.5, 7.0, 7.0]
    assert cfg_bucket(None) is None
