"""Training: a character's approved, captioned images exported for the LoRA trainers, the runs that train LoRAs
from them, and the registered LoRAs its generations load."""

# --- export ---
from services.training.export import ExportedImage, TrainingExport, TrainingSet

# --- registered LoRAs ---
from services.training.loras import LoraChanged, LoraDraft, LoraRegistry, Registration

# --- training runs ---
from services.training.presets import PRESETS, TrainingOverrides, TrainingParams, TrainingPreset, preset
from services.training.runs import (
    TRAIN_JOB,
    EpochRegistration,
    TrainingRunChanged,
    TrainingRunProgressed,
    TrainingRuns,
)
from services.training.safetensors_meta import read_metadata

__all__ = [
    "PRESETS",
    "TRAIN_JOB",
    "EpochRegistration",
    "ExportedImage",
    "LoraChanged",
    "LoraDraft",
    "LoraRegistry",
    "Registration",
    "TrainingExport",
    "TrainingOverrides",
    "TrainingParams",
    "TrainingPreset",
    "TrainingRunChanged",
    "TrainingRunProgressed",
    "TrainingRuns",
    "TrainingSet",
    "preset",
    "read_metadata",
]
