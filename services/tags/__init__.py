"""Tags and captions: each image's tags per source, a person's edits with undo, and the training caption."""

from services.tags.captions import CaptionPreview, CaptionWriter, trigger_of
from services.tags.events import ImageTagged, TagsEdited, TagSettingsChanged
from services.tags.prompt_tags import clean_tag, normalise_tag, profile_tags, tags_from_prompt
from services.tags.store import (
    BulkEdit,
    BulkResult,
    EffectiveTag,
    ImageTags,
    MachineTag,
    TagCount,
    TagFrequencies,
    TagStore,
)

__all__ = [
    "BulkEdit",
    "BulkResult",
    "CaptionPreview",
    "CaptionWriter",
    "EffectiveTag",
    "ImageTagged",
    "ImageTags",
    "MachineTag",
    "TagCount",
    "TagFrequencies",
    "TagSettingsChanged",
    "TagStore",
    "TagsEdited",
    "clean_tag",
    "normalise_tag",
    "profile_tags",
    "tags_from_prompt",
    "trigger_of",
]
