"""Tags and a prose caption from the vision LLM: a caption for model profiles whose prompt format is prose, and a
tag list for the rest, asked in one request with the same JSON-schema validation and retry as the vision review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from services.errors import Invalid
from services.llm import ChatMessage, LlmClient
from services.llm.replies import ask_json
from services.tags.prompt_tags import tags_from_prompt
from services.tags.store import MachineTag

MAX_TAGS = 60


def _tag_list(value: Any) -> Any:
    # Models answer "red hair, smiling" where a list was asked for.
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return value


class ImageDescription(BaseModel):
    """What the vision model says about one dataset image; the JSON schema it is asked to fill."""

    model_config = ConfigDict(extra="ignore")

    caption: str = Field(min_length=1, max_length=1500, description="one or two sentences describing the image")
    tags: Annotated[list[Annotated[str, Field(max_length=200)]], BeforeValidator(_tag_list)] = Field(
        min_length=1, max_length=MAX_TAGS, description="booru-style tags, lower case"
    )


DESCRIPTION_SCHEMA: dict[str, Any] = ImageDescription.model_json_schema()


def description_prompt(character_name: str, design_prompt: str) -> str:
    """The request for one image: what to describe, and the JSON fields to answer with."""
    return "\n".join(
        [
            f"This image is from the training dataset of an anime character called {character_name}.",
            f"Design: {design_prompt or '(none given)'}",
            "Describe what is visible, for training an image model. Answer with one JSON object only, no other text:",
            '- "caption": one or two plain sentences about the character\'s look, pose, expression, clothing and the '
            "setting, without the character's name",
            '- "tags": 10 to 30 booru-style tags in lower case, most important first (for example "1girl", "solo", '
            '"red hair", "smiling", "outdoors", "full body")',
        ]
    )


@dataclass(frozen=True)
class LlmDescription:
    """One image's answer: the caption and tags, or why there is none (`error`, the model answered badly)."""

    caption: str
    tags: list[MachineTag]
    attempts: int
    error: str | None = None


class LlmTagger:
    """Describes images with one vision model. `describe` raises LlmError only when the server cannot answer."""

    def __init__(self, client: LlmClient, model: str) -> None:
        self.client = client
        self.model = model

    async def check_sight(self) -> None:
        """Invalid when the model is known not to see images (it would invent tags from nothing)."""
        sight = await self.client.sees_images(self.model)
        if sight.sees is False:
            raise Invalid("vision_model", sight.how)

    async def describe(self, image: bytes, character_name: str, design_prompt: str) -> LlmDescription:
        messages = [ChatMessage("user", description_prompt(character_name, design_prompt), (image,))]
        answer = await ask_json(
            self.client, self.model, messages, ImageDescription, schema=DESCRIPTION_SCHEMA, max_tokens=600
        )
        if answer.value is None:
            error = f"{self.model} gave no usable description in {answer.attempts} attempts: {answer.problem}"
            return LlmDescription("", [], answer.attempts, error)
        tags = tags_from_prompt(", ".join(answer.value.tags))[:MAX_TAGS]
        return LlmDescription(answer.value.caption.strip(), [MachineTag(tag) for tag in tags], answer.attempts)
