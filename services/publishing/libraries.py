"""The libraries the settings make available: always the folder library, Jellyfin when it has a folder."""

from __future__ import annotations

from services.publishing.folder import FolderLibrary
from services.publishing.jellyfin import JellyfinLibrary
from services.publishing.release import Library
from studio.config import Settings
from studio.secrets import SecretStore


def libraries(settings: Settings, secrets: SecretStore) -> dict[str, Library]:
    """`folder` always; `jellyfin` when both jellyfin_url and jellyfin_library_dir are set (a Jellyfin whose
    library folder this machine cannot see cannot be published to). A missing API key does not hide Jellyfin:
    publishing to it then says which setting to fill in."""
    found: dict[str, Library] = {"folder": FolderLibrary(settings.folder_library_dir, settings.library_file_mode)}
    if settings.jellyfin_url and settings.jellyfin_library_dir is not None:
        found["jellyfin"] = JellyfinLibrary(
            settings.jellyfin_url,
            secrets.get("jellyfin_api_key"),
            settings.jellyfin_library_dir,
            library_path=settings.jellyfin_library_path or str(settings.jellyfin_library_dir),
            file_mode=settings.library_file_mode,
            verify_seconds=settings.jellyfin_verify_seconds,
            connect_seconds=settings.backend_timeout_seconds,
            key_hint=_key_hint(secrets),
        )
    return found


def _key_hint(secrets: SecretStore) -> str:
    """Where the key to fix lives: the Vault key we read, or the setting."""
    if secrets.source("jellyfin_api_key") == "vault":
        return "the Vault key jellyfin_api_key"
    return "STUDIO_JELLYFIN_API_KEY (setting jellyfin_api_key) or the Vault key jellyfin_api_key"
