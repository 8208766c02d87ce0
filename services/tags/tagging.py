"""Tagging jobs: a character's images (or a selection) tagged by one machine source, each a job on the device that
can run it, with progress per image and a summary.

- `prompt`: the generation prompt of each generated image (imported images have none and are skipped);
- `tagger`: a WD14-format ONNX model from the `tagger_model_dir` folder, in this process on the `cpu` device;
- `comfyui`: ComfyUI's tagger node on a device that has it (`image.tag.comfyui` jobs);
- `llm`: the vision LLM, which writes a prose caption as well as tags.

Each image's tags are stored as soon as it is done, so a cancelled job keeps what it finished. A person's tags and
removals are never touched (the tag store keeps them apart from machine rows).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from services.bible import Characters
from services.comfyui import ComfyClient, ComfyUnavailable
from services.errors import BackendUnavailable, Invalid, NotFound
from services.jobs import JobDraft, JobQueue, ProgressSink, new_batch_id
from services.llm import LLM_DEVICE_EXAMPLE, LlmClient, configured_llm
from services.media_store import MediaStore
from services.prompts import ModelProfile
from services.tags.store import TagStore
from services.tags.taggers.comfy_wd14 import COMFY_TAG_JOB, IMAGES_PER_JOB, INSTALL_WD14, WD14_NODE
from services.tags.taggers.llm_tags import LlmTagger
from services.tags.taggers.onnx_wd14 import OnnxWd14Tagger, TaggerThresholds, check_folder, read_labels
from services.tags.taggers.prompt import tags_from_image_prompt
from services.tags.taggers.tally import TagTally, images_text
from studio.config import COMFYUI_DEVICE_EXAMPLE, CONNECTIONS_PAGE, Settings
from studio.db import Database
from studio.models import ApprovalState, Character, DatasetImage, Job, JobPriority, TagSource
from studio.secrets import SecretStore

log = logging.getLogger(__name__)

TAG_JOB = "image.tag"
SOURCE_LABELS = {
    TagSource.PROMPT: "From the generation prompt",
    TagSource.TAGGER: "WD14 tagger model (ONNX, on this machine)",
    TagSource.COMFYUI: "ComfyUI's WD14 tagger node",
    TagSource.LLM: "Vision LLM (tags and a caption)",
}
_TITLE_WORDS = {
    TagSource.PROMPT: "from prompts",
    TagSource.TAGGER: "with the tagger model",
    TagSource.COMFYUI: "with ComfyUI's tagger",
    TagSource.LLM: "with the vision LLM",
}
MAX_IMAGES = 20_000  # one request's selection; a character's whole dataset is far below it
_PROMPT_CHUNK = 100  # images read per query by the prompt source


@dataclass(frozen=True)
class SourceState:
    """Whether a source can run now, and why not (or where it runs)."""

    source: TagSource
    label: str
    available: bool
    reason: str


class Tagging:
    """Starts tagging jobs and runs the `image.tag` ones (prompt, tagger, llm) on the `cpu` device."""

    def __init__(
        self,
        *,
        settings: Settings,
        secrets: SecretStore,
        db: Database,
        media: MediaStore,
        jobs: JobQueue,
        characters: Characters,
        tags: TagStore,
        profiles: Callable[[], Awaitable[Sequence[ModelProfile]]],
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._db = db
        self._media = media
        self._jobs = jobs
        self._characters = characters
        self._tags = tags
        self._profiles = profiles
        # ComfyUI URL → whether its server has the tagger node (or why it could not be asked), as last checked.
        self._comfy_nodes: dict[str, bool | str] = {}

    # --- what the page and the API call ------------------------------------------------------------

    def sources(self) -> list[SourceState]:
        """Every machine source and whether it can run, from the settings and the last device check
        (`refresh_sources` asks the ComfyUI devices again)."""
        return [
            SourceState(
                TagSource.PROMPT, SOURCE_LABELS[TagSource.PROMPT], True, "needs no model: generated images only"
            ),
            self._tagger_state(),
            self._comfy_state(),
            self._llm_state(),
        ]

    async def refresh_sources(self) -> list[SourceState]:
        """`sources` after asking every ComfyUI device whether it has the tagger node."""
        await self._check_comfy_devices()
        return self.sources()

    async def start(
        self, character_id: int, source: TagSource | str, image_ids: Sequence[int] | None, actor: str
    ) -> list[Job]:
        """Queue the tagging job(s) of one source for a character's images (all but rejected ones) or `image_ids`.

        NotFound: no such character or image. Invalid: "person" as a source, images of another character, nothing
        to tag, no usable tagger folder. BackendUnavailable: no vision LLM, no ComfyUI device, or none with the
        tagger node (the message names the pack to install).
        """
        try:
            source = TagSource(source)
        except ValueError:
            raise Invalid("source", f"'{source}' is not a tag source; use one of {_source_names()}") from None
        if source == TagSource.PERSON:
            raise Invalid("source", f"a person's tags are edited, not run as a job; use one of {_source_names()}")
        character = await self._characters.get(character_id)
        if character.deleted_at is not None:
            raise Invalid("character", f"{character.name} is deleted; restore it before tagging its images")
        ids = await self._images_to_tag(character, image_ids)
        device = await self._check_source(source)
        words = _TITLE_WORDS[source]
        payload = {"source": source.value, "character_id": character_id}
        if source != TagSource.COMFYUI:
            draft = JobDraft(
                kind=TAG_JOB,
                payload={**payload, "image_ids": ids},
                title=f"{character.name} · tag {images_text(len(ids))} {words}",
                priority=JobPriority.INTERACTIVE,
                project_id=character.project_id,
            )
            return await self._jobs.submit([draft], actor)
        chunks = [ids[i : i + IMAGES_PER_JOB] for i in range(0, len(ids), IMAGES_PER_JOB)]
        batch = new_batch_id()
        drafts = [
            JobDraft(
                kind=COMFY_TAG_JOB,
                payload={**payload, "image_ids": chunk},
                title=f"{character.name} · tag {images_text(len(ids))} {words}"
                + (f" ({number} of {len(chunks)})" if len(chunks) > 1 else ""),
                device=device,
                priority=JobPriority.INTERACTIVE,
                batch=batch,
                project_id=character.project_id,
            )
            for number, chunk in enumerate(chunks, start=1)
        ]
        return await self._jobs.submit(drafts, actor)

    # --- the cpu job ------------------------------------------------------------------------------

    async def run(self, job: Job, progress: ProgressSink) -> dict[str, Any]:
        """Tag the job's images with its source; each image's tags are stored when it is done.

        Invalid: the tagger folder or the vision model cannot be used; LlmError: the LLM server stopped answering.
        Either fails the job; the images tagged before keep their tags.
        """
        source = TagSource(job.payload["source"])
        character = await self._characters.get(job.payload["character_id"])
        ids: list[int] = job.payload["image_ids"]
        tally = TagTally()
        if source == TagSource.PROMPT:
            await self._run_prompt(character, ids, tally, progress)
        elif source == TagSource.TAGGER:
            await self._run_tagger(character, ids, tally, progress)
        elif source == TagSource.LLM:
            await self._run_llm(character, ids, tally, progress)
        else:
            raise Invalid("source", f"{source} images are not tagged by a cpu job")
        await progress(1.0, tally.summary())
        return tally.result()

    async def _run_prompt(self, character: Character, ids: list[int], tally: TagTally, progress: ProgressSink) -> None:
        profiles = await self._profiles()
        for start in range(0, len(ids), _PROMPT_CHUNK):
            chunk = ids[start : start + _PROMPT_CHUNK]
            images = await self._rows(chunk, character.id)  # type: ignore[arg-type]
            for offset, image_id in enumerate(chunk):
                await progress((start + offset) / len(ids), f"Tagging image {start + offset + 1} of {len(ids)}")
                image = images.get(image_id)
                tags = tags_from_image_prompt(image, profiles, character.trigger_word) if image else None
                if tags is None:  # gone, moved, or imported (no prompt to read)
                    tally.skipped += 1
                    continue
                await tally.store(self._tags, image_id, TagSource.PROMPT, tags)

    async def _run_tagger(self, character: Character, ids: list[int], tally: TagTally, progress: ProgressSink) -> None:
        # Loaded once per job, off the event loop: a real model is hundreds of megabytes.
        tagger = await asyncio.to_thread(OnnxWd14Tagger.load, self._settings.tagger_model_dir)
        for start in range(0, len(ids), tagger.batch):
            chunk = ids[start : start + tagger.batch]
            images = await self._rows(chunk, character.id)  # type: ignore[arg-type]
            readable: list[tuple[int, bytes]] = []
            for offset, image_id in enumerate(chunk, start=start):
                await progress(offset / len(ids), f"Tagging image {offset + 1} of {len(ids)}")
                if image_id not in images:
                    tally.skipped += 1
                    continue
                data = await self._read(images[image_id], tally)
                if data is not None:
                    readable.append((image_id, data))
            if not readable:
                continue
            thresholds = TaggerThresholds(
                self._settings.tagger_general_threshold, self._settings.tagger_character_threshold
            )
            results = await asyncio.to_thread(tagger.tag, [data for _, data in readable], thresholds)
            for (image_id, _), result in zip(readable, results, strict=True):
                if isinstance(result, str):
                    tally.fail(image_id, result)
                else:
                    await tally.store(self._tags, image_id, TagSource.TAGGER, result)

    async def _run_llm(self, character: Character, ids: list[int], tally: TagTally, progress: ProgressSink) -> None:
        client = self._llm()
        try:
            tagger = LlmTagger(client, self._settings.vision_model)
            await tagger.check_sight()
            for index, image_id in enumerate(ids):
                await progress(index / len(ids), f"Tagging image {index + 1} of {len(ids)}")
                image = (await self._rows([image_id], character.id)).get(image_id)  # type: ignore[arg-type]
                if image is None:
                    tally.skipped += 1
                    continue
                data = await self._read(image, tally)
                if data is None:
                    continue
                described = await tagger.describe(data, character.name, character.design_prompt)
                if described.error is not None:
                    tally.fail(image_id, described.error)  # the model answered badly for this one: go on
                    continue
                await tally.store(self._tags, image_id, TagSource.LLM, described.tags, described.caption)
        finally:
            await client.aclose()

    async def _read(self, image: DatasetImage, tally: TagTally) -> bytes | None:
        try:
            return await self._media.read(image.file_path)
        except OSError as exc:
            tally.fail(image.id, f"the image file cannot be read ({exc.__class__.__name__})")  # type: ignore[arg-type]
            return None

    async def _rows(self, ids: Sequence[int], character_id: int) -> dict[int, DatasetImage]:
        """The images among `ids` that still belong to the character."""
        query = select(DatasetImage).where(
            col(DatasetImage.id).in_(list(ids)), DatasetImage.character_id == character_id
        )
        async with self._db.session() as session:
            return {image.id: image for image in (await session.exec(query)).all()}  # type: ignore[misc]

    # --- checks ------------------------------------------------------------------------------------

    async def _images_to_tag(self, character: Character, image_ids: Sequence[int] | None) -> list[int]:
        if image_ids is None:
            query = (
                select(DatasetImage.id)
                .where(DatasetImage.character_id == character.id, DatasetImage.approval_state != ApprovalState.REJECTED)
                .order_by(col(DatasetImage.id))
            )
            async with self._db.session() as session:
                ids = [int(i) for i in (await session.exec(query)).all() if i is not None]
            if not ids:
                raise Invalid("character", f"{character.name} has no images to tag (rejected images are left out)")
            return ids
        wanted = list(dict.fromkeys(image_ids))
        if not wanted:
            raise Invalid("image_ids", "the selection is empty; choose images to tag, or leave image_ids out for all")
        if len(wanted) > MAX_IMAGES:
            raise Invalid("image_ids", f"at most {MAX_IMAGES} images can be tagged at once")
        query = select(DatasetImage.id, DatasetImage.character_id).where(col(DatasetImage.id).in_(wanted))
        async with self._db.session() as session:
            owners = {int(image_id): owner for image_id, owner in (await session.exec(query)).all()}
        missing = [i for i in wanted if i not in owners]
        if missing:
            raise NotFound(f"there is no image {', '.join(str(i) for i in missing[:10])}")
        foreign = [i for i in wanted if owners[i] != character.id]
        if foreign:
            shown = ", ".join(str(i) for i in foreign[:10]) + (" ..." if len(foreign) > 10 else "")
            raise Invalid("image_ids", f"image(s) {shown} are not images of {character.name}")
        return wanted

    async def _check_source(self, source: TagSource) -> str | None:
        """Refuse a source that cannot run; for ComfyUI, the device to pin the jobs to (None: any device)."""
        if source == TagSource.TAGGER:
            _, tags = check_folder(self._settings.tagger_model_dir)
            await asyncio.to_thread(read_labels, tags)  # the CSV's header, before a job is queued
        elif source == TagSource.LLM:
            self._llm_device_or_refuse()
        elif source == TagSource.COMFYUI:
            return await self._comfy_device()
        return None

    def _llm(self) -> LlmClient:
        client = configured_llm(self._settings, self._secrets)
        if client is None:
            raise _no_llm()
        return client

    def _llm_device_or_refuse(self) -> None:
        if self._settings.vision_llm is None:
            raise _no_llm()

    async def _comfy_device(self) -> str | None:
        devices = self._settings.comfyui_devices
        if not devices:
            raise BackendUnavailable("device", _no_comfyui())
        await self._check_comfy_devices()
        having = [name for name, url in devices.items() if self._comfy_nodes.get(url) is True]
        if not having:
            problems = "; ".join(
                f"{name} at {url}: "
                + ("lacks the node" if self._comfy_nodes.get(url) is False else str(self._comfy_nodes.get(url)))
                for name, url in devices.items()
            )
            raise BackendUnavailable(
                "device", f"no ComfyUI device can run the tagger node {WD14_NODE}: {INSTALL_WD14} ({problems})"
            )
        # Pinned only when some device lacks the node: otherwise any free device may take a job.
        return None if len(having) == len(devices) else having[0]

    async def _check_comfy_devices(self) -> None:
        devices = self._settings.comfyui_devices
        answers = await asyncio.gather(*(self._has_node(url) for url in devices.values()))
        self._comfy_nodes = dict(zip(devices.values(), answers, strict=True))

    async def _has_node(self, url: str) -> bool | str:
        client = ComfyClient(url, timeout=self._settings.backend_timeout_seconds)
        try:
            return await client.node_info(WD14_NODE) is not None
        except ComfyUnavailable as exc:
            return str(exc)
        finally:
            await client.aclose()

    # --- source states -----------------------------------------------------------------------------

    def _tagger_state(self) -> SourceState:
        label = SOURCE_LABELS[TagSource.TAGGER]
        try:
            model, _ = check_folder(self._settings.tagger_model_dir)
        except Invalid as exc:
            return SourceState(TagSource.TAGGER, label, False, exc.message)
        return SourceState(TagSource.TAGGER, label, True, f"{model} on the cpu device")

    def _comfy_state(self) -> SourceState:
        label = SOURCE_LABELS[TagSource.COMFYUI]
        devices = self._settings.comfyui_devices
        if not devices:
            return SourceState(TagSource.COMFYUI, label, False, _no_comfyui())
        checked = {name: self._comfy_nodes.get(url) for name, url in devices.items()}
        having = [name for name, state in checked.items() if state is True]
        if having:
            return SourceState(TagSource.COMFYUI, label, True, f"{WD14_NODE} on {', '.join(having)}")
        if all(state is not None for state in checked.values()):
            return SourceState(TagSource.COMFYUI, label, False, f"no ComfyUI device has {WD14_NODE}: {INSTALL_WD14}")
        return SourceState(TagSource.COMFYUI, label, True, f"the devices are asked for {WD14_NODE} when tagging starts")

    def _llm_state(self) -> SourceState:
        label = SOURCE_LABELS[TagSource.LLM]
        device = self._settings.vision_llm
        if device is None:
            return SourceState(
                TagSource.LLM, label, False, f"no device has an LLM server; connect one on {CONNECTIONS_PAGE}"
            )
        return SourceState(TagSource.LLM, label, True, f"{self._settings.vision_model} on {device.name}")


def _source_names() -> str:
    return ", ".join(source.value for source in SOURCE_LABELS)


def _no_llm() -> BackendUnavailable:
    return BackendUnavailable(
        "vision_device", f"no device has an LLM server; connect one on {CONNECTIONS_PAGE}, or set {LLM_DEVICE_EXAMPLE}"
    )


def _no_comfyui() -> str:
    return f"no device has a ComfyUI server; connect one on {CONNECTIONS_PAGE}, or set {COMFYUI_DEVICE_EXAMPLE}"
