"""The LLM the settings point at: the vision device's server (`vision_device`, else the first with an LLM)."""

from __future__ import annotations

from services.llm.client import LlmClient
from studio.config import Settings
from studio.secrets import SecretStore

LLM_DEVICE_EXAMPLE = 'STUDIO_DEVICES=\'[{"name":"rx9070","llm_url":"http://127.0.0.1:11434"}]\''


def configured_llm(settings: Settings, secrets: SecretStore, *, timeout: float | None = None) -> LlmClient | None:
    """A client for the configured LLM server (close it after use), or None when no device has one.

    The API key comes from the secret store, so a key kept in Vault (typed in Settings → Connections or put
    there by hand) counts like one from the environment or the data folder, as the Status page's probe sees it.
    """
    device = settings.vision_llm
    if device is None or device.llm_url is None:
        return None
    key = secrets.get("llm_api_key")
    return LlmClient(device.llm_url, device.llm_api, api_key=key, timeout=timeout or settings.vision_timeout_seconds)
