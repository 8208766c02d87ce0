"""The caption each image gets in a training set, written the way kohya's trainers read `.txt` captions.

Trigger word first (kohya's `keep_tokens` keeps it there), then the tags: character tags before general ones,
each group by confidence (a person's tag counts as 1.0), rating tags and blacklisted tags left out, no
duplicates. For a model profile whose prompt format is prose, an image with a prose caption gets
"<trigger>, <caption>" instead. Never empty: ComfyUI's folder loader trips over an empty caption, so an image
with nothing else gets the trigger word or the character's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from services.errors import NotFound
from services.prompts import ModelProfile, match_profile
from services.tags.prompt_tags import normalise_tag
from services.tags.store import CHUNK, EffectiveTag, TagStore
from services.tags.taggers.prompt import image_profile
from studio.db import Database
from studio.models import Character, DatasetImage, GenerationStyle, Project, TagCategory

DEFAULT_FORMAT = "booru_tags"

_IMAGES = DatasetImage.__table__  # type: ignore[attr-defined]
_CHARACTERS = Character.__table__  # type: ignore[attr-defined]
_PROJECTS = Project.__table__  # type: ignore[attr-defined]
_STYLES = GenerationStyle.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CaptionPreview:
    text: str
    prompt_format: str
    dropped: list[str] = field(default_factory=list)  # tags the blacklist kept out
    profile: str = ""  # the model profile that decided the format, when one did


class CaptionWriter:
    def __init__(self, db: Database, tags: TagStore, profiles: Callable[[], Awaitable[list[ModelProfile]]]) -> None:
        self._db = db
        self._tags = tags
        self._profiles = profiles

    async def preview(self, image_id: int) -> CaptionPreview:
        """The exact caption the image's training file will hold, and why. NotFound: no such image."""
        written = await self._write([image_id])
        if image_id not in written:
            raise NotFound(f"image {image_id} does not exist")
        return written[image_id]

    async def captions(self, image_ids: Sequence[int]) -> dict[int, str]:
        """Captions of many images in a fixed number of queries (the training export calls this); images that
        do not exist are left out."""
        return {image_id: preview.text for image_id, preview in (await self._write(image_ids)).items()}

    async def _write(self, image_ids: Sequence[int]) -> dict[int, CaptionPreview]:
        ids = list(dict.fromkeys(image_ids))
        async with self._db.session() as session:
            images = await _rows(session, _IMAGES, _IMAGES.c.id, ids)
            characters = await _rows(
                session, _CHARACTERS, _CHARACTERS.c.id, {i.character_id for i in images.values() if i.character_id}
            )
            projects = await _rows(session, _PROJECTS, _PROJECTS.c.id, {i.project_id for i in images.values()})
            style_names = {p.default_style for p in projects.values() if p.default_style} | {
                i.provenance.get("style") for i in images.values() if isinstance(i.provenance.get("style"), str)
            }
            styles = await _rows(session, _STYLES, _STYLES.c.name, style_names)
        profiles = await self._profiles() if images else []
        tags = await self._tags.tags_of_many(list(images))

        def write_all() -> dict[int, CaptionPreview]:
            written: dict[int, CaptionPreview] = {}
            for image_id, image in images.items():
                character = characters.get(image.character_id)
                project = projects[image.project_id]
                prompt_format, profile = _format_of(image, project, styles, profiles)
                tagged = tags.get(image_id, [])
                written[image_id] = _caption(image, character, project, tagged, prompt_format, profile)
            return written

        # A training set's thousand captions take about half a second of Python: not on the event loop.
        return await asyncio.to_thread(write_all)


async def _rows(session: Any, table: sa.Table, key: sa.Column[Any], values: Any) -> dict[Any, Any]:
    wanted = [v for v in values if v is not None]
    found: dict[Any, Any] = {}
    for start in range(0, len(wanted), CHUNK):
        query = sa.select(table).where(key.in_(wanted[start : start + CHUNK]))
        for row in (await session.exec(query)).all():
            found[row._mapping[key.name]] = row
    return found


def _format_of(image: Any, project: Any, styles: dict[str, Any], profiles: list[ModelProfile]) -> tuple[str, str]:
    """(prompt format, profile name): the profile the image was generated with (its provenance names it, or its
    checkpoint), else its style's, else the project's default style's, else the catch-all; a style's own
    prompt format overrides the profile's, as it does when prompts are built."""
    provenance = image.provenance or {}
    style = styles.get(provenance["style"]) if isinstance(provenance.get("style"), str) else None
    profile = image_profile(image, profiles)
    if profile is None and style is None and project.default_style:
        style = styles.get(project.default_style)
    if profile is None:
        try:
            profile = match_profile(style.checkpoint_model if style is not None else "", profiles)[0]
        except ValueError:  # no catch-all profile: the default format, said by an empty profile name
            profile = None
    override = style.prompt_format if style is not None else None
    if profile is None:
        return override or DEFAULT_FORMAT, ""
    return override or profile.prompt_format, profile.name


def trigger_of(character: Any) -> str:
    """The word a character's captions start with and its LoRA learns: its pinned trigger word, else its slug (a
    training set's folder is named by it too, so captions and folder always agree)."""
    return character.trigger_word.strip() or character.slug


def _caption(
    image: Any, character: Any, project: Any, tags: list[EffectiveTag], prompt_format: str, profile: str
) -> CaptionPreview:
    trigger = trigger_of(character) if character is not None else ""
    own = character.tag_blacklist if character is not None else []
    blacklist = {normalise_tag(t) for t in [*(project.tag_blacklist or []), *(own or [])]}
    fallback = trigger or project.name
    if prompt_format == "prose" and image.caption.strip():
        text = ", ".join(part for part in (trigger, image.caption.strip()) if part)
        return CaptionPreview(text, prompt_format, [], profile)
    ordered = sorted(
        (t for t in tags if t.category != TagCategory.RATING.value),
        # Character tags first, then by confidence (tags without one, from the prompt, after scored ones).
        key=lambda t: (t.category != TagCategory.CHARACTER.value, t.confidence is None, -(t.confidence or 0.0), t.tag),
    )
    parts: dict[str, None] = {trigger: None} if trigger else {}
    dropped: list[str] = []
    for tag in ordered:
        if tag.tag in blacklist:
            dropped.append(tag.tag)
        elif tag.tag != normalise_tag(trigger):  # the trigger is first already
            parts.setdefault(tag.tag, None)
    text = ", ".join(parts) or fallback
    return CaptionPreview(text, prompt_format, dropped, profile)
