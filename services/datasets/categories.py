"""Rejection categories: why an image was turned down, the kiosk key that records it, and the negative
prompt terms it teaches the next generation of that character.

The earlier system kept these in a hard-coded map and lost manual reasons; here every decision stores
its categories, and a character's learned negatives are read back from its rejected images.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RejectionCategory:
    key: str  # the kiosk key, "1".."9"
    name: str
    label: str
    negatives: tuple[str, ...]


REJECTION_CATEGORIES: tuple[RejectionCategory, ...] = (
    RejectionCategory("1", "wrong_appearance", "Wrong appearance", ("off-model", "wrong outfit", "wrong colors")),
    RejectionCategory("2", "wrong_style", "Wrong style", ("3d render", "photorealistic", "western cartoon")),
    RejectionCategory("3", "bad_quality", "Bad quality", ("blurry", "lowres", "jpeg artifacts", "worst quality")),
    RejectionCategory("4", "not_solo", "Not solo", ("multiple characters", "2girls", "2boys", "crowd")),
    RejectionCategory("5", "wrong_pose", "Wrong pose", ("cropped", "out of frame", "awkward pose")),
    RejectionCategory("6", "wrong_expression", "Wrong expression", ("blank expression", "distorted face")),
    RejectionCategory("7", "wrong_species", "Wrong species", ("human", "human face", "humanoid")),
    RejectionCategory("8", "bad_anatomy", "Bad anatomy", ("bad anatomy", "extra limbs", "bad hands")),
    RejectionCategory("9", "other", "Other", ()),
)
# Set by the studio, never by a key: an image that repeats one already in the project.
DUPLICATE = "duplicate"

CATEGORY_BY_NAME = {category.name: category for category in REJECTION_CATEGORIES}
CATEGORY_BY_KEY = {category.key: category for category in REJECTION_CATEGORIES}
CATEGORY_NAMES = frozenset(CATEGORY_BY_NAME) | {DUPLICATE}


def negatives_for(categories: list[str] | tuple[str, ...]) -> list[str]:
    """The negative prompt terms the given categories teach, in category order, without repeats."""
    terms: list[str] = []
    for name in categories:
        category = CATEGORY_BY_NAME.get(name)
        for term in category.negatives if category else ():
            if term not in terms:
                terms.append(term)
    return terms
