"""Settings → Connections: add, edit, test and remove GPU boxes, and set the services' addresses and secrets.

Everything here is in force once saved (services.connections); values the environment sets are shown as
"set by the environment" and cannot be changed here. A secret field never shows a secret: it says whether one
is set, and typing replaces it.
"""

from __future__ import annotations

from typing import Any

from nicegui import ui

from components.backend_card import STATE_LABEL
from components.confirm import confirm, throwaway_dialog
from components.undo import offer_undo
from services.connections import SERVICES, Connections, DeviceView
from services.connections.probe import DeviceTest
from services.errors import StudioError
from studio.auth import Principal
from studio.config import DeviceSettings
from studio.root import Studio

ANCHOR = "connections"  # CONNECTIONS_URL: where "no device" notices elsewhere link to
DEVICE_URLS = {
    "comfyui_url": ("ComfyUI", "http://127.0.0.1:8188"),
    "llm_url": ("LLM server", "http://127.0.0.1:11434"),
    "ace_step_url": ("ACE-Step", "http://127.0.0.1:8001"),
    "framepack_url": ("FramePack (Gradio app)", "http://127.0.0.1:7860"),
    "framepack_f1_url": ("FramePack F1 (Gradio app)", "http://127.0.0.1:7861"),
}
# The LoRA trainer: folders on the studio's own machine (sd-scripts runs here, beside the studio).
DEVICE_FOLDERS = {
    "kohya_dir": ("kohya sd-scripts folder (trains LoRAs)", "/opt/sd-scripts"),
    "kohya_python": ("Its Python (default: the folder's venv/bin/python)", "/opt/sd-scripts/venv/bin/python"),
    "loras_dir": ("Its ComfyUI's loras folder, as this machine sees it", "/mnt/gpu1/ComfyUI/models/loras"),
    "checkpoints_dir": ("The checkpoints it trains on, as this machine sees them", "/mnt/gpu1/models/checkpoints"),
}
FIELD_LABELS = {
    "echo_brain_url": "Address",
    "jellyfin_url": "Address",
    "voice_service_url": "Address",
    "voice_service_api": "Protocol",
    "vault_addr": "Address",
    "vault_role_id": "AppRole role_id",
    "vault_mount": "KV v2 mount",
    "vault_path": "Secret path",
    "echo_brain_token": "Token",
    "jellyfin_api_key": "API key",
    "llm_api_key": "API key (OpenAI-compatible servers)",
    "vault_token": "Token",
    "vault_secret_id": "AppRole secret_id",
}
CHOICES = {"voice_service_api": ["gpt_sovits", "xtts"]}
ENVIRONMENT = "set by the environment"


def connections_section(studio: Studio, principal: Principal) -> None:
    """The whole Connections area of the Settings page."""
    ConnectionsSection(studio, principal.name).build()


class ConnectionsSection:
    def __init__(self, studio: Studio, actor: str) -> None:
        self.studio = studio
        self.connections: Connections = studio.connections
        self.actor = actor
        self.bodies: dict[str, ui.refreshable[[str], None]] = {}

    def build(self) -> None:
        with ui.column().classes("w-full gap-4").props(f"id={ANCHOR}").mark("connections"):
            with ui.row().classes("items-center w-full"):
                ui.label("GPU devices").classes("text-lg font-semibold")
                ui.space()
                ui.button("Connect a GPU box", icon="add", on_click=lambda: self.edit(None)).props("unelevated").mark(
                    "device-add"
                )
            self.devices()
            ui.label("Services").classes("text-lg font-semibold")
            with ui.row().classes("w-full gap-4 items-stretch"):
                for service in SERVICES:
                    self.service(service)

    # --- devices ---------------------------------------------------------------------------------

    @ui.refreshable_method
    def devices(self) -> None:
        views = self.connections.devices()
        if not views:
            ui.label(
                "No GPU box yet. Connect one to generate images, video, music and text: its ComfyUI, LLM, "
                "ACE-Step or FramePack address is enough."
            ).classes("opacity-80").mark("no-devices")
        for view in views:
            self.device_row(view)

    def device_row(self, view: DeviceView) -> None:
        device = view.device
        with ui.card().classes("w-full gap-1").mark(f"device-{device.name}"):
            with ui.row().classes("items-center w-full"):
                ui.label(device.name).classes("text-base font-semibold")
                if view.busy:
                    ui.badge(f"running {view.busy} job(s)").props("color=primary")
                ui.space()
                if view.source == "environment":
                    ui.label(ENVIRONMENT).classes("text-sm opacity-70").mark(f"device-environment-{device.name}")
                else:
                    ui.button("Edit", on_click=lambda: self.edit(device)).props("flat").mark(
                        f"device-edit-{device.name}"
                    )
                    ui.button("Remove", on_click=lambda: self.remove(device)).props("flat color=negative").mark(
                        f"device-remove-{device.name}"
                    )
            for field, (label, _example) in DEVICE_URLS.items():
                url = getattr(device, field)
                if url:
                    kind = f" ({device.llm_api})" if field == "llm_url" else ""
                    ui.label(f"{label}{kind}: {url}").classes("text-sm font-mono break-all")
            for field, (label, _example) in DEVICE_FOLDERS.items():
                folder = getattr(device, field)
                if folder is not None:
                    ui.label(f"{label.split(' (')[0]}: {folder}").classes("text-sm font-mono break-all")

    def edit(self, device: DeviceSettings | None) -> None:
        """The add/edit dialog: Test probes what is typed, Save puts it in force."""
        values: dict[str, Any] = (
            device.model_dump(mode="json") if device else {"llm_api": "ollama", "ace_step_api": "official"}
        )
        with throwaway_dialog() as dialog, ui.card().classes("min-w-[480px] gap-2").mark("device-dialog"):
            ui.label(f"Edit {device.name}" if device else "Connect a GPU box").classes("text-lg font-semibold")
            name = ui.input("Name", value=values.get("name") or "", placeholder="e.g. rtx3060").classes("w-full")
            name.mark("device-name")
            if device:
                name.disable()  # the name is the device's identity in job rows
            inputs: dict[str, Any] = {}
            for field, (label, example) in DEVICE_URLS.items():
                inputs[field] = (
                    ui.input(label, value=values.get(field) or "", placeholder=example)
                    .classes("w-full")
                    .mark(f"device-{field}")
                )
                if field == "llm_url":
                    inputs["llm_api"] = ui.select(
                        {"ollama": "Ollama", "openai": "OpenAI-compatible (llama.cpp, vLLM, LM Studio)"},
                        value=values["llm_api"],
                        label="LLM protocol",
                    ).classes("w-full")
                if field == "ace_step_url":
                    inputs["ace_step_api"] = ui.select(
                        {"official": "ACE-Step API server", "wrapper": "the earlier studio's wrapper"},
                        value=values["ace_step_api"],
                        label="ACE-Step protocol",
                    ).classes("w-full")
            for field, (label, example) in DEVICE_FOLDERS.items():
                inputs[field] = (
                    ui.input(label, value=values.get(field) or "", placeholder=example)
                    .classes("w-full")
                    .mark(f"device-{field}")
                )
            problem = ui.label("").classes("text-sm text-negative").mark("device-problem")
            problem.set_visibility(False)
            result = ui.column().classes("w-full gap-1").mark("device-test-result")

            def typed() -> DeviceSettings | None:
                fields = {field: element.value or None for field, element in inputs.items()}
                try:
                    checked = Connections.validate_device((name.value or "").strip(), fields)
                except StudioError as exc:
                    problem.set_text(str(exc))
                    problem.set_visibility(True)
                    return None
                problem.set_visibility(False)
                return checked

            async def test() -> None:
                checked = typed()
                if checked is None:
                    return
                result.clear()
                with result:
                    ui.spinner()
                found = await self.studio.device_tester.test(checked)
                result.clear()
                with result:
                    test_result(found)

            async def save() -> None:
                checked = typed()
                if checked is None:
                    return
                try:
                    if device:
                        await self.connections.update_device(self.actor, checked)
                    else:
                        await self.connections.add_device(self.actor, checked)
                except StudioError as exc:
                    problem.set_text(str(exc))
                    problem.set_visibility(True)
                    return
                self.devices.refresh()
                ui.notify(f"Device {checked.name} saved: in use now")
                dialog.close()  # last: the closed dialog deletes itself, and this handler's slot with it

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button("Cancel", on_click=dialog.close).props("flat").mark("device-cancel")
                ui.button("Test", on_click=test).props("outline").mark("device-test")
                ui.button("Save", on_click=save).props("unelevated").mark("device-save")
        dialog.open()

    async def remove(self, device: DeviceSettings) -> None:
        if not await confirm(
            f"Remove {device.name}?", "Its workers stop; jobs queued for it wait for another device.", "Remove"
        ):
            return
        try:
            removed = await self.connections.remove_device(self.actor, device.name)
        except StudioError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        self.devices.refresh()

        async def undo() -> None:
            try:
                await self.connections.add_device(self.actor, removed)
            except StudioError as exc:
                ui.notify(str(exc), type="warning", multi_line=True)
            self.devices.refresh()

        offer_undo(f"Removed {device.name}", undo)

    # --- services --------------------------------------------------------------------------------

    def service(self, service: str) -> None:
        # One refreshable per card: refreshing a shared one with arguments would redraw every card as this one.
        body = ui.refreshable(self.service_body)
        self.bodies[service] = body
        with ui.card().classes("min-w-[320px] gap-2").mark(f"service-{service}"):
            body(service)

    def service_body(self, service: str) -> None:
        view = self.connections.service(service)
        ui.label(view.label).classes("text-base font-semibold")
        inputs: dict[str, Any] = {}
        for field, value in view.values.items():
            label = FIELD_LABELS.get(field, field)
            if field in CHOICES:
                element: Any = ui.select(CHOICES[field], value=value, label=label)
            else:
                element = ui.input(label, value=value or "")
            element.classes("w-full").mark(f"{service}-{field}")
            if field in view.environment:
                element.disable()
                element.props(f'hint="{ENVIRONMENT}"')
            else:
                inputs[field] = element
        secrets: dict[str, Any] = {}
        for name, is_set in view.secrets.items():
            label = FIELD_LABELS.get(name, name)
            element = (
                ui.input(label, password=True, password_toggle_button=True).classes("w-full").mark(f"{service}-{name}")
            )
            if name in view.environment:
                element.disable()
                element.props(f'hint="{ENVIRONMENT}"')
                continue
            element.props(f'hint="{"set; type to replace it" if is_set else "not set"}"')
            secrets[name] = element
            if is_set:
                ui.button(
                    f"Forget the {label.lower()}", on_click=lambda n=name: self.save_service(service, {n: None})
                ).props("flat dense size=sm").mark(f"{service}-{name}-forget")

        async def save() -> None:
            changes: dict[str, str | None] = {f: e.value or None for f, e in inputs.items()}
            changes |= {n: e.value for n, e in secrets.items() if e.value}  # empty: keep the one set
            await self.save_service(service, changes)

        if inputs or secrets:
            ui.button("Save", on_click=save).props("unelevated").mark(f"{service}-save")

    async def save_service(self, service: str, changes: dict[str, str | None]) -> None:
        try:
            await self.connections.update_service(self.actor, service, changes)
        except StudioError as exc:
            ui.notify(str(exc), type="warning", multi_line=True)
            return
        ui.notify(f"{SERVICES[service].label} saved: in use now")
        self.bodies[service].refresh()


def test_result(found: DeviceTest) -> None:
    """What Test found: each address's state, version and GPU memory, and the engines ready."""
    for status in found.backends:
        with ui.row().classes("items-center gap-2").mark(f"test-{status.kind}"):
            ui.label(f"{status.label}: {STATE_LABEL[status.state]}").classes(f"state-{status.state} font-semibold")
            if status.version:
                ui.label(f"version {status.version}")
        if status.detail:
            ui.label(status.detail).classes("text-sm opacity-80 break-words")
        for gpu in status.gpus:
            ui.label(f"{gpu.name}: {gpu.total_bytes / 1024**3:.1f} GiB").classes("text-sm")
        if status.loaded_models:
            ui.label("Models: " + ", ".join(status.loaded_models)).classes("text-sm")
    if found.preflight is not None and found.preflight.error:
        ui.label(found.preflight.error).classes("text-sm text-negative")
    if found.engines_ready:
        ui.label("Engines ready: " + ", ".join(found.engines_ready)).classes("text-sm").mark("test-engines")
    elif found.preflight is not None:
        ui.label("No engine is ready on it yet: see the Status page for what each lacks").classes("text-sm")
    if found.trainer is not None:
        with ui.column().classes("gap-0").mark("test-trainer"):
            verdict = "ready" if found.trainer.ok else "not ready"
            ui.label(f"LoRA trainer (kohya): {verdict}").classes(
                f"state-{'ok' if found.trainer.ok else 'down'} font-semibold"
            )
            for finding in found.trainer.findings:
                ui.label(finding).classes("text-sm break-words")
