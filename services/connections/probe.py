"""Test before Save: probe a device's addresses live, with the Status page's probes and ComfyUI preflight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from services.backends import BackendMonitor, BackendStatus
from services.comfyui import DeviceCapabilities, DevicePreflight, StyleCheckpoint
from services.prompts import ModelProfile
from studio.config import DeviceSettings


@dataclass(frozen=True)
class DeviceTest:
    device: str
    backends: list[BackendStatus]
    preflight: DevicePreflight | None  # None: no ComfyUI address, or it did not answer the probe
    gradio_engines: frozenset[str]  # FramePack's own apps: ready when asked, not probed ahead

    @property
    def engines_ready(self) -> list[str]:
        ready = self.preflight.ready_engines if self.preflight is not None else []
        return [*ready, *sorted(self.gradio_engines - set(ready))]


class DeviceTester:
    def __init__(
        self,
        *,
        backends: BackendMonitor,
        capabilities: DeviceCapabilities,
        checkpoints: Callable[[], Awaitable[tuple[Sequence[StyleCheckpoint], Sequence[ModelProfile]]]],
        gradio_engines: Callable[[list[DeviceSettings]], set[str]],
    ) -> None:
        self._backends = backends
        self._capabilities = capabilities
        self._checkpoints = checkpoints  # the generation styles' checkpoints and the model profiles
        self._gradio_engines = gradio_engines

    async def test(self, device: DeviceSettings) -> DeviceTest:
        statuses = await self._backends.probe_device(device)
        preflight = None
        comfyui = next((s for s in statuses if s.kind == "comfyui"), None)
        if device.comfyui_url and comfyui is not None and comfyui.ok:
            styles, profiles = await self._checkpoints()
            preflight = await self._capabilities.check(device.name, device.comfyui_url, styles, profiles)
        return DeviceTest(device.name, statuses, preflight, frozenset(self._gradio_engines([device])))
