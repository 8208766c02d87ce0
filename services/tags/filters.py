"""SQL conditions on images by their tags, for the dataset grid's filters (services.datasets.browse)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from services.tags.prompt_tags import clean_tag
from studio.models import DatasetImage, ImageTag

_TAGS = ImageTag.__table__  # type: ignore[attr-defined]
_IMAGES = DatasetImage.__table__  # type: ignore[attr-defined]


def has_tag(tag: str) -> Any:
    """The image shows `tag` (normalised here). Invalid: not a tag."""
    return sa.exists().where(
        _TAGS.c.image_id == _IMAGES.c.id, _TAGS.c.tag == clean_tag(tag, "tag"), _TAGS.c.removed.is_(False)
    )


def has_no_caption() -> Any:
    """No tag shows and there is no caption text: a training export would have nothing to say about the image."""
    live = sa.exists().where(_TAGS.c.image_id == _IMAGES.c.id, _TAGS.c.removed.is_(False))
    return sa.and_(_IMAGES.c.caption == "", sa.not_(live))
