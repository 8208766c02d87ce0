"""The `music.generate` job: one piece on the ACE-Step server of the device whose worker took the job."""

from __future__ import annotations

from typing import Any

from services.errors import Invalid
from services.jobs import ProgressSink
from services.music.ace_step import AceStepClient
from services.music.library import MUSIC_JOB, MusicLibrary
from studio.config import DeviceSettings, Settings
from studio.models import Job


class MusicJobHandler:
    """Runs `music.generate` jobs on a device's ACE-Step server (one worker per device hosting it).

    Cancelling stops the polling; ACE-Step has no way to stop a task, so the server finishes it unobserved.
    The track is marked failed ("cancelled") by the library when the job's cancellation is announced.
    """

    kind = MUSIC_JOB
    app = "ace-step"

    def __init__(self, *, settings: Settings, library: MusicLibrary) -> None:
        self._settings = settings
        self._library = library

    def app_url(self, device: DeviceSettings) -> str | None:
        return device.ace_step_url

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        """Generate, store and attach the track. AceStepError: the server; Conflict: the track moved on."""
        if device.ace_step_url is None:
            raise Invalid("device", f"device {device.name} hosts no ACE-Step server (set its ace_step_url)")
        payload = job.payload
        try:
            caption, seconds = str(payload["caption"]), float(payload["seconds"])
            seed = None if payload.get("seed") is None else int(payload["seed"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid("payload", f"job {job.id} is not a music job ({exc})") from exc
        client = AceStepClient(device.ace_step_url, device.ace_step_api, self._settings.music_timeout_seconds)
        audio = await client.generate(caption, seconds, seed, progress)
        await progress(0.98, "storing the music")
        return await self._library.store_generated(job, audio, device.name)
