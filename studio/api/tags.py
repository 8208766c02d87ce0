"""REST routes for tags and captions: an image's tags and caption, bulk edits with undo, tag frequencies, the
trigger word and the blacklists."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from services.tags import BulkEdit, BulkResult, ImageTags
from services.tags.prompt_tags import MAX_TAG_LENGTH
from services.tags.store import MAX_BLACKLIST, MAX_BULK_IMAGES, MAX_CAPTION, MAX_TAGS_PER_IMAGE, MAX_TRIGGER
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import RowId
from studio.models import ApprovalState
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
TagText = Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH)]
UndoToken = Annotated[str, PathParam(min_length=1, max_length=64, description="The `undo_token` of an edit.")]


class TagOut(BaseModel):
    tag: str
    category: str = Field(description="general, character or rating (the WD14 categories).")
    confidence: float | None = Field(description="1.0 for a person's tag; none for tags from the prompt.")
    sources: list[str] = Field(description="Who gave the tag: prompt, tagger, comfyui, llm, person.")


class ImageTagsOut(BaseModel):
    image_id: int
    tags: list[TagOut] = Field(description="Most confident first.")
    caption: str = Field(description="The prose caption (for prose model profiles), if any.")
    caption_source: str = Field(description="llm or person; empty without a caption.")
    undo_token: str | None = Field(None, description="After a PUT that changed something: undoes it.")

    @classmethod
    def of(cls, tags: ImageTags) -> ImageTagsOut:
        return cls(
            image_id=tags.image_id,
            tags=[
                TagOut(tag=t.tag, category=t.category, confidence=t.confidence, sources=list(t.sources))
                for t in tags.tags
            ],
            caption=tags.caption,
            caption_source=tags.caption_source,
            undo_token=tags.undo_token,
        )


class TagsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[TagText] = Field(max_length=MAX_TAGS_PER_IMAGE, description="Exactly the tags the image shows after.")
    caption: str | None = Field(
        None, max_length=MAX_CAPTION, description="A new prose caption ('' clears it); unset: unchanged."
    )


class CaptionOut(BaseModel):
    image_id: int
    text: str = Field(description="The exact caption file the image gets in a training set.")
    prompt_format: str = Field(description="booru_tags or prose, from the image's model profile.")
    profile: str = Field(description="The model profile that decided the format; empty when none did.")
    dropped: list[str] = Field(description="Tags the blacklists kept out.")


class BulkFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: TagText | None = Field(None, description="Only images that show this tag.")
    states: list[ApprovalState] = Field(default_factory=list, max_length=3, description="Only images in these states.")


class BulkEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operation: Literal["add", "remove", "replace", "rename"] = Field(
        description="replace: tag -> new_tag on the images; rename: the same across the whole character."
    )
    tag: TagText
    new_tag: TagText | None = Field(None, description="For replace and rename; an existing tag is merged into.")
    image_ids: list[RowId] | None = Field(
        None, max_length=MAX_BULK_IMAGES, description="Images of the character; unset: those `filter` selects."
    )
    filter: BulkFilter | None = Field(None, description="Without image_ids: which of the character's images (all).")


class BulkResultOut(BaseModel):
    images_changed: int
    message: str
    undo_token: str | None = Field(
        description="POST /api/tag-edits/{token}/undo undoes the edit; none if nothing changed."
    )
    merged: bool = Field(description="The new tag existed already and the old one was merged into it.")

    @classmethod
    def of(cls, result: BulkResult) -> BulkResultOut:
        return cls(
            images_changed=result.images_changed,
            message=result.message,
            undo_token=result.undo_token,
            merged=result.merged,
        )


class TagCountOut(BaseModel):
    tag: str
    category: str
    count: int = Field(description="Images of the character that show the tag.")
    share: float = Field(description="count / images, 0 to 1.")


class TagFrequenciesOut(BaseModel):
    images: int = Field(description="Images of the character.")
    tags: list[TagCountOut] = Field(description="Most frequent first.")


class TriggerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger_word: str = Field(max_length=MAX_TRIGGER, description="First in every caption; '' unpins it.")


class TriggerOut(BaseModel):
    trigger_word: str


class BlacklistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[TagText] = Field(max_length=MAX_BLACKLIST, description="Tags that never reach a caption.")


class BlacklistOut(BaseModel):
    tags: list[str]


def tags_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["tags"])
    store, captions = studio.tags, studio.captions

    @router.get("/images/{image_id}/tags", response_model=ImageTagsOut, responses=errors(404))
    async def image_tags(image_id: RowId, _: Caller) -> ImageTagsOut:
        """The image's tags with their sources and confidence, and its prose caption."""
        return ImageTagsOut.of(await store.tags_of(image_id))

    @router.put("/images/{image_id}/tags", response_model=ImageTagsOut, responses=errors(404))
    async def put_image_tags(image_id: RowId, body: TagsIn, caller: Caller) -> ImageTagsOut:
        """Set exactly the tags the image shows (and its caption): a person's edit, which re-tagging keeps.
        Returns an undo token when something changed."""
        return ImageTagsOut.of(await store.put_tags(image_id, body.tags, body.caption, caller.name))

    @router.get("/images/{image_id}/caption", response_model=CaptionOut, responses=errors(404))
    async def image_caption(image_id: RowId, _: Caller) -> CaptionOut:
        """The caption the image gets in a training set: trigger word first, tags by confidence or the prose
        caption (per the model profile), blacklist removed, never empty."""
        preview = await captions.preview(image_id)
        return CaptionOut(
            image_id=image_id,
            text=preview.text,
            prompt_format=preview.prompt_format,
            profile=preview.profile,
            dropped=preview.dropped,
        )

    @router.post("/characters/{character_id}/tags/bulk", response_model=BulkResultOut, responses=errors(404))
    async def bulk_edit(character_id: RowId, body: BulkEditIn, caller: Caller) -> BulkResultOut:
        """Add, remove, replace or rename a tag on a list of the character's images, on those a filter selects,
        or on all of them: one undoable edit. Images that are not the character's refuse it all (422)."""
        image_ids = body.image_ids
        if image_ids is None and body.filter is not None and (body.filter.tag or body.filter.states):
            image_ids = await store.image_ids(character_id, body.filter.tag, body.filter.states)
        edit = BulkEdit(body.operation, body.tag, body.new_tag, tuple(image_ids) if image_ids is not None else None)
        return BulkResultOut.of(await store.bulk(character_id, edit, caller.name))

    @router.post("/tag-edits/{token}/undo", response_model=BulkResultOut, responses=errors(404, 409))
    async def undo_edit(token: UndoToken, caller: Caller) -> BulkResultOut:
        """Put back the tags an edit changed. 409 when undone already, or when a later edit touched its images."""
        return BulkResultOut.of(await store.undo(token, caller.name))

    @router.get("/characters/{character_id}/tag-frequencies", response_model=TagFrequenciesOut, responses=errors(404))
    async def tag_frequencies(character_id: RowId, _: Caller) -> TagFrequenciesOut:
        """Each tag of the character's images with how many images show it, most frequent first."""
        frequencies = await store.frequencies(character_id)
        return TagFrequenciesOut(
            images=frequencies.images,
            tags=[TagCountOut(tag=t.tag, category=t.category, count=t.count, share=t.share) for t in frequencies.tags],
        )

    @router.get("/characters/{character_id}/trigger", response_model=TriggerOut, responses=errors(404))
    async def get_trigger(character_id: RowId, _: Caller) -> TriggerOut:
        """The word pinned first in the character's captions."""
        return TriggerOut(trigger_word=await store.trigger(character_id))

    @router.put("/characters/{character_id}/trigger", response_model=TriggerOut, responses=errors(404))
    async def put_trigger(character_id: RowId, body: TriggerIn, caller: Caller) -> TriggerOut:
        """Pin the word every caption of the character starts with ('' unpins it)."""
        await store.set_trigger(character_id, body.trigger_word, caller.name)
        return TriggerOut(trigger_word=await store.trigger(character_id))

    @router.get("/characters/{character_id}/tag-blacklist", response_model=BlacklistOut, responses=errors(404))
    async def get_character_blacklist(character_id: RowId, _: Caller) -> BlacklistOut:
        """Tags kept out of this character's captions, on top of the project's blacklist."""
        return BlacklistOut(tags=await store.character_blacklist(character_id))

    @router.put("/characters/{character_id}/tag-blacklist", response_model=BlacklistOut, responses=errors(404))
    async def put_character_blacklist(character_id: RowId, body: BlacklistIn, caller: Caller) -> BlacklistOut:
        """Replace the character's blacklist (tags are normalised: lower case, spaces for underscores)."""
        await store.set_character_blacklist(character_id, body.tags, caller.name)
        return BlacklistOut(tags=await store.character_blacklist(character_id))

    @router.get("/projects/{project_id}/tag-blacklist", response_model=BlacklistOut, responses=errors(404))
    async def get_project_blacklist(project_id: RowId, _: Caller) -> BlacklistOut:
        """Tags that never reach a caption of any character of the project."""
        return BlacklistOut(tags=await store.blacklist(project_id))

    @router.put("/projects/{project_id}/tag-blacklist", response_model=BlacklistOut, responses=errors(404))
    async def put_project_blacklist(project_id: RowId, body: BlacklistIn, caller: Caller) -> BlacklistOut:
        """Replace the project's blacklist (tags are normalised: lower case, spaces for underscores)."""
        await store.set_blacklist(project_id, body.tags, caller.name)
        return BlacklistOut(tags=await store.blacklist(project_id))

    return router
