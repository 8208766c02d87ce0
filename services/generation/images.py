"""Image generation for a character's dataset: plan a batch, run it as ComfyUI jobs, store pending images.

A batch is planned once (the prompt engine decides prompts and parameters) and each image becomes one job
whose payload holds the complete recipe, so a job can run on any ComfyUI device, survive a restart, and
be repeated exactly ("generate again like this").
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlmodel import col, select

from services.bible import Characters
from services.comfyui import ComfyClient, PromptOutcome
from services.datasets.categories import negatives_for
from services.datasets.curation import Curation
from services.datasets.feedback import Feedback
from services.datasets.store import GENERATED_SOURCE, Admission, DatasetStore, NewImage
from services.errors import BackendUnavailable, Invalid, NotFound
from services.generation.provenance import embed_provenance
from services.imaging import check_image
from services.jobs import JobDraft, JobQueue, new_batch_id
from services.media_store import MediaStore
from services.prompts.tokens import join_tokens
from studio import __version__
from studio.clock import Clock
from studio.config import COMFYUI_DEVICE_EXAMPLE, CONNECTIONS_PAGE, Settings
from studio.db import Database
from studio.models import ApprovalState, Character, DatasetImage, Job, JobPriority, ReferenceImage
from workflows import STUDIO_OUTPUT_FOLDER, ImageRequest, IPAdapterRef, LoraRef, build_image_workflow, workflow_hash

IMAGE_JOB = "image.generate"
MAX_BATCH = 64
MAX_SEED = 2**32 - 1  # what every UI and A1111 accept; ComfyUI takes up to 2**64-1
REFERENCE_SUBFOLDER = "anime-studio"

SeedPolicy = Literal["random", "increment", "fixed"]


class LoraChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=255)
    strength: float = Field(0.8, ge=-2.0, le=2.0)

    @field_validator("name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if ".." in PurePosixPath(value).parts or value.startswith("/"):
            raise ValueError("a LoRA is named by its file in ComfyUI's loras folder, e.g. koopa_lora.safetensors")
        return value


class ImageBatchDraft(BaseModel):
    """What the Create page and `POST /api/characters/{id}/generate` send."""

    model_config = ConfigDict(extra="forbid")
    style: str | None = Field(None, description="Generation style; unset: the project's default style.")
    count: int = Field(4, ge=1, le=MAX_BATCH)
    seed_policy: SeedPolicy = "random"
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="First seed (increment) or the seed (fixed).")
    pose: str = Field("", max_length=500)
    extra_prompt: str = Field("", max_length=2000, description="Added to the end of the positive prompt.")
    loras: list[LoraChoice] = Field(default_factory=list, max_length=8)
    use_reference: bool = Field(True, description="Condition on the character's first reference image (IP-Adapter).")
    device: str | None = Field(None, description="Pin the batch to one device; unset: any ComfyUI device.")
    extra_negative: str = Field("", max_length=2000, description="Added to the end of the negative prompt.")
    use_learned_negatives: bool = Field(
        True, description="Add the negative terms the character's rejected images taught (rejection categories)."
    )


def batch_seeds(policy: SeedPolicy, seed: int | None, count: int, rng: random.Random) -> list[int]:
    if policy == "random" or seed is None:
        if policy != "random":
            raise Invalid("seed", f"the '{policy}' seed policy needs a seed")
        return [rng.randint(0, MAX_SEED) for _ in range(count)]
    if policy == "fixed":
        return [seed] * count
    return [(seed + i) % (MAX_SEED + 1) for i in range(count)]


class ImageGeneration:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        clock: Clock,
        media: MediaStore,
        characters: Characters,
        jobs: JobQueue,
        feedback: Feedback,
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._media = media
        self._characters = characters
        self._jobs = jobs
        self._feedback = feedback
        self._rng = random.SystemRandom()

    async def regenerate(self, image_id: int, actor: str, count: int = 1) -> list[Job]:
        """Generate new images for a rejected image's character, with the negatives its rejection taught.

        The new images link back to the rejected one. Invalid: the image is not rejected or has no character.
        """
        image = await self.image(image_id)
        if image.approval_state != ApprovalState.REJECTED or image.character_id is None:
            raise Invalid("image", "only a rejected image of a character can be regenerated")
        style = (image.provenance or {}).get("style")
        draft = ImageBatchDraft(
            style=style if isinstance(style, str) else None,
            count=count,
            pose=str((image.provenance or {}).get("pose") or ""),
            extra_negative=", ".join(negatives_for(image.rejection_categories)),
        )
        return await self.generate(image.character_id, draft, actor, derived_from_id=image_id)

    async def generate(
        self,
        character_id: int,
        draft: ImageBatchDraft,
        actor: str,
        *,
        derived_from_id: int | None = None,
        priority: int = JobPriority.INTERACTIVE,
    ) -> list[Job]:
        """Queue one job per image. Invalid: no style, no ComfyUI device, unknown device, missing seed.

        The autopilot passes `JobPriority.BACKGROUND`, so a person's Generate always runs before its batches.
        """
        character = await self._characters.get(character_id)
        if character.deleted_at is not None:
            raise Invalid("character", f"{character.name} is deleted; restore it before generating")
        device = self._check_device(draft.device)
        plan, style = await self._characters.plan(character, draft.style, draft.pose)
        positive = ", ".join(part for part in (plan.positive, draft.extra_prompt.strip()) if part)
        learned = (await self._feedback.learned_negatives(character_id)).terms if draft.use_learned_negatives else ()
        negative = join_tokens(plan.negative, draft.extra_negative, *learned)
        # The character's registered LoRA first (the plan dropped it when it does not fit the style's
        # architecture). A batch naming it too loads it once, at the strength the batch asks for.
        chosen = {c.name: c.strength for c in draft.loras}
        registered = [(r.file_name, chosen.pop(r.file_name, r.weight)) for r in plan.loras]
        loras = [
            LoraRef(name=name, strength_model=strength, strength_clip=strength)
            for name, strength in [*registered, *chosen.items()]
        ]
        reference = await self._reference_for(character, plan.ip_adapter_model, plan.architecture, draft.use_reference)
        seeds = batch_seeds(draft.seed_policy, draft.seed, draft.count, self._rng)
        base = ImageRequest(
            architecture=plan.architecture,
            checkpoint=style.checkpoint_model,
            positive=positive,
            negative=negative,
            width=plan.params.width,
            height=plan.params.height,
            seed=0,
            steps=plan.params.steps,
            cfg=plan.params.cfg,
            sampler=plan.params.sampler,
            scheduler=plan.params.scheduler,
            loras=tuple(loras),
            ip_adapter=None,
            v_prediction=plan.params.prediction_type == "v_prediction",
            rescale_cfg=plan.params.rescale_cfg,
            vae=style.vae,
            filename_prefix=f"{STUDIO_OUTPUT_FOLDER}/{character.slug[:40]}",
        )
        context = {
            "project_id": character.project_id,
            "character_id": character.id,
            "style": style.name,
            "profile": plan.profile.name,
            "pose": draft.pose,
            "extra_prompt": draft.extra_prompt,
            "seed_policy": draft.seed_policy,
            "reference": reference,
            "learned_negatives": list(learned),
            "derived_from_id": derived_from_id,
        }
        batch = new_batch_id()
        drafts = [
            JobDraft(
                kind=IMAGE_JOB,
                payload={"request": dataclasses.asdict(dataclasses.replace(base, seed=seed)), **context},
                title=f"{character.name} · image {i + 1} of {len(seeds)}",
                device=device,
                priority=priority,
                batch=batch,
                project_id=character.project_id,
            )
            for i, seed in enumerate(seeds)
        ]
        return await self._jobs.submit(drafts, actor)

    async def again(self, image_id: int, actor: str) -> Job:
        """Queue the exact recipe of a generated image again (same prompts, seed, models)."""
        recipe = await self.recipe(image_id)
        return await self._queue_recipe(recipe, "again like image {image_id}", image_id, actor, JobPriority.INTERACTIVE)

    async def correct(
        self,
        image_id: int,
        request: dict[str, Any],
        strategies: list[str],
        actor: str,
        *,
        priority: int = JobPriority.BACKGROUND,
    ) -> Job:
        """Queue a rejected image's own recipe with a corrected `request` and a new seed. The new image links back
        to the rejected one and its provenance names the correction.

        A new seed, because the same seed with a few more steps draws nearly the same picture: the dataset's
        near-duplicate check would turn it away, and it would likely fail its review for the same reason.

        Invalid: the image has no recipe, the request is not a valid image request, no ComfyUI device.
        """
        recipe = await self.recipe(image_id)
        try:
            corrected = dataclasses.asdict(_request_from({**request, "seed": self._rng.randint(0, MAX_SEED)}))
        except (TypeError, ValueError) as exc:
            raise Invalid("request", f"the corrected recipe is not a valid image request: {exc}") from exc
        payload = {
            **recipe,
            "request": corrected,
            "derived_from_id": image_id,
            "correction": {"of": image_id, "strategies": list(strategies)},
        }
        return await self._queue_recipe(payload, "correction of image {image_id}", image_id, actor, priority)

    async def recipe(self, image_id: int) -> dict[str, Any]:
        """The job payload a generated image was made from. Invalid: the studio did not generate it."""
        image = await self.image(image_id)
        recipe = image.provenance.get("recipe") if image.provenance else None
        if not isinstance(recipe, dict) or not isinstance(recipe.get("request"), dict):
            raise Invalid("image", "this image was not generated by the studio, so it has no recipe to repeat")
        return recipe

    async def _queue_recipe(self, payload: dict[str, Any], title: str, image_id: int, actor: str, priority: int) -> Job:
        self._check_device(None)
        character = await self._characters.get(payload["character_id"])
        if character.deleted_at is not None:
            raise Invalid("character", f"{character.name} is deleted; restore it before generating")
        draft = JobDraft(
            kind=IMAGE_JOB,
            payload=payload,
            title=f"{character.name} · {title.format(image_id=image_id)}",
            priority=priority,
            batch=new_batch_id(),
            project_id=payload["project_id"],
        )
        return (await self._jobs.submit([draft], actor))[0]

    async def image(self, image_id: int) -> DatasetImage:
        async with self._db.session() as session:
            image = await session.get(DatasetImage, image_id)
        if image is None:
            raise NotFound(f"image {image_id} does not exist")
        return image

    async def images(self, image_ids: list[int]) -> list[DatasetImage]:
        if not image_ids:
            return []
        query = select(DatasetImage).where(col(DatasetImage.id).in_(image_ids)).order_by(col(DatasetImage.id))
        async with self._db.session() as session:
            return list((await session.exec(query)).all())

    def _check_device(self, device: str | None) -> str | None:
        comfy_devices = self._settings.comfyui_devices
        if not comfy_devices:
            raise BackendUnavailable(
                "device",
                f"no device has a ComfyUI server; connect one on {CONNECTIONS_PAGE} (in use at once), or set "
                f"{COMFYUI_DEVICE_EXAMPLE}",
            )
        if device is not None and device not in comfy_devices:
            raise Invalid("device", f"'{device}' is not a ComfyUI device; choose one of {', '.join(comfy_devices)}")
        return device

    async def _reference_for(
        self, character: Character, ip_adapter_model: str | None, architecture: str, wanted: bool
    ) -> dict[str, Any] | None:
        # IP-Adapter only where the model profile names one (SD1.5 profiles): SDXL IP-Adapters are a
        # different model family, and the earlier system's cross-architecture attempts failed at run time.
        if not wanted or ip_adapter_model is None or architecture != "sd15":
            return None
        references = await self._characters.references(character.id)  # type: ignore[arg-type]
        if not references:
            return None
        first = references[0]
        return {"id": first.id, "content_hash": first.content_hash, "weight": self._settings.ip_adapter_weight}


class ImageJobHandler:
    """Runs `image.generate` jobs on a ComfyUI device and stores the results as pending dataset images."""

    kind = IMAGE_JOB

    def __init__(
        self, *, db: Database, clock: Clock, media: MediaStore, store: DatasetStore, curation: Curation
    ) -> None:
        self._db = db
        self._clock = clock
        self._media = media
        self._store = store
        self._curation = curation

    def memory_group(self, job: Job) -> str:
        return f"image:{job.payload['request']['checkpoint']}"

    async def prepare(self, job: Job, client: ComfyClient) -> dict[str, Any]:
        reference = job.payload.get("reference")
        image_name = None
        if reference:
            async with self._db.session() as session:
                row = await session.get(ReferenceImage, reference["id"])
            if row is None:
                raise Invalid("reference", "the character's reference image was deleted after the job was queued")
            data = await self._media.read(row.file_path)
            # Named by content and overwritten: the same reference maps to the same input file every time
            # (LoadImage reads the content, whatever the extension says).
            name = _reference_input_name(reference).rsplit("/", 1)[1]
            image_name = await client.upload_image(data, name, subfolder=REFERENCE_SUBFOLDER, overwrite=True)
        return build_image_workflow(_request(job, image_name))

    async def collect(self, job: Job, outcome: PromptOutcome, client: ComfyClient, device: str) -> dict[str, Any]:
        files = [f for f in outcome.outputs if f.is_image and f.type == "output"]
        if not files:
            raise Invalid("outputs", "ComfyUI finished without saving an image")
        payload = job.payload
        request = payload["request"]
        recipe = dict(payload)
        provenance_base = {
            **request,
            "style": payload.get("style"),
            "profile": payload.get("profile"),
            "pose": payload.get("pose", ""),
            "extra_prompt": payload.get("extra_prompt", ""),
            "reference_id": (payload.get("reference") or {}).get("id"),
            # Auto-correction's regeneration of a rejected image: which image and which strategies.
            **({"correction": payload["correction"]} if payload.get("correction") else {}),
            # Hash of the recipe's graph, without the per-job file name prefix: one recipe, one hash.
            "workflow_hash": workflow_hash(
                build_image_workflow(
                    dataclasses.replace(
                        _request(job, _reference_input_name(payload.get("reference"))),
                        filename_prefix=request["filename_prefix"],
                    )
                )
            ),
            "backend": client.base_url,
            "device": device,
            "gpu_seconds": outcome.seconds,
            "job_id": job.id,
            "prompt_id": outcome.prompt_id,
            "generated_at": self._clock.now().isoformat(),
            "studio_version": __version__,
        }
        async with self._db.session() as session:
            character = await session.get(Character, payload["character_id"])
        if character is None:
            raise Invalid("character", "the character was deleted while its image was generated")
        admissions = []
        for index, file in enumerate(files):
            source_ref = f"comfyui:{outcome.prompt_id}/{file.subfolder}/{file.filename}"
            # Collecting the same prompt again (a restart between saving and marking the job done) finds
            # the image saved before: its embedded provenance (and so its hash) would differ this time.
            existing = await self._saved_before(character.id, source_ref)  # type: ignore[arg-type]
            if existing is not None:
                admissions.append(Admission(existing, "already_present"))
                continue
            raw = await client.download(file)
            provenance = {**provenance_base, "output": file.filename, "output_index": index}
            data = await asyncio.to_thread(_png_with_provenance, raw, provenance)
            new = NewImage(
                data, GENERATED_SOURCE, source_ref, {**provenance, "recipe": recipe}, payload.get("derived_from_id")
            )
            admissions.append(await self._store.add(character, new, job.created_by))
        await self._curation.admit(admissions, job.created_by, interactive=job.priority == JobPriority.INTERACTIVE)
        return {"image_ids": [admission.image.id for admission in admissions]}

    async def _saved_before(self, character_id: int, source_ref: str) -> DatasetImage | None:
        query = select(DatasetImage).where(
            DatasetImage.character_id == character_id, DatasetImage.source_ref == source_ref
        )
        async with self._db.session() as session:
            return (await session.exec(query)).first()


def _png_with_provenance(raw: bytes, provenance: dict[str, Any]) -> bytes:
    checked = check_image(raw, "output")
    return embed_provenance(checked.data, provenance) if checked.media_type == "image/png" else checked.data


def _reference_input_name(reference: dict[str, Any] | None) -> str | None:
    """The `LoadImage` value of a job's reference image on the server (named by its content)."""
    if not reference:
        return None
    return f"{REFERENCE_SUBFOLDER}/ref_{reference['content_hash'][:24]}.png"


def _request_from(request: dict[str, Any], ip_adapter: IPAdapterRef | None = None) -> ImageRequest:
    """An image request from its stored form (a job payload's `request`); ValueError: a field out of range."""
    fields = dict(request)
    fields["loras"] = tuple(LoraRef(**lora) for lora in fields.get("loras") or ())
    fields.pop("ip_adapter", None)
    return ImageRequest(**fields, ip_adapter=ip_adapter)


def _request(job: Job, reference_image: str | None) -> ImageRequest:
    reference = job.payload.get("reference")
    ip_adapter = (
        IPAdapterRef(image=reference_image, weight=float(reference["weight"]))
        if reference and reference_image
        else None
    )
    # One prefix per run: ComfyUI answers an identical graph from its cache with the files of the earlier run,
    # which may be gone from its output folder by now; a new prefix re-runs only the save node.
    request = dict(job.payload["request"])
    request["filename_prefix"] = f"{request['filename_prefix']}_{job.id}-{job.attempts}"
    return _request_from(request, ip_adapter)
