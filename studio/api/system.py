"""Health, identity and backend status."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from services.accounts import AccountError, LoginThrottled
from services.comfyui import TrainingReadiness
from services.jobs import WorkerState
from studio.api.deps import client_address, current_principal
from studio.api.errors import errors
from studio.auth import Principal
from studio.config import settings_view
from studio.root import Studio


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str = Field(description="sqlite or postgresql")
    migration: str | None = Field(description="Alembic revision of the schema in force")
    detail: str = ""


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")


class Me(BaseModel):
    name: str
    via: str = Field(description="network (trusted, no login), token or session")


class GpuOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    total_bytes: int
    free_bytes: int | None


class BackendOut(BaseModel):
    """One backend as the status page shows it (read straight from services.backends.BackendStatus)."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    kind: str
    label: str
    device: str | None
    url: str | None
    state: Literal["ok", "down", "not_configured"]
    version: str | None
    detail: str
    gpus: list[GpuOut]
    loaded_models: list[str]
    latency_ms: float | None
    previews: bool | None = Field(
        None, description="a ComfyUI that sends live preview frames (started with --preview-method auto)"
    )


class MissingNodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    class_type: str
    package: str
    replaces: str | None = Field(None, description="an installed pack registering the same nodes: remove it first")


class MissingModelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    folder: str
    name: str
    looked_in: str
    near: list[str]
    why: str


class EngineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    key: str
    label: str
    media: str
    ready: bool
    missing_nodes: list[MissingNodeOut]
    missing_models: list[MissingModelOut]


class TrainingNodesOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    generation: str = Field(description='"0.3.64" (node names of ComfyUI 0.3.41-0.3.64) or "v3" (after PR #10708)')
    folder_loader: str
    dataset: str
    trainer: str
    saver: str
    loss_graph: str | None


class TrainingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    ready: bool
    nodes: TrainingNodesOut | None = Field(description="the node names this server trains with; null: not ready")
    missing: list[str] = Field(description="what the server lacks, one entry per missing role")
    summary: str = Field(description="one sentence: ready with which names, or what to change on the server")


class CheckpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    style: str
    checkpoint: str
    present: bool
    near: list[str]
    vae: str | None = Field(None, description="the VAE file the style decodes with; null: the checkpoint's own")
    vae_present: bool = True
    vae_near: list[str] = Field(default_factory=list)


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    connected: bool
    in_flight: int
    last_error: str | None


class DeviceOut(BaseModel):
    name: str
    comfyui_url: str | None
    llm_url: str | None
    ace_step_url: str | None
    worker: WorkerOut | None = Field(description="the device's job worker (none for devices without ComfyUI)")
    preflight_error: str | None = Field(None, description="why the ComfyUI server could not be asked")
    engines: list[EngineOut] = Field(default_factory=list, description="what its ComfyUI can run, and what it lacks")
    checkpoints: list[CheckpointOut] = Field(default_factory=list, description="each generation style's checkpoint")
    training: TrainingOut | None = Field(None, description="whether its ComfyUI can train a LoRA with its own nodes")


class BackendsOut(BaseModel):
    backends: list[BackendOut]
    devices: list[DeviceOut]


class SettingOut(BaseModel):
    name: str
    env: str = Field(description="the environment variable that sets it")
    group: str = Field(description="the Settings page group it is shown in")
    value: str = Field(description="the effective value as text; secrets masked")
    default: str
    source: Literal["default", "environment", ".env", "TOML", "set in the app"]
    edit: Literal["live", "restart", "fixed"] = Field(
        description="`live`: a change applies at once; `restart`: a change is kept for the next start; "
        "`fixed`: set only where the studio starts"
    )
    editable: bool = Field(description="whether PUT may change it now (not fixed, not set by environment/TOML)")
    secret: bool
    description: str


class SettingsOut(BaseModel):
    settings: list[SettingOut]
    restart_needed: list[str] = Field(description="settings changed in the app that apply at the next start")


class SettingIn(BaseModel):
    value: Any = Field(description="the new value, as in the environment or TOML (numbers, text, objects)")


def _training_out(training: TrainingReadiness) -> TrainingOut:
    nodes = TrainingNodesOut.model_validate(training.nodes) if training.nodes is not None else None
    return TrainingOut(ready=training.ready, nodes=nodes, missing=list(training.missing), summary=training.describe())


def _settings_out(studio: Studio) -> SettingsOut:
    rows = [
        SettingOut(
            name=row["name"],
            env=row["env"],
            group=row["group"],
            value=row["value"],
            default=row["default"],
            source=row["source"],  # type: ignore[arg-type]
            edit=row["edit"],  # type: ignore[arg-type]
            editable=bool(row["editable"]),
            secret=bool(row["secret"]),
            description=row["description"],
        )
        for row in settings_view(studio.settings)
    ]
    return SettingsOut(settings=rows, restart_needed=studio.settings_editor.restart_needed())


def system_router(studio: Studio) -> APIRouter:
    router = APIRouter()

    @router.get("/health", response_model=Health, tags=["system"])
    async def health() -> Health:
        """Liveness for monitors: no login needed. 'degraded' when the database does not answer."""
        try:
            await studio.db.ping()
        except (SQLAlchemyError, OSError) as exc:
            return Health(
                status="degraded",
                version=studio.version,
                database=studio.db.kind,
                migration=studio.schema_revision,
                detail=f"database unreachable: {type(exc).__name__}",
            )
        return Health(status="ok", version=studio.version, database=studio.db.kind, migration=studio.schema_revision)

    @router.post("/auth/token", response_model=TokenResponse, tags=["auth"], responses=errors(400, 401, 429))
    async def token(body: TokenRequest, client: Annotated[str, Depends(client_address)]) -> TokenResponse:
        """Trade a user name and password for a bearer token (create users with `python -m studio user add`)."""
        try:
            account = await studio.accounts.authenticate(body.username, body.password, client, via="api")
        except LoginThrottled as exc:
            raise HTTPException(429, str(exc)) from exc
        except AccountError as exc:
            raise HTTPException(400, str(exc)) from exc
        if account is None:
            raise HTTPException(401, "wrong user name or password")
        return TokenResponse(
            access_token=studio.tokens.issue(account.name, account.access_generation),
            expires_in=int(studio.tokens.ttl.total_seconds()),
        )

    @router.post("/auth/revoke", status_code=204, tags=["auth"], responses=errors(400, 401))
    async def revoke(principal: Annotated[Principal, Depends(current_principal)]) -> None:
        """Sign your account out everywhere: every API token (this one included) and page session ends."""
        if principal.is_local:
            raise HTTPException(400, "trusted-network use has no account, so there is nothing to revoke")
        try:
            await studio.accounts.revoke(principal.name, actor=principal.name)
        except AccountError as exc:  # deleted between the guard's check and now
            raise HTTPException(401, str(exc)) from exc

    @router.get("/me", response_model=Me, tags=["auth"], responses=errors(401))
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> Me:
        """Who the studio thinks you are, and how it decided."""
        return Me(name=principal.name, via=principal.via)

    @router.get("/backends", response_model=BackendsOut, tags=["system"], responses=errors(401))
    async def backends(_: Annotated[Principal, Depends(current_principal)]) -> BackendsOut:
        """Every configured backend probed now, and per device its worker and what its ComfyUI can run.

        For an engine a server cannot run, `missing_nodes` names each node class and the custom-node
        package providing it; `missing_models` names each file, the listing it was looked for in and
        similar names that are there.
        """
        statuses, preflights = await asyncio.gather(studio.backends.probe_all(), studio.device_preflights())
        workers: dict[str, WorkerState] = {}
        for state in studio.workers.states():  # a device's ComfyUI worker comes first; FramePack's app's next
            workers.setdefault(state.device, state)
        checks = {p.device: p for p in preflights}
        devices = []
        for device in studio.settings.devices:
            check = checks.get(device.name)
            devices.append(
                DeviceOut(
                    name=device.name,
                    comfyui_url=device.comfyui_url,
                    llm_url=device.llm_url,
                    ace_step_url=device.ace_step_url,
                    worker=WorkerOut.model_validate(workers[device.name]) if device.name in workers else None,
                    preflight_error=check.error if check else None,
                    engines=[EngineOut.model_validate(e) for e in check.engines] if check else [],
                    checkpoints=[CheckpointOut.model_validate(c) for c in check.checkpoints] if check else [],
                    training=_training_out(check.training) if check and check.training else None,
                )
            )
        return BackendsOut(backends=[BackendOut.model_validate(s) for s in statuses], devices=devices)

    @router.get("/settings", response_model=SettingsOut, tags=["system"], responses=errors(401))
    async def settings(_: Annotated[Principal, Depends(current_principal)]) -> SettingsOut:
        """Every setting: its effective value (secrets masked), where it came from, and whether the app may
        change it at once (`live`), for the next start (`restart`) or not at all (`fixed`)."""
        return _settings_out(studio)

    @router.put("/settings/{name}", response_model=SettingsOut, tags=["system"], responses=errors(401, 404, 409, 422))
    async def change_setting(
        name: str, body: SettingIn, principal: Annotated[Principal, Depends(current_principal)]
    ) -> SettingsOut:
        """Change a setting the app may change, checked as the studio checks its configuration. A live one
        applies at once; another applies at the next start (`restart_needed` names it until then). Values
        set by the environment, `.env` or TOML win and are refused here (409)."""
        await studio.settings_editor.change(name, body.value, actor=principal.name)
        return _settings_out(studio)

    @router.delete(
        "/settings/{name}", response_model=SettingsOut, tags=["system"], responses=errors(401, 404, 409, 422)
    )
    async def reset_setting(name: str, principal: Annotated[Principal, Depends(current_principal)]) -> SettingsOut:
        """Forget the value set in the app: the default applies again (at once when the setting is live)."""
        await studio.settings_editor.reset(name, actor=principal.name)
        return _settings_out(studio)

    return router
