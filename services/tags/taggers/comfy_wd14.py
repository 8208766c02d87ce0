"""Tagging through ComfyUI's tagger node, `WD14Tagger|pysssss` (pythongosssss/ComfyUI-WD14-Tagger), on a device
that has it: each image is uploaded, loaded and tagged in one prompt per job; the node reports its tags as text
(`{"tags": ["a, b, c"]}` in the history), without confidences.

The node downloads its model from Hugging Face on first use, so the first job on a device takes longer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from sqlmodel import col, select

from services.comfyui import ComfyClient, PromptOutcome
from services.errors import Invalid
from services.media_store import MediaStore
from services.tags.prompt_tags import tags_from_prompt
from services.tags.store import MachineTag, TagStore
from services.tags.taggers.onnx_wd14 import TaggerThresholds
from services.tags.taggers.tally import TagTally
from studio.config import Settings
from studio.db import Database
from studio.models import DatasetImage, Job, TagSource

COMFY_TAG_JOB = "image.tag.comfyui"
WD14_NODE = "WD14Tagger|pysssss"
WD14_PACK = "pythongosssss/ComfyUI-WD14-Tagger"
INSTALL_WD14 = "install the ComfyUI-WD14-Tagger custom node pack (pythongosssss/ComfyUI-WD14-Tagger)"
# The pack's own default model; it downloads it into its models folder the first time it runs.
WD14_MODEL = "wd-v1-4-moat-tagger-v2"
UPLOAD_SUBFOLDER = "anime-studio"
# Images per ComfyUI job: one prompt tags them all, so a cancel loses at most this many images' work.
IMAGES_PER_JOB = 16


def input_name(image: DatasetImage) -> str:
    """The image's file name on the server: named by content, so the same image is uploaded to the same name."""
    suffix = PurePosixPath(image.file_path).suffix or ".png"
    return f"tag_{image.content_hash[:24]}{suffix}"


def tagging_graph(inputs: Sequence[tuple[int, str]], thresholds: TaggerThresholds) -> dict[str, Any]:
    """LoadImage → WD14Tagger for each (image id, uploaded `LoadImage` value), titled so progress names the image."""
    graph: dict[str, Any] = {}
    for number, (image_id, uploaded) in enumerate(inputs, start=1):
        graph[f"load_{image_id}"] = {"class_type": "LoadImage", "inputs": {"image": uploaded}}
        graph[f"tag_{image_id}"] = {
            "class_type": WD14_NODE,
            "inputs": {
                "image": [f"load_{image_id}", 0],
                "model": WD14_MODEL,
                "threshold": thresholds.general,
                "character_threshold": thresholds.character,
                "replace_underscore": True,
                "trailing_comma": False,
                "exclude_tags": "",
            },
            "_meta": {"title": f"tagger, image {number} of {len(inputs)}"},
        }
    return graph


def node_tags(texts: Sequence[str]) -> list[MachineTag]:
    """The node's text ("a, b, koopa \\(mario\\)") as tags: escaped brackets are part of the tag."""
    return [MachineTag(tag) for tag in tags_from_prompt(", ".join(texts))]


class ComfyTaggingHandler:
    """Runs `image.tag.comfyui` jobs on a ComfyUI device and stores the tags with source "comfyui"."""

    kind = COMFY_TAG_JOB

    def __init__(self, *, settings: Settings, db: Database, media: MediaStore, tags: TagStore) -> None:
        self._settings = settings
        self._db = db
        self._media = media
        self._tags = tags

    def memory_group(self, job: Job) -> str:
        return f"tagger:{WD14_MODEL}"

    async def prepare(self, job: Job, client: ComfyClient) -> dict[str, Any]:
        images = await self._images(job)
        if not images:
            raise Invalid("image_ids", "every image of this job was deleted or moved to another character")
        inputs = []
        for image in images:
            data = await self._media.read(image.file_path)
            inputs.append(
                (image.id, await client.upload_image(data, input_name(image), subfolder=UPLOAD_SUBFOLDER))  # type: ignore[arg-type]
            )
        thresholds = TaggerThresholds(
            self._settings.tagger_general_threshold, self._settings.tagger_character_threshold
        )
        return tagging_graph(inputs, thresholds)

    async def collect(self, job: Job, outcome: PromptOutcome, client: ComfyClient, device: str) -> dict[str, Any]:
        tally = TagTally()
        present = {image.id for image in await self._images(job)}
        for image_id in job.payload["image_ids"]:
            texts = outcome.texts.get(f"tag_{image_id}", {}).get("tags")
            if image_id not in present:
                tally.skipped += 1  # deleted or moved while ComfyUI tagged it
            elif texts is None:
                tally.fail(image_id, f"{WD14_NODE} on {device} reported no tags for it")
            else:
                await tally.store(self._tags, image_id, TagSource.COMFYUI, node_tags(texts))
        return tally.result()

    async def _images(self, job: Job) -> list[DatasetImage]:
        """The job's images that still belong to its character, in the job's order."""
        ids: list[int] = job.payload["image_ids"]
        query = select(DatasetImage).where(
            col(DatasetImage.id).in_(ids), DatasetImage.character_id == job.payload["character_id"]
        )
        async with self._db.session() as session:
            found = {image.id: image for image in (await session.exec(query)).all()}
        return [found[i] for i in ids if i in found]
