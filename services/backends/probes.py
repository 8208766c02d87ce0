"""One small probe per kind of backend: ask the cheapest read-only endpoint, turn the answer into a result.

A probe raises ProbeFailure when the backend cannot be used at all, and returns a ProbeResult otherwise;
`state="down"` in a result means "it answered, but is not usable" (a sealed Vault, a refused key), so the
version it reported can still be shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from services.backends.http import ProbeContext, as_dict, as_list, text_or_none
from services.backends.status import BackendKind, GpuMemory
from studio.secrets import SecretName

_GIB = 1024**3


@dataclass(frozen=True)
class ProbeResult:
    detail: str
    version: str | None = None
    state: Literal["ok", "down"] = "ok"
    gpus: tuple[GpuMemory, ...] = ()
    loaded_models: tuple[str, ...] = ()
    previews: bool | None = None  # ComfyUI sends live preview frames; None: not a ComfyUI or not told


Probe = Callable[[ProbeContext], Awaitable[ProbeResult]]


def gigabytes(size: int | float) -> str:
    # Binary gigabytes: a "12 GB" card reports 12 GiB, so this matches what is printed on the box.
    return f"{size / _GIB:.1f} GB"


def _secret_hint(ctx: ProbeContext, name: SecretName, env: str, *, refused: str, missing: str) -> str:
    """What to fix after a 401/403: the key we sent (and where it came from), or the key we lack."""
    source = ctx.secrets.source(name)
    if ctx.secrets.get(name) is None:
        return missing
    where = f"the Vault key {name}" if source == "vault" else env
    return f"{refused} — check {where}"


# --- ComfyUI ----------------------------------------------------------------------------------------


# ComfyUI sends sampler preview frames only when started with one of these `--preview-method`s; without the
# option (0.3.64's default is `none`) a job shows progress but never a picture until it is done.
PREVIEW_METHODS = ("auto", "latent2rgb", "taesd")
NO_PREVIEWS = "no live previews: start ComfyUI with --preview-method auto"


def comfyui_previews(argv: Any) -> bool | None:
    """Whether a ComfyUI started with `argv` (its `/system_stats` `system.argv`) sends preview frames;
    None when the server does not report its command line."""
    if not isinstance(argv, list):
        return None
    args = [str(arg) for arg in argv]
    method = "none"
    for index, arg in enumerate(args):  # argparse: the last occurrence wins, "--opt value" or "--opt=value"
        if arg == "--preview-method" and index + 1 < len(args):
            method = args[index + 1]
        elif arg.startswith("--preview-method="):
            method = arg.partition("=")[2]
    return method in PREVIEW_METHODS


async def probe_comfyui(ctx: ProbeContext) -> ProbeResult:
    _, body = await ctx.get_json("/system_stats")
    system = as_dict(as_dict(body).get("system"))
    if not system:
        raise ctx.shape_error("/system_stats", "a 'system' object")
    gpus = tuple(gpu for gpu in (_gpu(d) for d in as_list(body.get("devices"))) if gpu is not None)
    previews = comfyui_previews(system.get("argv"))
    summary = _comfyui_summary(gpus)
    return ProbeResult(
        detail=f"{summary}; {NO_PREVIEWS}" if previews is False else summary,
        version=text_or_none(system.get("comfyui_version")),
        gpus=gpus,
        previews=previews,
    )


def _gpu(device: Any) -> GpuMemory | None:
    device = as_dict(device)
    total = device.get("vram_total")
    if not isinstance(total, int):
        return None
    # "cuda:0 NVIDIA GeForce RTX 3060 : cudaMallocAsync": the part after " : " is the allocator, not the card.
    name = str(device.get("name") or device.get("type") or "device").split(" : ")[0].strip()
    free = device.get("vram_free")
    return GpuMemory(name=name, total_bytes=total, free_bytes=free if isinstance(free, int) else None)


def _comfyui_summary(gpus: tuple[GpuMemory, ...]) -> str:
    if not gpus:
        return "reachable; reported no devices"
    parts = [
        f"{gpu.name}: {gigabytes(gpu.free_bytes)} free of {gigabytes(gpu.total_bytes)}"
        if gpu.free_bytes is not None
        else f"{gpu.name}: {gigabytes(gpu.total_bytes)}"
        for gpu in gpus
    ]
    return "; ".join(parts)


# --- LLM servers ------------------------------------------------------------------------------------


async def probe_llm(ctx: ProbeContext) -> ProbeResult:
    if ctx.target.llm_api == "openai":
        return await _probe_openai(ctx)
    return await _probe_ollama(ctx)


async def _probe_ollama(ctx: ProbeContext) -> ProbeResult:
    _, version_body = await ctx.get_json("/api/version")
    version = text_or_none(as_dict(version_body).get("version"))
    if version is None:
        raise ctx.shape_error("/api/version", "a 'version'")
    _, ps_body = await ctx.get_json("/api/ps")
    models = [as_dict(m) for m in as_list(as_dict(ps_body).get("models"))]
    names = tuple(str(m.get("name") or m.get("model")) for m in models if m.get("name") or m.get("model"))
    return ProbeResult(detail=_ollama_summary(models), version=version, loaded_models=names)


def _ollama_summary(models: list[dict[str, Any]]) -> str:
    if not models:
        return "no model loaded (Ollama loads one on the first request)"
    parts = [f"{m.get('name') or m.get('model')} ({_ollama_memory(m)})" for m in models]
    if len(parts) == 1:
        return parts[0].replace(" (", " loaded (", 1)
    return f"{len(parts)} models loaded: " + ", ".join(parts)


def _ollama_memory(model: dict[str, Any]) -> str:
    size = model.get("size")
    vram = model.get("size_vram")
    if not isinstance(vram, int):
        return "memory use unknown"
    text = f"{gigabytes(vram)} in VRAM"
    # A model that does not fit in VRAM runs partly on the CPU, many times slower: worth pointing out.
    if isinstance(size, int) and size > vram:
        text += f", {gigabytes(size - vram)} in system RAM"
    return text


async def _probe_openai(ctx: ProbeContext) -> ProbeResult:
    # Users often configure the OpenAI base URL itself (".../v1"); accept both forms.
    path = "/models" if ctx.base_url.endswith("/v1") else "/v1/models"
    key = ctx.secrets.get("llm_api_key")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    hint = _secret_hint(
        ctx,
        "llm_api_key",
        "STUDIO_LLM_API_KEY",
        refused="the server refused the API key",
        missing="the server wants an API key — set STUDIO_LLM_API_KEY",
    )
    _, body = await ctx.get_json(path, headers=headers, auth_hint=hint)
    data = as_dict(body).get("data")
    if not isinstance(data, list):
        raise ctx.shape_error(path, "a 'data' list of models")
    ids = [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
    shown = ", ".join(ids[:3]) + (", …" if len(ids) > 3 else "")
    noun = "model" if len(ids) == 1 else "models"
    return ProbeResult(detail=f"{len(ids)} {noun} available" + (f": {shown}" if ids else ""))


# --- ACE-Step ---------------------------------------------------------------------------------------


async def probe_ace_step(ctx: ProbeContext) -> ProbeResult:
    _, body = await ctx.get_json("/health")
    body = as_dict(body)
    # The official 1.5 API server wraps every answer in {data, code, error}; plain wrappers answer bare JSON.
    payload = as_dict(body["data"]) if "data" in body else body
    error = body.get("error")
    status = str(payload.get("status") or "").lower()
    version = text_or_none(payload.get("version"))
    if error or status not in ("ok", "healthy"):
        reason = error or f"status '{payload.get('status')}'"
        return ProbeResult(state="down", version=version, detail=f"ACE-Step reports {reason}")
    initialized = payload.get("models_initialized")
    if initialized is False:
        detail = "ready; the music model loads with the first job"
    elif initialized is True:
        detail = "ready; music model loaded"
    else:
        detail = "ready"
    return ProbeResult(detail=detail, version=version)


# --- Echo Brain -------------------------------------------------------------------------------------


async def probe_echo_brain(ctx: ProbeContext) -> ProbeResult:
    token = ctx.secrets.get("echo_brain_token")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    hint = _secret_hint(
        ctx,
        "echo_brain_token",
        "STUDIO_ECHO_BRAIN_TOKEN",
        refused="Echo Brain refused the token",
        missing="Echo Brain wants a token — set STUDIO_ECHO_BRAIN_TOKEN",
    )
    _, body = await ctx.get_json("/health", headers=headers, auth_hint=hint)
    body = as_dict(body)
    status = str(body.get("status") or "").lower()
    version = text_or_none(body.get("version"))
    if status in ("healthy", "ok"):
        return ProbeResult(detail="healthy", version=version)
    if status == "degraded":
        # Still answers questions, just with some part missing: usable, but say so.
        return ProbeResult(detail="degraded (some Echo Brain features may fail)", version=version)
    detail = f"Echo Brain reports status '{body.get('status')}'"
    return ProbeResult(state="down", version=version, detail=detail)


# --- Jellyfin ---------------------------------------------------------------------------------------


def jellyfin_auth_header(api_key: str) -> dict[str, str]:
    """The only auth form current Jellyfin accepts (X-Emby-Token and friends were removed in 12)."""
    return {"Authorization": f'MediaBrowser Token="{api_key}"'}


async def probe_jellyfin(ctx: ProbeContext) -> ProbeResult:
    _, public = await ctx.get_json("/System/Info/Public")
    public = as_dict(public)
    version = text_or_none(public.get("Version"))
    if version is None:
        raise ctx.shape_error("/System/Info/Public", "a 'Version'")
    server = str(public.get("ServerName") or "Jellyfin")
    key = ctx.secrets.get("jellyfin_api_key")
    if not key:
        return ProbeResult(version=version, detail=f"{server}: publishing needs STUDIO_JELLYFIN_API_KEY")
    headers = jellyfin_auth_header(key)
    # Jellyfin answers a refused key with an empty 401, so only the status code matters here.
    status = (await ctx.get("/System/Info", headers=headers, accept_status=(401, 403))).status_code
    if status in (401, 403):
        hint = _secret_hint(
            ctx,
            "jellyfin_api_key",
            "STUDIO_JELLYFIN_API_KEY",
            refused=f"{server} refused the API key (make one under Dashboard → API Keys)",
            missing="",
        )
        return ProbeResult(state="down", version=version, detail=f"HTTP {status}: {hint}")
    return ProbeResult(version=version, detail=f"{server}: API key accepted")


# --- Vault ------------------------------------------------------------------------------------------

# /v1/sys/health encodes the node's state in the status code; all of these carry the JSON health body.
_VAULT_HEALTH_CODES = (429, 472, 473, 501, 503)


async def probe_vault(ctx: ProbeContext) -> ProbeResult:
    status, body = await ctx.get_json("/v1/sys/health", accept_status=_VAULT_HEALTH_CODES)
    body = as_dict(body)
    version = text_or_none(body.get("version"))
    if body.get("initialized") is False or status == 501:
        detail = f"not initialized — run `bao operator init` on {ctx.base_url}"
        return ProbeResult(state="down", version=version, detail=detail)
    if body.get("sealed") is True or status == 503:
        detail = f"sealed — unseal it (`bao operator unseal`) at {ctx.base_url}"
        return ProbeResult(state="down", version=version, detail=detail)
    count = len(ctx.secrets.vault_values)
    role = "standby node, unsealed" if status in (429, 473) or body.get("standby") else "unsealed"
    return ProbeResult(version=version, detail=f"{role}; {count} secret(s) read at start-up")


PROBES: dict[BackendKind, Probe] = {
    "comfyui": probe_comfyui,
    "llm": probe_llm,
    "ace_step": probe_ace_step,
    "echo_brain": probe_echo_brain,
    "jellyfin": probe_jellyfin,
    "vault": probe_vault,
}
