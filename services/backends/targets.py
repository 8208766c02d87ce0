"""Which backends the settings ask the studio to watch, before any of them is probed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.backends.status import BackendKind, BackendStatus
from studio.config import COMFYUI_DEVICE_EXAMPLE, CONNECTIONS_PAGE, DeviceSettings, Settings

LlmApi = Literal["ollama", "openai"]

# Shown when no device is configured at all: the page to add one on, and a STUDIO_DEVICES value for the shell.
_LLM_EXAMPLE = '[{"name":"rx9070","llm_url":"http://127.0.0.1:11434","llm_api":"ollama"}]'
ADD_DEVICE = f"add one on {CONNECTIONS_PAGE}"

NOT_PROBED = "not probed yet"


@dataclass(frozen=True)
class Target:
    """One backend to watch: where it is and how to talk about it."""

    key: str
    kind: BackendKind
    label: str  # the row title
    service: str  # the name used inside sentences ("is Ollama running?")
    device: str | None
    url: str | None
    hint: str  # how to configure it, shown while `url` is None
    llm_api: LlmApi | None = None

    def unprobed(self) -> BackendStatus:
        """The row to show before (or instead of) probing."""
        if self.url is None:
            return self.status(state="not_configured", detail=self.hint)
        return self.status(state="down", detail=NOT_PROBED)

    def status(self, *, state: Literal["ok", "down", "not_configured"], detail: str) -> BackendStatus:
        return BackendStatus(
            key=self.key,
            kind=self.kind,
            label=self.label,
            device=self.device,
            url=self.url,
            state=state,
            version=None,
            detail=detail,
        )


def plan_targets(settings: Settings) -> list[Target]:
    """Every row of the status page, in display order: devices first, then the global services."""
    targets: list[Target] = []
    if not settings.devices:
        targets += _no_device_targets()
    for device in settings.devices:
        targets += device_targets(device)
    targets += _global_targets(settings)
    return targets


def _no_device_targets() -> list[Target]:
    return [
        Target(
            key="comfyui",
            kind="comfyui",
            label="ComfyUI",
            service="ComfyUI",
            device=None,
            url=None,
            hint=f"no GPU device is configured: {ADD_DEVICE}, or set {COMFYUI_DEVICE_EXAMPLE}",
        ),
        Target(
            key="llm",
            kind="llm",
            label="LLM (Ollama)",
            service="Ollama",
            device=None,
            url=None,
            hint=f"no GPU device is configured: {ADD_DEVICE}, or set STUDIO_DEVICES='{_LLM_EXAMPLE}'",
            llm_api="ollama",
        ),
    ]


def device_targets(device: DeviceSettings) -> list[Target]:
    name = device.name
    targets: list[Target] = []
    if device.comfyui_url:
        targets.append(_comfyui(name, device.comfyui_url, hint=""))
    if device.llm_url:
        targets.append(_llm(name, device.llm_url, device.llm_api))
    if device.ace_step_url:
        targets.append(
            Target(
                key=f"ace_step@{name}",
                kind="ace_step",
                label="ACE-Step",
                service="ACE-Step",
                device=name,
                url=device.ace_step_url,
                hint="",
            )
        )
    if not targets:
        # A device with no service at all is most likely a half-written entry: say which fields it needs.
        targets.append(
            _comfyui(
                name,
                None,
                hint=f"device '{name}' hosts no service: give it a ComfyUI, LLM or ACE-Step address on "
                f"{CONNECTIONS_PAGE} (or its comfyui_url, llm_url or ace_step_url in STUDIO_DEVICES)",
            )
        )
    return targets


def _comfyui(device: str, url: str | None, *, hint: str) -> Target:
    return Target(
        key=f"comfyui@{device}",
        kind="comfyui",
        label="ComfyUI",
        service="ComfyUI",
        device=device,
        url=url,
        hint=hint,
    )


def _llm(device: str, url: str, api: LlmApi) -> Target:
    return Target(
        key=f"llm@{device}",
        kind="llm",
        label="LLM (Ollama)" if api == "ollama" else "LLM (OpenAI-compatible)",
        service="Ollama" if api == "ollama" else "the LLM server",
        device=device,
        url=url,
        hint="",
        llm_api=api,
    )


def _global_targets(settings: Settings) -> list[Target]:
    return [
        Target(
            key="echo_brain",
            kind="echo_brain",
            label="Echo Brain",
            service="Echo Brain",
            device=None,
            url=settings.echo_brain_url,
            hint=f"connect it on {CONNECTIONS_PAGE}, or set STUDIO_ECHO_BRAIN_URL (e.g. http://127.0.0.1:8309), "
            "to use the Echo Brain assistant",
        ),
        Target(
            key="jellyfin",
            kind="jellyfin",
            label="Jellyfin",
            service="Jellyfin",
            device=None,
            url=settings.jellyfin_url,
            hint=f"connect it on {CONNECTIONS_PAGE}, or set STUDIO_JELLYFIN_URL (e.g. http://127.0.0.1:8096) and "
            "STUDIO_JELLYFIN_API_KEY, to publish episodes",
        ),
        Target(
            key="vault",
            kind="vault",
            label="Vault",
            service="Vault",
            device=None,
            url=settings.vault_addr,
            hint="set STUDIO_VAULT_ADDR (and STUDIO_VAULT_TOKEN, or STUDIO_VAULT_ROLE_ID and "
            "STUDIO_VAULT_SECRET_ID) to read secrets from Vault/OpenBao; they now come from settings",
        ),
    ]
