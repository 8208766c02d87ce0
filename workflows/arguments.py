"""Argument checks the request dataclasses share; each raises ValueError naming the field and the fix."""

from __future__ import annotations

# ComfyUI seeds are unsigned 64-bit (KSampler, RandomNoise, FramePackSampler: 0 .. 2**64 - 1).
MAX_SEED = 2**64 - 1


def require_text(field: str, value: str) -> None:
    if not value.strip():
        raise ValueError(f"{field} must not be empty")


def require_range(field: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ValueError(f"{field} must be between {low} and {high}, got {value}")


def require_seed(value: int) -> None:
    require_range("seed", value, 0, MAX_SEED)


def require_multiple(field: str, value: int, step: int, minimum: int) -> None:
    """A size the latent grid needs in whole steps (e.g. width in multiples of 8)."""
    if value < minimum or value % step:
        raise ValueError(f"{field} must be a multiple of {step} and at least {minimum}, got {value}")


def require_frame_count(value: int, step: int, minimum: int) -> None:
    """Video VAEs compress time by `step`, so they need step*k + 1 frames."""
    if value < minimum or (value - 1) % step:
        raise ValueError(f"frames must be {step}*k + 1 and at least {minimum} (e.g. {step * 8 + 1}), got {value}")
