"""The one handler of `lora.train` jobs: each job trains with the trainer its device has (runs.trainer_of) —
kohya sd-scripts on the studio's machine when the device names its folder, else the device's ComfyUI."""

from __future__ import annotations

from typing import Any

from services.errors import Invalid
from services.jobs.handlers import ProgressSink
from services.training.comfy_native import ComfyNativeTrainer
from services.training.kohya import KohyaTrainer
from services.training.runs import TRAIN_JOB, no_trainer_message, trainer_of
from studio.config import DeviceSettings
from studio.models import Job


class LoraTrainers:
    """A RemoteJobHandler: one worker per training device, which hands each job to the device's trainer."""

    kind = TRAIN_JOB
    app = "trainer"

    def __init__(self, *, kohya: KohyaTrainer, comfy: ComfyNativeTrainer) -> None:
        self.kohya = kohya
        self.comfy = comfy

    def app_url(self, device: DeviceSettings) -> str | None:
        return self.kohya.app_url(device) or self.comfy.app_url(device)

    async def run(self, job: Job, device: DeviceSettings, progress: ProgressSink) -> dict[str, Any]:
        trainer = trainer_of(device)  # chosen per job: the device's settings may have changed since it queued
        if trainer == "kohya":
            return await self.kohya.run(job, device, progress)
        if trainer == "comfyui":
            return await self.comfy.run(job, device, progress)
        raise Invalid("device", no_trainer_message(device))
