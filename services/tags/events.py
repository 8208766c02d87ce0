"""Tag events: an image was tagged by a machine source, a person edited tags (or undid an edit), the trigger
word or a blacklist changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from studio.events import StudioEvent


@dataclass(frozen=True, kw_only=True)
class ImageTagged(StudioEvent):
    """A machine source (re)tagged one image. Not audited: the tagging job that ran it is."""

    name: ClassVar[str] = "image.tagged"
    audited: ClassVar[bool] = False
    image_id: int
    project_id: int
    character_id: int | None
    source: str


@dataclass(frozen=True, kw_only=True)
class TagsEdited(StudioEvent):
    """A person changed tags: one bulk edit, the tags of one image, or the undo of either."""

    name: ClassVar[str] = "tags.edited"
    project_id: int
    character_id: int | None
    operation: str  # add, remove, replace, rename, put
    tag: str
    new_tag: str | None
    images_changed: int
    undo_token: str
    undo: bool = False

    def subject(self) -> tuple[str | None, str | None]:
        return "character", str(self.character_id) if self.character_id is not None else None

    def summary(self) -> str:
        what = {
            "add": f"added tag '{self.tag}' to",
            "remove": f"removed tag '{self.tag}' from",
            "replace": f"replaced tag '{self.tag}' with '{self.new_tag}' on",
            "rename": f"renamed tag '{self.tag}' to '{self.new_tag}' on",
            "put": "edited the tags of",
        }.get(self.operation, f"{self.operation} '{self.tag}' on")
        images = f"{self.images_changed} image(s)"
        if self.undo:
            return f"{self.actor} undid: {what} {images}"
        return f"{self.actor} {what} {images}"


@dataclass(frozen=True, kw_only=True)
class TagSettingsChanged(StudioEvent):
    """A character's trigger word or blacklist, or a project's blacklist, changed."""

    name: ClassVar[str] = "tags.settings_changed"
    project_id: int
    character_id: int | None
    setting: str  # trigger_word, tag_blacklist
    value: str

    def subject(self) -> tuple[str | None, str | None]:
        if self.character_id is not None:
            return "character", str(self.character_id)
        return "project", str(self.project_id)

    def summary(self) -> str:
        whose = f"character {self.character_id}" if self.character_id is not None else f"project {self.project_id}"
        label = "trigger word" if self.setting == "trigger_word" else "tag blacklist"
        return (
            f"{self.actor} set the {label} of {whose} to '{self.value}'"
            if self.value
            else (f"{self.actor} cleared the {label} of {whose}")
        )
