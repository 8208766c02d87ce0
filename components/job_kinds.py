"""What a job is in words, how long it has taken, and the scene, episode or character it belongs to."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.assembly import ASSEMBLY_JOB
from services.datasets.curation import REVIEW_JOB
from services.datasets.ingest import INGEST_IMAGES, INGEST_SCAN, INGEST_URL, INGEST_VIDEO
from services.episodes.assembly import EPISODE_ASSEMBLY_JOB
from services.episodes.publishing import EPISODE_PUBLISH_JOB
from services.generation.images import IMAGE_JOB
from services.music.library import MUSIC_JOB
from services.scenes.framepack_gradio import FRAMEPACK_GRADIO_JOB
from services.scenes.generation import SCENE_JOB
from services.scenes.video_job import VIDEO_JOB
from services.tags.taggers import COMFY_TAG_JOB
from services.tags.tagging import TAG_JOB
from services.training.runs import TRAIN_JOB
from services.voice.lines import VOICE_JOB
from studio.models import Job, JobState

KIND_NAMES = {
    IMAGE_JOB: "Image generation",
    REVIEW_JOB: "Image review",
    INGEST_IMAGES: "Image import",
    INGEST_VIDEO: "Frames from a video",
    INGEST_URL: "Download from a link",
    INGEST_SCAN: "Folder scan",
    SCENE_JOB: "Scene generation",
    VIDEO_JOB: "Shot video",
    FRAMEPACK_GRADIO_JOB: "Shot video (FramePack app)",
    ASSEMBLY_JOB: "Scene assembly",
    EPISODE_ASSEMBLY_JOB: "Episode assembly",
    EPISODE_PUBLISH_JOB: "Episode publishing",
    VOICE_JOB: "Voice line",
    MUSIC_JOB: "Music track",
    TAG_JOB: "Image tagging",
    COMFY_TAG_JOB: "Image tagging (ComfyUI)",
    TRAIN_JOB: "LoRA training",
}


def kind_name(kind: str) -> str:
    """The kind in words; a kind without a name yet still reads ("training.lora" → "Training lora")."""
    if kind in KIND_NAMES:
        return KIND_NAMES[kind]
    words = kind.replace(".", " ").replace("_", " ")
    return words[:1].upper() + words[1:]


def duration_text(job: Job, now: datetime) -> str:
    """How long the job ran (or has run so far), or how long it has waited for a device."""
    if job.started_at is None:
        return f"waiting {span_text((now - job.created_at).total_seconds())}" if job.state == JobState.QUEUED else ""
    end = job.finished_at or now
    return span_text((end - job.started_at).total_seconds())


def span_text(seconds: float) -> str:
    """A span of time in words a person reads at a glance: "42 s", "3 min 05 s", "2 h 07 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True)
class JobSubject:
    """What a job works on, with the page that shows it."""

    label: str
    address: str


def job_subject(job: Job) -> JobSubject | None:
    """The scene, episode, training run or character the job's payload names (None for a job of the whole
    studio)."""
    payload, project = job.payload or {}, job.project_id
    if project is None:
        return None
    if _is_uuid(payload.get("scene_id")):
        return JobSubject("scene", f"/scenes?project={project}&scene={payload['scene_id']}")
    if _is_uuid(payload.get("episode_id")):
        return JobSubject("episode", f"/episodes?project={project}&episode={payload['episode_id']}")
    run = payload.get("run_id")
    if job.kind == TRAIN_JOB and isinstance(run, int) and not isinstance(run, bool):
        return JobSubject("training run", f"/training?project={project}&run={run}")
    character = payload.get("character_id")
    if isinstance(character, int) and not isinstance(character, bool):
        return JobSubject("character", f"/characters?project={project}&character={character}")
    return None


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return value is not None
