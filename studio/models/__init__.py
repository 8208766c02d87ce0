"""SQLModel tables. Alembic migrations (studio/migrations) own the schema; this is its Python face."""

from sqlmodel import SQLModel

from studio.models._base import utcnow
from studio.models.accounts import UserAccount, UserPreference
from studio.models.assistant import AssistantMessage
from studio.models.audit import AuditRecord
from studio.models.autonomy import (
    AutonomyDecision,
    Autopilot,
    CharacterTarget,
    DriftAlert,
    PipelineOverride,
    PipelineState,
)
from studio.models.connections import DeviceConnection, ServiceConnection
from studio.models.datasets import (
    ApprovalState,
    DatasetImage,
    Decider,
    DuplicateKind,
    ReviewDecision,
    VisionStatus,
)
from studio.models.jobs import Job, JobPriority, JobState
from studio.models.production import Episode, EpisodeScene, MusicTrack, Scene, Shot
from studio.models.prompting import ModelProfileRow, SpeciesRuleRow
from studio.models.story import Character, GenerationStyle, Project, ReferenceImage, Storyline, WorldSettings
from studio.models.tags import ImageTag, TagCategory, TagEdit, TagEditImage, TagSource
from studio.models.training import CharacterLora, TrainingRun
from studio.models.voices import VoiceSegment, VoiceSource, VoiceSpeaker

metadata = SQLModel.metadata

__all__ = [
    "ApprovalState",
    "AssistantMessage",
    "AuditRecord",
    "AutonomyDecision",
    "Autopilot",
    "Character",
    "CharacterLora",
    "CharacterTarget",
    "DatasetImage",
    "Decider",
    "DeviceConnection",
    "DriftAlert",
    "DuplicateKind",
    "Episode",
    "EpisodeScene",
    "GenerationStyle",
    "ImageTag",
    "Job",
    "JobPriority",
    "JobState",
    "ModelProfileRow",
    "MusicTrack",
    "PipelineOverride",
    "PipelineState",
    "Project",
    "ReferenceImage",
    "ReviewDecision",
    "Scene",
    "ServiceConnection",
    "Shot",
    "SpeciesRuleRow",
    "Storyline",
    "TagCategory",
    "TagEdit",
    "TagEditImage",
    "TagSource",
    "TrainingRun",
    "UserAccount",
    "UserPreference",
    "VisionStatus",
    "VoiceSegment",
    "VoiceSource",
    "VoiceSpeaker",
    "WorldSettings",
    "metadata",
    "utcnow",
]
