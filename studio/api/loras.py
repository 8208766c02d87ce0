"""REST routes for each character's registered LoRAs: list, register, switch, unregister, delete with Undo."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.training import LoraDraft, Registration
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.ids import RowId
from studio.models import CharacterLora
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]


class LoraOut(BaseModel):
    id: int
    character_id: int
    file_name: str = Field(description="The file as the devices' LoraLoader names it.")
    family: str = Field(description="sd15 or sdxl: what the LoRA loads on.")
    family_label: str = Field(description="The finer family (Illustrious, Pony, NoobAI); may be empty.")
    epoch: int | None
    trigger_word: str = Field(description="Put first in the character's positive prompts.")
    weight: float = Field(description="Default strength (model and CLIP).")
    metadata: dict[str, str] = Field(description="The file's own `ss_*` training metadata, when the studio has it.")
    run_id: int | None = Field(description="The training run that made it, if the studio trained it.")
    active: bool = Field(description="Loaded by the character's image generations (unless deleted).")
    deleted_at: datetime | None = Field(description="Set when deleted; restore undoes it.")
    created_at: datetime

    @classmethod
    def of(cls, lora: CharacterLora) -> LoraOut:
        return cls(
            id=lora.id,  # type: ignore[arg-type]
            character_id=lora.character_id,
            file_name=lora.file_name,
            family=lora.family,
            family_label=lora.family_label,
            epoch=lora.epoch,
            trigger_word=lora.trigger_word,
            weight=lora.weight,
            metadata={str(k): str(v) for k, v in (lora.file_metadata or {}).items()},
            run_id=lora.run_id,
            active=lora.active,
            deleted_at=lora.deleted_at,
            created_at=lora.created_at,
        )


class RegistrationOut(BaseModel):
    lora: LoraOut
    missing_on: list[str] = Field(description="ComfyUI devices whose loras folder does not list the file.")
    warning: str = Field(description="What to do about `missing_on`; empty when every device has the file.")

    @classmethod
    def of(cls, registration: Registration) -> RegistrationOut:
        return cls(
            lora=LoraOut.of(registration.lora),
            missing_on=list(registration.missing_on),
            warning=registration.warning,
        )


class DeactivatedOut(BaseModel):
    previous: LoraOut | None = Field(description="The LoRA that was active; null when none was.")


def loras_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["loras"])
    registry = studio.loras

    @router.get("/characters/{character_id}/loras", response_model=list[LoraOut], responses=errors(404))
    async def list_loras(character_id: RowId, _: Caller) -> list[LoraOut]:
        """The character's registered LoRAs, newest first (deleted ones are left out)."""
        return [LoraOut.of(lora) for lora in await registry.list(character_id)]

    @router.post(
        "/characters/{character_id}/loras",
        response_model=RegistrationOut,
        status_code=201,
        responses=errors(404, 409, 422),
    )
    async def register_lora(character_id: RowId, body: LoraDraft, caller: Caller) -> RegistrationOut:
        """Register a LoRA file the devices have and make it the character's active one (the previous one
        stays registered). 422 when its family cannot load on the character's style; a device that does not
        list the file is only warned about."""
        registration = await registry.register(character_id, body.file_name, actor=caller.name, **_fields(body))
        return RegistrationOut.of(registration)

    @router.post("/characters/{character_id}/loras/deactivate", response_model=DeactivatedOut, responses=errors(404))
    async def deactivate_lora(character_id: RowId, caller: Caller) -> DeactivatedOut:
        """Unregister: the character's generations load no LoRA (its LoRAs stay, to switch back to)."""
        previous = await registry.deactivate(character_id, caller.name)
        return DeactivatedOut(previous=LoraOut.of(previous) if previous is not None else None)

    @router.get("/characters/{character_id}/loras/{lora_id}", response_model=LoraOut, responses=errors(404))
    async def get_lora(character_id: RowId, lora_id: RowId, _: Caller) -> LoraOut:
        """One registered LoRA (also a deleted one, which restore brings back)."""
        return LoraOut.of(await registry.get(character_id, lora_id))

    @router.delete("/characters/{character_id}/loras/{lora_id}", response_model=LoraOut, responses=errors(404))
    async def delete_lora(character_id: RowId, lora_id: RowId, caller: Caller) -> LoraOut:
        """Delete a LoRA (soft: `POST .../restore` undoes it). A deleted active LoRA is no longer loaded."""
        return LoraOut.of(await registry.delete(character_id, lora_id, caller.name))

    @router.post(
        "/characters/{character_id}/loras/{lora_id}/activate", response_model=LoraOut, responses=errors(404, 409, 422)
    )
    async def activate_lora(character_id: RowId, lora_id: RowId, caller: Caller) -> LoraOut:
        """Switch the character to this LoRA. 422 when it is deleted or does not fit the character's style."""
        return LoraOut.of(await registry.activate(character_id, lora_id, caller.name))

    @router.post("/characters/{character_id}/loras/{lora_id}/restore", response_model=LoraOut, responses=errors(404))
    async def restore_lora(character_id: RowId, lora_id: RowId, caller: Caller) -> LoraOut:
        """Undo a delete."""
        return LoraOut.of(await registry.restore(character_id, lora_id, caller.name))

    return router


def _fields(body: LoraDraft) -> dict[str, object]:
    return body.model_dump(exclude={"file_name"})
