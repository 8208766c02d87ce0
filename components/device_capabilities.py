"""What one ComfyUI device can run: each engine ready or missing (with the exact nodes and model files),
whether it can train a LoRA with ComfyUI's own nodes, and each generation style's checkpoint."""

from __future__ import annotations

from nicegui import ui

from services.comfyui import CheckpointReadiness, DevicePreflight, EngineReadiness, TrainingReadiness


def device_capabilities(preflight: DevicePreflight) -> None:
    device = preflight.device
    with ui.card().classes("w-full gap-2").mark(f"capabilities-{device}"):
        with ui.row().classes("w-full items-center gap-2"):
            ui.icon("memory").classes("text-2xl opacity-70")
            ui.label(device).classes("text-lg font-semibold")
            ui.label(preflight.url).classes("text-xs font-mono opacity-70 break-all")
            ui.space()
            if preflight.error is None:
                ready = len(preflight.ready_engines)
                ui.label(f"{ready} of {len(preflight.engines)} engines ready").classes("text-sm")
        if preflight.error is not None:
            ui.label(f"Could not ask this server what it has: {preflight.error}").classes(
                "text-negative text-sm break-words"
            ).mark(f"preflight-error-{device}")
            return
        with ui.column().classes("w-full gap-1"):
            for engine in preflight.engines:
                _engine(device, engine)
            if preflight.training is not None:
                _training(device, preflight.training)
        ui.label("Generation styles").classes("font-medium mt-2")
        if not preflight.checkpoints:
            ui.label("No generation style yet (add one under Story & World → Generation styles).").classes(
                "text-sm opacity-70"
            )
        for checkpoint in preflight.checkpoints:
            _checkpoint(device, checkpoint)


def _engine(device: str, engine: EngineReadiness) -> None:
    with ui.column().classes("w-full gap-0").mark(f"engine-{device}-{engine.key}"):
        with ui.row().classes("items-center gap-2"):
            _ready_chip(engine.ready, "ready", "missing").mark(f"engine-state-{device}-{engine.key}")
            ui.label(engine.label).classes("text-sm")
            ui.label(engine.media).classes("text-xs opacity-60")
        for node in engine.missing_nodes:
            ui.label(f"missing {node.describe()}").classes("text-xs text-negative ml-8 break-words").mark(
                f"missing-node-{device}-{engine.key}"
            )
        for model in engine.missing_models:
            ui.label(model.describe()).classes("text-xs text-negative ml-8 break-words").mark(
                f"missing-model-{device}-{engine.key}"
            )


def _training(device: str, training: TrainingReadiness) -> None:
    with ui.column().classes("w-full gap-0").mark(f"training-{device}"):
        with ui.row().classes("items-center gap-2"):
            _ready_chip(training.ready, "ready", "missing").mark(f"training-state-{device}")
            ui.label("LoRA training (ComfyUI's own nodes)").classes("text-sm")
            ui.label("training").classes("text-xs opacity-60")
        if training.nodes is not None:
            nodes = training.nodes
            label = "V3 names" if nodes.generation == "v3" else "0.3.41-0.3.64 names"
            ui.label(f"{label}: {nodes.folder_loader} → {nodes.dataset} → {nodes.trainer} → {nodes.saver}").classes(
                "text-xs opacity-70 ml-8 break-words"
            )
        else:
            ui.label(training.describe()).classes("text-xs text-negative ml-8 break-words").mark(
                f"training-missing-{device}"
            )


def _checkpoint(device: str, checkpoint: CheckpointReadiness) -> None:
    with ui.row().classes("items-center gap-2").mark(f"checkpoint-{device}-{checkpoint.style}"):
        _ready_chip(checkpoint.ready, "present", "missing")
        vae = f" · VAE {checkpoint.vae}" if checkpoint.vae else ""
        ui.label(f"{checkpoint.style}: {checkpoint.checkpoint}{vae}").classes("text-sm")
        if not checkpoint.present:
            near = ", ".join(checkpoint.near) if checkpoint.near else "none with a similar name"
            ui.label(f"not in the server's checkpoints; similar files there: {near}").classes("text-xs text-negative")
        if not checkpoint.vae_present:
            near = ", ".join(checkpoint.vae_near) if checkpoint.vae_near else "none with a similar name"
            ui.label(f"VAE {checkpoint.vae} not in the server's vae folder; similar files there: {near}").classes(
                "text-xs text-negative"
            ).mark(f"missing-vae-{device}-{checkpoint.style}")


def _ready_chip(ok: bool, yes: str, no: str) -> ui.chip:
    return ui.chip(
        yes if ok else no, icon="check_circle" if ok else "error", color="positive" if ok else "negative"
    ).props("dense outline")
