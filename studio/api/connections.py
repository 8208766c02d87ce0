"""REST routes for connections: GPU devices and services added, tested and removed without a restart.

Values the environment or TOML file sets are listed with `source: environment` and refused on change (409).
Secrets are write-only: an answer says whether one is set, never what it is.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.connections import DeviceView, ServiceView
from services.connections.probe import DeviceTest
from studio.api.deps import current_principal
from studio.api.errors import errors
from studio.api.system import BackendOut, EngineOut
from studio.auth import Principal
from studio.config import DeviceSettings
from studio.root import Studio

Caller = Annotated[Principal, Depends(current_principal)]
DEVICE_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
DeviceName = Annotated[str, Path(pattern=DEVICE_NAME, description="The device's name, e.g. `rtx3060`.")]
Url = Annotated[str, StringConstraints(max_length=2000)]
Folder = Annotated[str, StringConstraints(max_length=1000)]


class DeviceFieldsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comfyui_url: Url | None = Field(None, description="ComfyUI server, e.g. `http://127.0.0.1:8188`.")
    llm_url: Url | None = Field(None, description="LLM server (Ollama or OpenAI-compatible).")
    llm_api: Literal["ollama", "openai"] = "ollama"
    ace_step_url: Url | None = Field(None, description="ACE-Step music server.")
    ace_step_api: Literal["official", "wrapper"] = "official"
    framepack_url: Url | None = Field(None, description="FramePack's own Gradio app.")
    framepack_f1_url: Url | None = Field(None, description="FramePack F1's own Gradio app.")
    kohya_dir: Folder | None = Field(None, description="kohya sd-scripts folder on the studio's machine (absolute).")
    kohya_python: Folder | None = Field(None, description="Its Python; unset: `<kohya_dir>/venv/bin/python`.")
    loras_dir: Folder | None = Field(None, description="The device's ComfyUI loras folder, as the studio sees it.")
    checkpoints_dir: Folder | None = Field(None, description="The checkpoints folder sd-scripts trains from.")


class DeviceIn(DeviceFieldsIn):
    name: str = Field(pattern=DEVICE_NAME, description="Short device name, e.g. `rtx3060` (not `cpu`).")


class ConnectedDeviceOut(BaseModel):
    name: str
    comfyui_url: str | None
    llm_url: str | None
    llm_api: str
    ace_step_url: str | None
    ace_step_api: str
    framepack_url: str | None
    framepack_f1_url: str | None
    kohya_dir: str | None
    kohya_python: str | None
    loras_dir: str | None
    checkpoints_dir: str | None
    source: Literal["environment", "app"] = Field(description="`environment`: read-only here; change it there.")
    busy: int = Field(description="Jobs its workers run now; a busy device cannot be changed or removed.")


class TrainerCheckOut(BaseModel):
    ok: bool = Field(description="The sd-scripts folder, its Python and the LoRA folder are usable.")
    findings: list[str] = Field(description="What was found, problems first.")


class DeviceTestOut(BaseModel):
    device: str
    backends: list[BackendOut] = Field(description="Each address probed: reachable, version, GPU memory, models.")
    preflight_error: str | None = Field(None, description="Why the ComfyUI server could not be asked what it runs.")
    engines: list[EngineOut] = Field(description="What its ComfyUI can run, and what it lacks.")
    engines_ready: list[str] = Field(description="Engine keys ready on it (ComfyUI's and FramePack's own apps).")
    trainer: TrainerCheckOut | None = Field(None, description="Its LoRA trainer; null when it has no kohya_dir.")


class SecretStateOut(BaseModel):
    set: bool


class ServiceOut(BaseModel):
    service: str
    label: str
    values: dict[str, str | None]
    secrets: dict[str, SecretStateOut] = Field(description="Whether each secret is set; never its value.")
    environment: list[str] = Field(description="Fields and secrets set by the environment (read-only here).")


class ConnectionsOut(BaseModel):
    devices: list[ConnectedDeviceOut]
    services: list[ServiceOut]


ServiceChanges = Annotated[
    dict[Annotated[str, StringConstraints(max_length=64)], Url | None],
    Body(
        description='Fields and secrets to set, e.g. `{"jellyfin_url": "http://host:8096", '
        '"jellyfin_api_key": "…"}`; a field left out keeps its value, `null` or "" clears it.',
        examples=[{"echo_brain_url": "http://127.0.0.1:8309"}],
    ),
]


def _device_out(view: DeviceView) -> ConnectedDeviceOut:
    return ConnectedDeviceOut(**view.device.model_dump(mode="json"), source=view.source, busy=view.busy)


def _service_out(view: ServiceView) -> ServiceOut:
    return ServiceOut(
        service=view.service,
        label=view.label,
        values=view.values,
        secrets={name: SecretStateOut(set=value) for name, value in view.secrets.items()},
        environment=list(view.environment),
    )


def _test_out(test: DeviceTest) -> DeviceTestOut:
    preflight = test.preflight
    return DeviceTestOut(
        device=test.device,
        backends=[BackendOut.model_validate(status) for status in test.backends],
        preflight_error=preflight.error if preflight is not None else None,
        engines=[EngineOut.model_validate(e) for e in preflight.engines] if preflight is not None else [],
        engines_ready=test.engines_ready,
        trainer=TrainerCheckOut(ok=test.trainer.ok, findings=list(test.trainer.findings)) if test.trainer else None,
    )


def connections_router(studio: Studio) -> APIRouter:
    router = APIRouter(tags=["connections"])
    connections = studio.connections

    def device_of(name: str, fields: DeviceFieldsIn) -> DeviceSettings:
        return connections.validate_device(name, fields.model_dump(exclude={"name"}))

    @router.get("/devices", response_model=list[ConnectedDeviceOut])
    async def list_devices() -> list[ConnectedDeviceOut]:
        return [_device_out(view) for view in connections.devices()]

    @router.post("/devices", response_model=ConnectedDeviceOut, status_code=201, responses=errors(409, 422))
    async def add_device(body: DeviceIn, caller: Caller) -> ConnectedDeviceOut:
        """Add a device; its workers start at once."""
        device = device_of(body.name, body)
        return _device_out(await connections.add_device(caller.name, device))

    @router.post("/devices/test", response_model=DeviceTestOut, responses=errors(422))
    async def test_device(body: DeviceIn) -> DeviceTestOut:
        """Probe a device's addresses live, saved or not: what answers, its version, GPU memory, models and the
        engines its ComfyUI is ready for."""
        return _test_out(await studio.device_tester.test(device_of(body.name, body)))

    @router.get("/devices/{name}", response_model=ConnectedDeviceOut, responses=errors(404, 422))
    async def get_device(name: DeviceName) -> ConnectedDeviceOut:
        return _device_out(connections.device(name))

    @router.put("/devices/{name}", response_model=ConnectedDeviceOut, responses=errors(404, 409, 422))
    async def update_device(name: DeviceName, body: DeviceFieldsIn, caller: Caller) -> ConnectedDeviceOut:
        """Change a device added in the app; refused (409) while its workers run a job."""
        return _device_out(await connections.update_device(caller.name, device_of(name, body)))

    @router.delete("/devices/{name}", response_model=ConnectedDeviceOut, responses=errors(404, 409, 422))
    async def remove_device(name: DeviceName, caller: Caller) -> ConnectedDeviceOut:
        """Remove a device added in the app and stop its workers; refused (409) while they run a job. Answers
        the removed device, so a client can add it back (Undo)."""
        removed = await connections.remove_device(caller.name, name)
        return ConnectedDeviceOut(**removed.model_dump(mode="json"), source="app", busy=0)

    @router.get("/connections", response_model=ConnectionsOut)
    async def list_connections() -> ConnectionsOut:
        return ConnectionsOut(
            devices=[_device_out(view) for view in connections.devices()],
            services=[_service_out(view) for view in connections.services()],
        )

    @router.put("/connections/{service}", response_model=ServiceOut, responses=errors(404, 409, 422, 503))
    async def update_service(
        service: Annotated[str, Path(max_length=32)], changes: ServiceChanges, caller: Caller
    ) -> ServiceOut:
        """Set a service's address and secrets; in force at once. Secrets go to Vault when it is in use,
        otherwise to the data folder (owner-only); 503 when Vault cannot take one."""
        return _service_out(await connections.update_service(caller.name, service, changes))

    return router
