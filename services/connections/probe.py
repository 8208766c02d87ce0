"""Test before Save: probe a device's addresses live, with the Status page's probes and ComfyUI preflight."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.backends import BackendMonitor, BackendStatus
from services.comfyui import DeviceCapabilities, DevicePreflight, StyleCheckpoint
from services.prompts import ModelProfile
from studio.config import DeviceSettings

# How long the trainer's Python may take to say its version (a cold venv on a network share is slow).
PYTHON_CHECK_SECONDS = 20.0


@dataclass(frozen=True)
class TrainerCheck:
    """What Test found of the device's LoRA trainer: the sd-scripts folder, its Python and the LoRA folder."""

    ok: bool
    findings: tuple[str, ...]  # one sentence each, problems first


@dataclass(frozen=True)
class DeviceTest:
    device: str
    backends: list[BackendStatus]
    preflight: DevicePreflight | None  # None: no ComfyUI address, or it did not answer the probe
    gradio_engines: frozenset[str]  # FramePack's own apps: ready when asked, not probed ahead
    trainer: TrainerCheck | None = None  # None: the device has no kohya_dir

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
        trainer = await check_trainer(device)
        return DeviceTest(device.name, statuses, preflight, frozenset(self._gradio_engines([device])), trainer)


async def check_trainer(device: DeviceSettings) -> TrainerCheck | None:
    """Whether the sd-scripts folder has its training scripts, its Python runs, and the LoRA folder can be
    written; None when the device does not train."""
    if device.kohya_dir is None:
        return None
    problems: list[str] = []
    found: list[str] = []
    folder = device.kohya_dir
    scripts = await asyncio.to_thread(lambda: [n for n in _SCRIPTS if is_file(folder / n)])
    if not scripts:
        problems.append(f"{folder} has no train_network.py: it is not a kohya sd-scripts folder")
    else:
        missing = [n for n in _SCRIPTS if n not in scripts]
        found.append(f"{folder} has {', '.join(scripts)}")
        if missing:
            problems.append(f"{folder} lacks {', '.join(missing)} (update sd-scripts to train SDXL LoRAs)")
    python = device.trainer_python
    assert python is not None  # kohya_dir is set
    version, error = await _python_version(python)
    if version is None:
        problems.append(f"its Python {python} does not run ({error}); set kohya_python to sd-scripts' Python")
    else:
        found.append(f"its Python {python} runs (Python {version})")
    loras = device.loras_dir
    if loras is not None:
        if await asyncio.to_thread(lambda: is_dir(loras) and os.access(loras, os.W_OK)):
            found.append(f"the LoRA folder {loras} can be written")
        else:
            problems.append(f"the LoRA folder {loras} does not exist or cannot be written by the studio")
    checkpoints = device.checkpoints_dir
    if checkpoints is not None:
        if await asyncio.to_thread(is_dir, checkpoints):
            found.append(f"the checkpoint folder {checkpoints} exists")
        else:
            problems.append(f"the checkpoint folder {checkpoints} does not exist on this machine")
    return TrainerCheck(ok=not problems, findings=(*problems, *found))


_SCRIPTS = ("train_network.py", "sdxl_train_network.py")


def is_file(path: Path) -> bool:
    """Path.is_file, False also for a path the system refuses (too long a name, no permission)."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False


async def _python_version(python: Path) -> tuple[str | None, str]:
    """(version, "") when `python` runs, else (None, why)."""
    try:
        process = await asyncio.create_subprocess_exec(
            str(python),
            "-c",
            "import platform; print(platform.python_version())",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return None, exc.strerror or str(exc)
    try:
        async with asyncio.timeout(PYTHON_CHECK_SECONDS):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return None, f"no answer in {PYTHON_CHECK_SECONDS:.0f} s"
    if process.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        return None, last[:300]
    return out.decode(errors="replace").strip() or "unknown version", ""
