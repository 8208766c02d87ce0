"""Training results the studio uses: each character's registered LoRA files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from studio.models._base import created_at_field, json_field, optional_time_field, updated_at_field


class CharacterLora(SQLModel, table=True):
    """One LoRA file registered for a character. At most one row per character is `active`; its image
    generations load it unless it is deleted (`deleted_at`, kept for Undo: a restore brings it back as it was)."""

    __tablename__ = "character_loras"
    __table_args__ = (
        # One active LoRA per character, enforced by the database (partial unique index on both dialects).
        Index(
            "uq_character_loras_active",
            "character_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    character_id: int = Field(foreign_key="characters.id", index=True, ondelete="CASCADE")
    # The name ComfyUI's LoraLoader takes (`lora_name`): a path inside the devices' loras folder.
    file_name: str = Field(max_length=255)
    # sd15 or sdxl: what the LoRA can load on. `family_label` is the finer family (Illustrious, Pony, NoobAI).
    family: str = Field(max_length=16)
    family_label: str = Field(default="", max_length=64)
    epoch: int | None = None
    trigger_word: str = Field(default="", max_length=100)
    weight: float = 0.8
    # The file's own `ss_*` training metadata, when the studio holds the file (`metadata` is SQLModel's).
    file_metadata: dict[str, Any] = json_field(dict)
    # The training run that made it (training runs arrive with issue 21's trainer).
    run_id: int | None = None
    active: bool = False
    deleted_at: datetime | None = optional_time_field()
    created_at: datetime = created_at_field()


class TrainingRun(SQLModel, table=True):
    """One LoRA training of a character on a device: its parameters, where it is (mirroring its job), the
    loss curve and the epochs it saved (each a LoRA file and sample images in the media store)."""

    __tablename__ = "training_runs"
    __table_args__ = (
        # One queued or running run per character, enforced by the database (two starts at once: one wins).
        Index(
            "uq_training_runs_active",
            "character_id",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    character_id: int = Field(foreign_key="characters.id", index=True, ondelete="CASCADE")
    project_id: int = Field(index=True)
    device: str = Field(max_length=32)
    # What trains: "kohya" (sd-scripts on the device's machine) or "comfyui" (ComfyUI's own training nodes).
    trainer: str = Field(default="kohya", max_length=16)
    preset: str = Field(max_length=64)
    # services.training.presets.TrainingParams, with the run's overrides applied.
    params: dict[str, Any] = json_field(dict)
    state: str = Field(default="queued", max_length=16, index=True)
    job_id: int | None = Field(default=None, foreign_key="jobs.id", index=True, ondelete="SET NULL")
    epochs_total: int = 0
    epochs_done: int = 0
    step: int = 0
    steps_total: int = 0
    speed: str = Field(default="", max_length=32)
    eta_seconds: float | None = None
    # [[step, loss], ...], thinned as it grows (see services.training.runs.MAX_LOSS_POINTS).
    loss: list[Any] = json_field(list)
    # [{"epoch": n, "file": media path, "samples": [media paths], "loss": float | None}, ...]
    epochs: list[Any] = json_field(list)
    error: str | None = None
    log_path: str = Field(default="", max_length=500)
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    finished_at: datetime | None = optional_time_field()
