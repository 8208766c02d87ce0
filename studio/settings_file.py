"""Settings changed in the app: `<data_dir>/settings.json`, read at every start under the environment, `.env`
and TOML (which win), and written atomically with owner-only permissions.

A file in the data folder, not a database table: the settings that need a restart (log level, token
lifetime, worker counts) are used before the database is opened, and a studio that cannot reach its
database still starts with them. Studio processes sharing a database share the data folder too (media
lives there), so they read the same file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

IN_APP_FILE = "settings.json"


class SettingsFileError(ValueError):
    """The file exists but is not a JSON object: the studio says where it is rather than guessing."""


def in_app_file(data_dir: Path) -> Path:
    return data_dir / IN_APP_FILE


def read_in_app(data_dir: Path) -> dict[str, Any]:
    """The stored values by setting name; empty when nothing was ever changed in the app."""
    path = in_app_file(data_dir)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SettingsFileError(f"{path} is unreadable ({exc}); fix or delete it and start again") from exc
    if not isinstance(values, dict):
        raise SettingsFileError(f"{path} must hold a JSON object of setting names and values; fix or delete it")
    return values


def write_in_app(data_dir: Path, values: dict[str, Any]) -> None:
    """Replace the stored values in one step: a crash leaves the old file or the new one, never half of it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    # mkstemp creates the file for its owner only (0600), and os.replace keeps that mode.
    handle, staged = tempfile.mkstemp(prefix=".settings-", suffix=".json", dir=data_dir)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(values, out, indent=2, sort_keys=True)
        os.replace(staged, in_app_file(data_dir))
    except BaseException:
        Path(staged).unlink(missing_ok=True)
        raise
