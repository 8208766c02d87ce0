"""The studio's settings: environment (`STUDIO_*`), an optional `.env` and an optional TOML file.

Every field carries a description and a default; `docs/settings.md` is generated from this module
(`python -m studio settings --markdown`) and a test fails when a field is undocumented or the
generated page is stale.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from studio.settings_file import read_in_app

ENV_PREFIX = "STUDIO_"
CONFIG_FILE_ENV = "STUDIO_CONFIG_FILE"
DEFAULT_CONFIG_FILE = "studio.toml"

# How a user adds a ComfyUI device, quoted wherever the studio says one is missing.
COMFYUI_DEVICE_EXAMPLE = 'STUDIO_DEVICES=\'[{"name":"rtx3060","comfyui_url":"http://127.0.0.1:8188"}]\''

# Where a person connects GPU boxes and services from the browser, named wherever one is missing.
CONNECTIONS_URL = "/settings#connections"
CONNECTIONS_PAGE = f"Settings → Connections ({CONNECTIONS_URL})"

CONTENT_RATINGS = ("G", "PG", "PG-13", "R", "NC-17")

_DEVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The Settings page's groups, in page order; every setting is in exactly one (a test checks).
SETTING_GROUPS: dict[str, tuple[str, ...]] = {
    "Connections": (
        "devices",
        "echo_brain_url",
        "echo_brain_token",
        "llm_api_key",
        "jellyfin_url",
        "jellyfin_api_key",
        "voice_service_url",
        "voice_service_api",
        "vault_addr",
        "vault_token",
        "vault_role_id",
        "vault_secret_id",
        "vault_mount",
        "vault_path",
    ),
    "Media": (
        "import_folders",
        "max_video_upload_mb",
        "video_max_frames",
        "video_interval_seconds",
        "video_scene_threshold",
        "dedup_hamming_threshold",
        "max_music_upload_mb",
    ),
    "Review": (
        "triage_min_side",
        "triage_blur_min",
        "triage_dark_below",
        "triage_bright_above",
        "nsfw_limits",
        "vision_model",
        "vision_device",
        "vision_reject_below",
        "vision_approve_at",
        "vision_timeout_seconds",
    ),
    "Tagging": ("tagger_model_dir", "tagger_general_threshold", "tagger_character_threshold"),
    "Training": ("training_min_images", "training_default_repeats"),
    "Voices": (
        "voice_source_max_minutes",
        "voice_min_silence_ms",
        "voice_speaker_similarity",
        "voice_match_similarity",
        "voice_language",
        "voice_service_samples_path",
    ),
    "Autopilot": (
        "autopilot_tick_seconds",
        "autopilot_failure_pause_minutes",
        "replenish_batch_size",
        "replenish_pending_buffer",
        "replenish_cooldown_seconds",
        "replenish_daily_limit",
        "replenish_max_active_jobs",
        "replenish_pause_after_rejects",
        "learning_min_confidence",
        "drift_window",
        "drift_drop",
        "drift_floor",
        "correction_daily_limit",
        "qc_min_score",
        "qc_max_attempts",
    ),
    "Generation": ("ip_adapter_weight", "story_model", "story_timeout_seconds", "music_timeout_seconds"),
    "Sound and assembly": ("voice_timeout_seconds", "assembly_preset", "assembly_crf", "loudness_target_lufs"),
    "Publishing": (
        "library_dir",
        "library_file_mode",
        "jellyfin_library_dir",
        "jellyfin_library_path",
        "jellyfin_verify_seconds",
    ),
    "Assistant": (
        "assistant_timeout_seconds",
        "assistant_max_tokens",
        "assistant_max_seconds",
        "assistant_history_chars",
    ),
    "Jobs": (
        "cpu_job_concurrency",
        "job_claim_poll_seconds",
        "comfyui_timeout_seconds",
        "backend_timeout_seconds",
        "status_refresh_seconds",
    ),
    "Access": ("trusted_networks", "trusted_proxies", "jwt_secret", "token_ttl_minutes"),
    "Server and storage": ("host", "port", "data_dir", "log_level", "database_url", "database_password"),
}

# Settings the app may change at once: every reader looks them up on the studio's settings object each time
# it uses them, so a new value counts from the next upload, review, assembly or answer.
LIVE_SETTINGS = frozenset(
    {
        "autopilot_tick_seconds",
        "autopilot_failure_pause_minutes",
        "replenish_batch_size",
        "replenish_pending_buffer",
        "replenish_cooldown_seconds",
        "replenish_daily_limit",
        "replenish_max_active_jobs",
        "replenish_pause_after_rejects",
        "learning_min_confidence",
        "drift_window",
        "drift_drop",
        "drift_floor",
        "correction_daily_limit",
        "qc_min_score",
        "qc_max_attempts",
        "max_video_upload_mb",
        "video_max_frames",
        "video_interval_seconds",
        "video_scene_threshold",
        "dedup_hamming_threshold",
        "max_music_upload_mb",
        "triage_min_side",
        "triage_blur_min",
        "triage_dark_below",
        "triage_bright_above",
        "nsfw_limits",
        "vision_model",
        "vision_reject_below",
        "vision_approve_at",
        "vision_timeout_seconds",
        "tagger_model_dir",
        "tagger_general_threshold",
        "tagger_character_threshold",
        "training_min_images",
        "training_default_repeats",
        "voice_source_max_minutes",
        "voice_min_silence_ms",
        "voice_speaker_similarity",
        "voice_match_similarity",
        "voice_language",
        "voice_service_samples_path",
        "ip_adapter_weight",
        "story_model",
        "story_timeout_seconds",
        "music_timeout_seconds",
        "assembly_preset",
        "assembly_crf",
        "loudness_target_lufs",
        "assistant_timeout_seconds",
        "assistant_max_tokens",
        "assistant_max_seconds",
        "assistant_history_chars",
        "status_refresh_seconds",
    }
)

# Settings the app may change for the next start: services copy them when the studio is built (workers,
# token service, library clients, logging). The rest (where the studio listens, its data, access, secrets)
# are set only where the studio starts, and connections on Settings → Connections: a mistake made in the
# browser there could lock the browser out.
RESTART_SETTINGS = frozenset(
    {
        "log_level",
        "token_ttl_minutes",
        "cpu_job_concurrency",
        "job_claim_poll_seconds",
        "comfyui_timeout_seconds",
        "backend_timeout_seconds",
        "voice_timeout_seconds",
        "library_file_mode",
        "jellyfin_verify_seconds",
    }
)


class DeviceSettings(BaseModel):
    """One GPU box (or one GPU in a box) and the services it hosts."""

    name: str = Field(description="Short device name used in job rows and on the status page, e.g. `rtx3060`.")
    comfyui_url: str | None = Field(None, description="ComfyUI server on this device, e.g. `http://127.0.0.1:8188`.")
    llm_url: str | None = Field(None, description="LLM server on this device (Ollama or OpenAI-compatible).")
    llm_api: Literal["ollama", "openai"] = Field(
        "ollama", description="Protocol of `llm_url`: `ollama` or `openai` (llama.cpp, vLLM, LM Studio)."
    )
    ace_step_url: str | None = Field(None, description="ACE-Step music server on this device.")
    ace_step_api: Literal["official", "wrapper"] = Field(
        "official",
        description="Protocol of `ace_step_url`: `official` (ACE-Step's API server: `/release_task`, "
        "`/query_result`) or `wrapper` (the earlier studio's `POST /generate`, `GET /status/{task_id}`).",
    )
    framepack_url: str | None = Field(
        None,
        description="FramePack's own Gradio app (`demo_gradio.py`) on this device, e.g. `http://127.0.0.1:7860`; "
        "an alternative to FramePack on ComfyUI.",
    )
    framepack_f1_url: str | None = Field(
        None,
        description="FramePack F1's own Gradio app (`demo_gradio_f1.py`) on this device, e.g. "
        "`http://127.0.0.1:7861`; an alternative to FramePack F1 on ComfyUI.",
    )
    kohya_dir: Path | None = Field(
        None,
        description="kohya sd-scripts folder on this machine (holds `train_network.py`) that trains LoRAs for "
        "this device, e.g. `/opt/sd-scripts`; unset: the device trains with its ComfyUI's own training nodes "
        "(0.3.41 or newer), or not at all without a ComfyUI. Checked when a run starts.",
    )
    kohya_python: Path | None = Field(
        None,
        description="The Python that runs sd-scripts; unset: `<kohya_dir>/venv/bin/python`.",
    )
    loras_dir: Path | None = Field(
        None,
        description="A folder this machine can write that this device's ComfyUI reads as `models/loras` (same box "
        "or a mounted share); registering a trained epoch copies the file there. Unset: the studio says what to "
        "copy where.",
    )
    checkpoints_dir: Path | None = Field(
        None,
        description="The folder on this machine that holds the checkpoints sd-scripts trains on (usually this "
        "device's ComfyUI `models/checkpoints`), so a run can name a style's checkpoint by file name. Unset: a "
        "run names the checkpoint's full path.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _DEVICE_NAME.match(value):
            raise ValueError("device names are 1-32 lowercase letters, digits, '-' or '_' (e.g. 'rtx3060')")
        if value == "cpu":
            raise ValueError("'cpu' is the built-in device for embedded engines; pick another name")
        return value

    @field_validator("comfyui_url", "llm_url", "ace_step_url", "framepack_url", "framepack_f1_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("kohya_dir", "kohya_python", "loras_dir", "checkpoints_dir", mode="before")
    @classmethod
    def _absolute_path(cls, value: Any) -> Any:
        # The studio and the trainer may start from different folders: only an absolute path means one place.
        if value is None or (isinstance(value, str) and value.strip() == ""):
            return None
        text = str(value).strip()
        if not all(ch.isprintable() for ch in text):
            raise ValueError("a folder path is one line of printable text")
        path = Path(text).expanduser()
        if not path.is_absolute():
            raise ValueError(f"'{value}' is not an absolute path such as /opt/sd-scripts")
        return path

    @property
    def trainer_python(self) -> Path | None:
        """The Python that runs sd-scripts (`kohya_python`, else the sd-scripts venv's)."""
        if self.kohya_python is not None:
            return self.kohya_python
        return self.kohya_dir / "venv" / "bin" / "python" if self.kohya_dir is not None else None


def _http_url(value: str | None) -> str | None:
    if value is None or value.strip() == "":
        return None
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"'{value}' is not an http(s) URL such as http://127.0.0.1:8188")
    return value


def _split_list(value: Any) -> Any:
    """Accept a JSON-ish list, a Python list or a comma-separated string (the usual env form)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            import json

            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Effective configuration; build it with `Settings()` (reads env, `.env` and the TOML file)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- serving -------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the studio listens on. Use 0.0.0.0 to serve the LAN.")
    port: int = Field(8401, ge=1, le=65535, description="TCP port of the studio's pages and REST API.")
    data_dir: Path = Field(
        Path("data"),
        description="Folder for the database, media, caches, generated keys and UI session storage. "
        "The studio never writes outside it.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log verbosity of the studio and its web server."
    )

    # --- storage -------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the database. Unset: SQLite at `<data_dir>/studio.db`. "
        "PostgreSQL: `postgresql+psycopg://user@host:5432/dbname` (the password may come from Vault).",
    )
    database_password: SecretStr | None = Field(
        None,
        description="Database password when it is not in the URL. Vault key `database_password` wins over it.",
    )

    # --- access --------------------------------------------------------------------------------
    trusted_networks: Annotated[list[IpNetwork], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, comma-separated) whose clients use the studio without logging in. "
        "Loopback is always trusted.",
    )
    trusted_proxies: Annotated[list[IpNetwork], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (CIDR, comma-separated) whose X-Forwarded-For / X-Real-IP headers are "
        "believed. Headers from any other peer are ignored.",
    )
    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 key for API tokens. Vault key `jwt_secret` wins; unset everywhere: generated once "
        "into `<data_dir>/secrets/jwt.key` (mode 0600).",
    )
    token_ttl_minutes: int = Field(720, ge=5, le=60 * 24 * 30, description="Lifetime of API tokens (minutes).")

    # --- vault ---------------------------------------------------------------------------------
    vault_addr: str | None = Field(
        None, description="Vault/OpenBao address, e.g. `http://127.0.0.1:8200`. Unset: secrets come from settings."
    )
    vault_token: SecretStr | None = Field(None, description="Vault token (or use AppRole below).")
    vault_role_id: str | None = Field(None, description="Vault AppRole role_id (used when no token is set).")
    vault_secret_id: SecretStr | None = Field(None, description="Vault AppRole secret_id.")
    vault_mount: str = Field("secret", description="Mount point of the KV v2 engine holding the studio's secrets.")
    vault_path: str = Field("anime-studio", description="Path of the studio's secret inside the KV v2 mount.")

    # --- backends ------------------------------------------------------------------------------
    devices: list[DeviceSettings] = Field(
        default_factory=list,
        description="GPU devices and the services each hosts, as JSON in the env "
        '(`[{"name":"rtx3060","comfyui_url":"http://host:8188"}]`) or `[[devices]]` tables in TOML.',
    )
    echo_brain_url: str | None = Field(None, description="Echo Brain assistant, e.g. `http://127.0.0.1:8309`.")
    echo_brain_token: SecretStr | None = Field(None, description="Bearer token for Echo Brain, if it needs one.")
    assistant_timeout_seconds: float = Field(
        60.0,
        gt=0,
        le=600,
        description="How long the assistant may stay silent: the wait for Echo Brain's answer, or for the LLM's "
        "next streamed piece. The whole answer is bounded by `assistant_max_seconds`.",
    )
    assistant_max_tokens: int = Field(
        1024,
        ge=16,
        le=32768,
        description="Longest answer the assistant's LLM may write (tokens). A longer one is cut there, kept, and "
        "marked as cut.",
    )
    assistant_max_seconds: float = Field(
        180.0,
        gt=0,
        le=3600,
        description="Longest time one answer of the assistant (Echo Brain or the LLM) may take in all. An LLM answer "
        "still being written then is cut, kept and marked as cut.",
    )
    assistant_history_chars: int = Field(
        6000,
        ge=0,
        le=200_000,
        description="How much of a thread's earlier questions and answers goes with a new question (characters; "
        "the newest whole turns that fit). 0 sends none.",
    )
    jellyfin_url: str | None = Field(None, description="Jellyfin server for publishing, e.g. `http://127.0.0.1:8096`.")
    jellyfin_api_key: SecretStr | None = Field(
        None, description="Jellyfin API key (Dashboard → API Keys). Vault key `jellyfin_api_key` wins."
    )
    llm_api_key: SecretStr | None = Field(
        None, description="API key for OpenAI-compatible LLM servers. Vault key `llm_api_key` wins."
    )
    jellyfin_library_dir: Path | None = Field(
        None,
        description="Folder of the Jellyfin Shows library as this machine sees it; publishing to Jellyfin writes "
        "episodes there. Unset: publishing goes to the folder library only.",
    )
    jellyfin_library_path: str | None = Field(
        None,
        description="The same folder as Jellyfin sees it, when Jellyfin runs in a container with another mount "
        "point (e.g. `/media/anime`). Unset: the path of `jellyfin_library_dir`.",
    )
    jellyfin_verify_seconds: float = Field(
        60.0, gt=0, le=900, description="How long to wait for a published episode to show in Jellyfin's items."
    )
    library_dir: Path | None = Field(
        None,
        description="The folder library: published episodes in Jellyfin's TV layout (point a media server at it). "
        "Unset: `<data_dir>/library`. This and `jellyfin_library_dir` are the only folders outside the data "
        "dir the studio writes to, and only when you set them.",
    )
    library_file_mode: Literal["hardlink", "copy", "symlink"] = Field(
        "hardlink",
        description="How an episode's video enters a library: `hardlink` (instant, no extra space; copies when "
        "the library is on another file system), `copy`, or `symlink` (only for a media server that sees the "
        "studio's data dir at the same path).",
    )
    backend_timeout_seconds: float = Field(
        4.0, gt=0, le=60, description="Timeout of one reachability probe of a backend service."
    )
    status_refresh_seconds: float = Field(
        15.0, ge=2, le=3600, description="How often the status page re-probes the backends."
    )

    # --- jobs and generation ---------------------------------------------------------------------
    cpu_job_concurrency: int = Field(
        2, ge=1, le=32, description="How many jobs the built-in `cpu` device runs at once (ffmpeg, embedded models)."
    )
    job_claim_poll_seconds: float = Field(
        2.0,
        ge=0.2,
        le=60,
        description="How often an idle device worker looks for jobs queued by another studio process sharing "
        "the database (jobs queued by this process start at once).",
    )
    comfyui_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="How long a device worker waits for one answer of its ComfyUI (queueing a prompt, a cancel, "
        "an upload or download) before it counts the server as unreachable and tries again later (a cancel is "
        "sent again when the server answers).",
    )
    ip_adapter_weight: float = Field(
        0.8,
        ge=0.0,
        le=2.0,
        description="Strength of a character's reference image (IP-Adapter) in image generation, when the "
        "checkpoint's model profile names an IP-Adapter model.",
    )

    # --- autonomy: replenishment, learning, drift, auto-correction and the orchestrator ----------
    autopilot_tick_seconds: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="How often the autopilot looks at every project it runs (replenishment, drift and the "
        "orchestrator); decisions and job ends also wake it.",
    )
    autopilot_failure_pause_minutes: float = Field(
        15.0,
        ge=0,
        le=1440,
        description="How long a project's autopilot pauses after a job it launched failed (a backend down or "
        "erroring), instead of retrying at once; a person can resume it earlier.",
    )
    replenish_batch_size: int = Field(
        3, ge=1, le=16, description="Images the replenishment loop generates for a character at a time."
    )
    replenish_pending_buffer: int = Field(
        3,
        ge=1,
        le=100,
        description="Replenishment waits while a character has this many images pending review.",
    )
    replenish_cooldown_seconds: float = Field(
        60.0, ge=0, le=86_400, description="Least time between two replenishment batches of one character."
    )
    replenish_daily_limit: int = Field(
        10,
        ge=0,
        le=10_000,
        description="Most images replenishment (and the orchestrator's training-data phase) generates per "
        "character per day (the day ends at midnight UTC).",
    )
    replenish_max_active_jobs: int = Field(
        6,
        ge=1,
        le=1_000,
        description="Most background image jobs (replenishment and auto-correction) queued or running at once, "
        "over the whole studio.",
    )
    replenish_pause_after_rejects: int = Field(
        5,
        ge=1,
        le=1_000,
        description="A character's replenishment pauses after this many rejections in a row; an approval resumes it.",
    )
    learning_min_confidence: Literal["low", "medium", "high"] = Field(
        "medium",
        description="Generation uses learned parameters (from approved and rejected images) only at this "
        "confidence or above: low under 10 reviewed images, medium under 25, high from 25.",
    )
    drift_window: int = Field(
        20, ge=5, le=1_000, description="How many of a character's latest reviewed images drift compares."
    )
    drift_drop: float = Field(
        0.1,
        ge=0,
        le=1,
        description="Drift: alert when the recent approval rate is this much below the character's history.",
    )
    drift_floor: float = Field(
        0.55, ge=0, le=1, description="Drift: alert when the recent approval rate falls below this."
    )
    correction_daily_limit: int = Field(
        5,
        ge=0,
        le=1_000,
        description="Most rejected images auto-correction regenerates per character per day.",
    )
    qc_min_score: float = Field(
        0.3,
        ge=0,
        le=1,
        description="The orchestrator's video QC regenerates a shot scoring below this.",
    )
    qc_max_attempts: int = Field(
        3,
        ge=0,
        le=20,
        description="How often the orchestrator's video QC regenerates one scene's worst shot before it "
        "accepts it (the earlier system had no cap and looped forever).",
    )

    # --- datasets: ingestion, dedup, triage, vision review ---------------------------------------
    import_folders: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders the studio may import images from (comma-separated), besides `inbox` in the data "
        "folder, e.g. your ComfyUI output folder. Anything else is refused, so a folder scan cannot read the "
        "whole disk.",
    )
    max_video_upload_mb: int = Field(
        2048, ge=1, le=64 * 1024, description="Largest video file accepted for frame extraction (upload or URL), MB."
    )
    video_max_frames: int = Field(60, ge=1, le=2000, description="Most frames taken from one video.")
    video_interval_seconds: float = Field(
        2.0, gt=0, le=3600, description="A video frame is taken at least this often, besides scene changes."
    )
    video_scene_threshold: float = Field(
        0.3, gt=0, lt=1, description="ffmpeg scene-change score above which a video frame starts a new scene."
    )
    dedup_hamming_threshold: int = Field(
        6,
        ge=0,
        le=24,
        description="Two images whose 64-bit perceptual hashes differ in at most this many bits are near "
        "duplicates (0: only identical hashes).",
    )
    triage_min_side: int | None = Field(
        None,
        ge=64,
        le=8192,
        description="Images whose shorter side is below this many pixels are rejected as small. Unset: the "
        "`min_side` of the model profile the image was generated with, or else of the project's default style "
        "(256 px for SD 1.5 and 512 px for SDXL as shipped), so no image a valid style generates is too small.",
    )
    triage_blur_min: float = Field(
        30.0,
        ge=0,
        description="Sharpness (variance of the Laplacian at 512 px) below which an image is rejected as blurry.",
    )
    triage_dark_below: float = Field(
        0.08, ge=0, le=1, description="Mean brightness (0-1) below which an image is rejected as too dark."
    )
    triage_bright_above: float = Field(
        0.97, ge=0, le=1, description="Mean brightness (0-1) above which an image is rejected as washed out."
    )
    nsfw_limits: dict[str, float] = Field(
        default_factory=lambda: {"G": 0.15, "PG": 0.3, "PG-13": 0.5, "R": 0.85, "NC-17": 1.0},
        description="Highest NSFW score (0-1, open_nsfw) an image may have, per project content rating; "
        "above it the image is rejected.",
    )
    vision_model: str = Field(
        "gemma3:12b", min_length=1, description="LLM with image input that reviews dataset images."
    )
    vision_device: str | None = Field(
        None, description="Device whose `llm_url` serves vision review; unset: the first device with an LLM."
    )
    vision_reject_below: float = Field(
        0.4, ge=0, le=1, description="Vision review scores below this are rejected automatically."
    )
    vision_approve_at: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Vision review scores at or above this are approved automatically (solo human-like "
        "characters only; non-human characters always wait for a person).",
    )
    vision_timeout_seconds: float = Field(90.0, gt=0, le=900, description="Timeout of one vision review call.")
    tagger_model_dir: Path | None = Field(
        None,
        description="Folder of a WD14-format tagger, run on the `cpu` device to tag dataset images: `model.onnx` "
        "and `selected_tags.csv` from Hugging Face, e.g. SmilingWolf/wd-v1-4-convnext-tagger-v2 or a "
        "SmilingWolf/wd-*-tagger-v3 (download both files into one folder, e.g. `<data_dir>/taggers/wd-v3`). "
        "Unset: that tag source is off.",
    )
    tagger_general_threshold: float = Field(
        0.35, ge=0, le=1, description="Lowest tagger score (0-1) a general tag needs to be kept (WD14 and ComfyUI)."
    )
    tagger_character_threshold: float = Field(
        0.85, ge=0, le=1, description="Lowest tagger score (0-1) a character-name tag needs to be kept."
    )
    training_min_images: int = Field(
        20,
        ge=1,
        le=10_000,
        description="Fewest approved images a character needs before its training set is exported or trained "
        "(the earlier system demanded 100; 20 varied, well-captioned images already make a usable LoRA).",
    )
    training_default_repeats: int = Field(
        10,
        ge=1,
        le=1_000,
        description="How often each image is seen per epoch (kohya's `num_repeats`, the `10_` of a `10_<trigger> "
        "<class>` folder) when an export or a run does not say.",
    )
    story_model: str = Field(
        "gemma3:12b", min_length=1, description="LLM that breaks a storyline into scenes and shots (JSON output)."
    )
    story_timeout_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="How long the story model may take to write one plan of scenes (story to scenes).",
    )

    # --- sound and scene assembly ------------------------------------------------------------------
    voice_service_url: str | None = Field(
        None,
        description="HTTP voice-cloning service for characters whose voice engine is `http`, e.g. a GPT-SoVITS "
        "API at `http://127.0.0.1:9880`.",
    )
    voice_service_api: Literal["gpt_sovits", "xtts"] = Field(
        "gpt_sovits",
        description="Protocol of `voice_service_url`: `gpt_sovits` (`POST /tts`) or `xtts` "
        "(xtts-api-server, `POST /tts_to_audio/`).",
    )
    voice_timeout_seconds: float = Field(60.0, gt=0, le=600, description="Timeout of one line from the voice service.")
    voice_source_max_minutes: int = Field(
        90,
        ge=1,
        le=600,
        description="Longest video or audio a voice ingestion accepts (minutes); a longer source is refused before "
        "anything is cut.",
    )
    voice_min_silence_ms: int = Field(
        400,
        ge=100,
        le=5000,
        description="Shortest pause (ms) that ends a speech segment. Dialogue needs a short one: the VAD's own "
        "default (2000 ms) merges quick turns of two speakers into one segment.",
    )
    voice_speaker_similarity: float = Field(
        0.75,
        ge=0.3,
        le=0.99,
        description="How alike (cosine of voice embeddings, 0-1) two segments must sound to be grouped as one "
        "speaker. Higher splits a voice into more groups; lower merges similar voices.",
    )
    voice_match_similarity: float = Field(
        0.8,
        ge=0.3,
        le=0.99,
        description="How alike a speaker group must sound to a character's approved samples for the studio to "
        "propose that character.",
    )
    voice_language: str = Field(
        "",
        max_length=8,
        description="Language Whisper transcribes voice sources in (en, ja, ...). Empty: detected per source.",
    )
    voice_service_samples_path: str | None = Field(
        None,
        max_length=500,
        description="Where the voice-cloning server sees the studio's data folder, when it runs on another machine "
        "that mounts it (e.g. `/mnt/studio`): approved voice samples are sent to it as paths under this folder. "
        "Unset: the server runs here and reads the data folder's own paths.",
    )
    max_music_upload_mb: int = Field(100, ge=1, le=2000, description="Largest music file accepted for upload (MB).")
    music_timeout_seconds: float = Field(
        600.0, gt=0, le=3600, description="How long one ACE-Step generation may take before it counts as failed."
    )
    assembly_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow"] = Field(
        "veryfast", description="x264 preset of scene assembly: faster presets make larger files."
    )
    assembly_crf: int = Field(20, ge=0, le=51, description="x264 quality of scene assembly (lower is better).")
    loudness_target_lufs: float = Field(
        -16.0,
        ge=-31,
        le=-9,
        description="Integrated loudness of assembled scenes (EBU R128, LUFS); -16 suits streaming and Jellyfin.",
    )

    @field_validator("trusted_networks", "trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        value = _split_list(value)
        out = []
        for item in value or []:
            try:
                out.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError as exc:
                raise ValueError(f"'{item}' is not a network in CIDR form such as 192.168.50.0/24") from exc
        return out

    @field_validator("import_folders", mode="before")
    @classmethod
    def _folders(cls, value: Any) -> Any:
        return [Path(str(item)).expanduser() for item in _split_list(value) or []]

    @field_validator("nsfw_limits")
    @classmethod
    def _every_rating(cls, value: dict[str, float]) -> dict[str, float]:
        missing = [rating for rating in CONTENT_RATINGS if rating not in value]
        if missing:
            raise ValueError(f"give a limit for every content rating; missing: {', '.join(missing)}")
        if any(not 0 <= limit <= 1 for limit in value.values()):
            raise ValueError("NSFW limits are scores between 0 and 1")
        return value

    @field_validator("voice_language")
    @classmethod
    def _voice_language(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not re.fullmatch(r"[a-z]{2,3}", value):
            raise ValueError("a Whisper language is a code like en, ja or zh (empty: detect it)")
        return value

    @field_validator("voice_service_samples_path")
    @classmethod
    def _samples_path(cls, value: str | None) -> str | None:
        value = (value or "").strip().rstrip("/\\") or None
        if value is None:
            return None
        if any(not ch.isprintable() for ch in value) or not re.match(r"(/|[A-Za-z]:[/\\])", value + "/"):
            raise ValueError("give the folder as an absolute path on the voice server, e.g. /mnt/studio")
        return value

    @field_validator("echo_brain_url", "jellyfin_url", "vault_addr", "voice_service_url")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("library_dir", "jellyfin_library_dir", "tagger_model_dir")
    @classmethod
    def _absolute_library(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @model_validator(mode="after")
    def _unique_devices(self) -> Settings:
        names = [d.name for d in self.devices]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"device names must be unique; repeated: {', '.join(dupes)}")
        if self.vision_device is not None and self.vision_llm is None:
            raise ValueError(f"vision_device '{self.vision_device}' is not a device with an llm_url")
        return self

    @property
    def vision_llm(self) -> DeviceSettings | None:
        """The device whose LLM reviews dataset images, or None when no device has one."""
        with_llm = [d for d in self.devices if d.llm_url]
        if self.vision_device is not None:
            return next((d for d in with_llm if d.name == self.vision_device), None)
        return with_llm[0] if with_llm else None

    @property
    def comfyui_devices(self) -> dict[str, str]:
        """Device name -> ComfyUI URL, for the devices that host ComfyUI (in settings order)."""
        return {d.name: d.comfyui_url for d in self.devices if d.comfyui_url}

    @property
    def framepack_devices(self) -> dict[str, DeviceSettings]:
        """Device name -> device, for the devices that host FramePack's own Gradio app (in settings order)."""
        return {d.name: d for d in self.devices if d.framepack_url or d.framepack_f1_url}

    @property
    def ace_step_devices(self) -> dict[str, DeviceSettings]:
        """Device name -> device, for the devices that host an ACE-Step music server (in settings order)."""
        return {d.name: d for d in self.devices if d.ace_step_url}

    @property
    def folder_library_dir(self) -> Path:
        """Where the folder library publishes: the configured folder or `<data_dir>/library`."""
        return self.library_dir or self.data_dir / "library"

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite inside the data dir."""
        return self.database_url or f"sqlite:///{self.data_dir / 'studio.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments > environment > .env > TOML file > set in the app > defaults.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml = _toml_source(settings_cls)
        if toml is not None:
            sources.append(toml)
        sources.append(InAppSettingsSource(settings_cls, list(sources)))
        return tuple(sources)


def _toml_source(settings_cls: type[BaseSettings]) -> TomlConfigSettingsSource | None:
    toml_file = Path(os.environ.get(CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE))
    return TomlConfigSettingsSource(settings_cls, toml_file=toml_file) if toml_file.is_file() else None


class InAppSettingsSource(PydanticBaseSettingsSource):
    """The values changed in the app (`<data_dir>/settings.json`), for the settings the app may change.

    The data folder holding the file is itself a setting, so it is taken from the sources above this one.
    """

    def __init__(self, settings_cls: type[BaseSettings], above: list[PydanticBaseSettingsSource]) -> None:
        super().__init__(settings_cls)
        self._above = above

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        data_dir = next((found["data_dir"] for source in self._above if "data_dir" in (found := source())), None)
        folder = Path(data_dir if data_dir is not None else Settings.model_fields["data_dir"].default)
        return in_app_values(folder.expanduser().resolve())


def in_app_values(data_dir: Path) -> dict[str, Any]:
    """The values stored by the app, for the settings it may change (a hand-added other key is ignored)."""
    return {name: value for name, value in read_in_app(data_dir).items() if name in LIVE_SETTINGS | RESTART_SETTINGS}


def setting_sources(settings: Settings) -> dict[str, str]:
    """Where each setting not at its default came from: `environment`, `.env`, `TOML` or `set in the app`."""
    found = dict.fromkeys(in_app_values(settings.data_dir), "set in the app")
    toml = _toml_source(Settings)
    layers = [("TOML", toml)] if toml is not None else []
    layers += [(".env", DotEnvSettingsSource(Settings)), ("environment", EnvSettingsSource(Settings))]
    for label, source in layers:  # lowest precedence first: a higher one overwrites the label
        found.update(dict.fromkeys(source(), label))
    # Connections saved on Settings → Connections live in the database and are laid over the settings object
    # (services.connections): a connection off its default that no file or variable set was set there.
    for name in SETTING_GROUPS["Connections"]:
        if name not in found and getattr(settings, name) != Settings.model_fields[name].get_default(
            call_default_factory=True
        ):
            found[name] = "set in the app"
    return found


def describe_settings() -> list[dict[str, str]]:
    """One row per setting: env name, default, description, and whether it is a secret."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Path):
            default = str(default)
        elif isinstance(default, list) and not default:
            default = None
        rows.append(
            {
                "name": name,
                "env": ENV_PREFIX + name.upper(),
                "default": "" if default is None else str(default),
                "description": field.description or "",
                "secret": "yes" if _is_secret(field.annotation) else "",
            }
        )
    return rows


def _is_secret(annotation: Any) -> bool:
    return "SecretStr" in repr(annotation)


def settings_markdown() -> str:
    """The generated settings reference (docs/settings.md)."""
    lines = [
        "# Settings",
        "",
        "Generated by `python -m studio settings --markdown`; a test fails when it is stale.",
        "",
        f"Every setting is an environment variable (`{ENV_PREFIX}NAME`), a line in `.env`, or a key in the",
        f"TOML file named by `{CONFIG_FILE_ENV}` (default `{DEFAULT_CONFIG_FILE}` in the working folder).",
        "Precedence: environment > `.env` > TOML > Settings page > default. Secrets may instead come from",
        "Vault/OpenBao. *In the app*: `live` settings change on the Settings page and apply at once, `restart`",
        "ones change there and apply at the next start; the others are set only where the studio starts.",
        "",
        "| Variable | Default | Secret | In the app | Description |",
        "|---|---|---|---|---|",
    ]
    for row in describe_settings():
        default = f"`{row['default']}`" if row["default"] else "(unset)"
        description = row["description"].replace("|", "\\|")
        edit = setting_edit(row["name"])
        in_app = "" if edit == "fixed" else edit
        lines.append(f"| `{row['env']}` | {default} | {row['secret']} | {in_app} | {description} |")
    lines += ["", "## Device fields", "", "| Field | Default | Description |", "|---|---|---|"]
    for name, field in DeviceSettings.model_fields.items():
        default = field.get_default()
        shown = "(required)" if field.is_required() else (f"`{default}`" if default is not None else "(unset)")
        lines.append(f"| `{name}` | {shown} | {(field.description or '').replace('|', chr(92) + '|')} |")
    return "\n".join(lines) + "\n"


def setting_edit(name: str) -> Literal["live", "restart", "fixed"]:
    """How the app may change a setting: at once, for the next start, or not at all."""
    return "live" if name in LIVE_SETTINGS else ("restart" if name in RESTART_SETTINGS else "fixed")


def setting_group(name: str) -> str:
    return next(group for group, names in SETTING_GROUPS.items() if name in names)


def settings_view(settings: Settings) -> list[dict[str, str]]:
    """Effective values for display, secrets masked, with where each value came from and its group."""
    sources = setting_sources(settings)
    rows = []
    for row in describe_settings():
        value = getattr(settings, row["name"])
        if row["name"] == "database_url" and value is None:
            value = settings.effective_database_url
        if isinstance(value, SecretStr):
            shown = "•••••••• (set)"
        elif value is None:
            shown = ""
        elif isinstance(value, list):
            shown = ", ".join(str(v.name if isinstance(v, DeviceSettings) else v) for v in value)
        else:
            shown = str(value)
        source, edit = sources.get(row["name"], "default"), setting_edit(row["name"])
        # The app changes only what it may, and never what the environment, `.env` or TOML set (they win).
        editable = edit != "fixed" and source in ("default", "set in the app")
        rows.append(
            {
                **row,
                "value": shown,
                "source": source,
                "group": setting_group(row["name"]),
                "edit": edit,
                "editable": "yes" if editable else "",
            }
        )
    return rows
