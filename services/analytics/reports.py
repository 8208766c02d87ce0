"""What each analytics report answers: plain dataclasses the page, the REST API and the CSV downloads share.

Each report knows its CSV (`csv_table`: a header and flat rows), so a download is the same numbers the chart
shows, whichever client asks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from services.prompts.params import Confidence

# What the "what to use" ranking groups reviewed images by.
Dimension = Literal["checkpoint", "sampler", "steps", "cfg", "lora"]
DIMENSIONS: tuple[Dimension, ...] = ("checkpoint", "sampler", "steps", "cfg", "lora")
# How an image came from the one before it in a lineage.
LineageKind = Literal["original", "regeneration", "correction"]

CsvTable = tuple[list[str], list[list[Any]]]


@dataclass(frozen=True)
class CharacterRef:
    id: int
    name: str
    project_id: int


@dataclass(frozen=True)
class TrendDay:
    day: date  # UTC
    approved: int
    rejected: int
    mean_score: float | None


@dataclass(frozen=True)
class CharacterTrend:
    character: CharacterRef
    days: list[TrendDay]  # one per day of QualityTrend.days


@dataclass(frozen=True)
class QualityTrend:
    days: list[date]  # oldest first, every day of the range
    total: list[TrendDay]  # every character in scope together
    characters: list[CharacterTrend]  # characters with a decision in the range, by name

    def csv_table(self) -> CsvTable:
        header = ["day", "character_id", "character", "approved", "rejected", "mean_score"]
        rows = [[d.day.isoformat(), "", "all", d.approved, d.rejected, d.mean_score] for d in self.total]
        for trend in self.characters:
            ref = trend.character
            rows += [[d.day.isoformat(), ref.id, ref.name, d.approved, d.rejected, d.mean_score] for d in trend.days]
        return header, rows


@dataclass(frozen=True)
class RankedValue:
    value: str  # the checkpoint's file, the sampler's name, "28" steps, "6.5" cfg, the LoRA's file
    approved: int
    total: int
    rate: float
    lower_bound: float  # Wilson 95%: the ranking
    confidence: Confidence
    mean_score: float | None


@dataclass(frozen=True)
class Rankings:
    by: Dimension
    values: list[RankedValue]  # best lower bound first
    reviewed: int  # reviewed images in scope behind the ranking

    def csv_table(self) -> CsvTable:
        header = [self.by, "approved", "total", "rate", "lower_bound", "confidence", "mean_score"]
        rows = [[v.value, v.approved, v.total, v.rate, v.lower_bound, v.confidence, v.mean_score] for v in self.values]
        return header, rows


@dataclass(frozen=True)
class ImageRef:
    """One image a drill-down lists (a ranking's rejected images), newest decision first."""

    id: int
    project_id: int
    character_id: int | None
    file_path: str  # in the media store
    content_hash: str  # names its cached thumbnail
    state: str
    quality_score: float | None
    categories: list[str]
    decided_at: datetime | None


def images_table(images: list[ImageRef]) -> CsvTable:
    """A drill-down's images as CSV (the list is the answer there, not a report object)."""
    header = [
        "image_id",
        "project_id",
        "character_id",
        "file_path",
        "state",
        "quality_score",
        "categories",
        "decided_at",
    ]
    rows = [
        [
            i.id,
            i.project_id,
            i.character_id,
            i.file_path,
            i.state,
            i.quality_score,
            " ".join(i.categories),
            i.decided_at,
        ]
        for i in images
    ]
    return header, rows


@dataclass(frozen=True)
class CategoryCount:
    category: str
    label: str
    count: int


@dataclass(frozen=True)
class CharacterRejections:
    character: CharacterRef
    rejected: int
    categories: list[CategoryCount]  # most frequent first


@dataclass(frozen=True)
class RejectionDay:
    day: date
    rejected: int
    categories: dict[str, int]  # category name -> count


@dataclass(frozen=True)
class Rejections:
    rejected: int  # rejected images in scope
    categories: list[CategoryCount]  # over the whole scope, most frequent first
    characters: list[CharacterRejections]
    days: list[RejectionDay]  # one per day of the range, oldest first
    # Rejected images whose categories were counted: the newest PATTERN_SAMPLE in scope (`rejected` is exact).
    sampled: int = 0

    def csv_table(self) -> CsvTable:
        header = ["character_id", "character", "category", "label", "count"]
        rows: list[list[Any]] = [["", "all", c.category, c.label, c.count] for c in self.categories]
        for entry in self.characters:
            ref = entry.character
            rows += [[ref.id, ref.name, c.category, c.label, c.count] for c in entry.categories]
        return header, rows


@dataclass(frozen=True)
class LineageNode:
    image_id: int
    parent_id: int | None  # the image it was made from; None for the root
    kind: LineageKind
    depth: int  # 0 for the root
    project_id: int  # for the link to the image on the Datasets page
    character_id: int | None
    file_path: str
    content_hash: str  # names its thumbnail
    state: str
    decided_by: str | None
    decided_at: datetime | None
    quality_score: float | None
    categories: list[str]  # its rejection categories
    strategies: list[str]  # a correction's strategies
    created_at: datetime


@dataclass(frozen=True)
class Lineage:
    image_id: int  # the image asked about
    root_id: int
    nodes: list[LineageNode]  # root first, then depth first, children oldest first
    truncated: bool  # the tree was cut at its depth or size bound

    def csv_table(self) -> CsvTable:
        header = ["image_id", "parent_id", "kind", "depth", "state", "decided_by", "decided_at", "quality_score"]
        rows = [
            [n.image_id, n.parent_id, n.kind, n.depth, n.state, n.decided_by, n.decided_at, n.quality_score]
            for n in self.nodes
        ]
        return header, rows


@dataclass(frozen=True)
class CoOccurrence:
    characters: list[CharacterRef]  # by name; the matrix's rows and columns
    counts: list[list[int]]  # counts[i][j]: shots with both; counts[i][i]: shots with i
    shots: int  # shots in scope

    def csv_table(self) -> CsvTable:
        header = ["character", *(c.name for c in self.characters)]
        rows = [[c.name, *row] for c, row in zip(self.characters, self.counts, strict=True)]
        return header, rows


@dataclass(frozen=True)
class ScreenTimeRow:
    episode_id: uuid.UUID
    episode_number: int
    episode_title: str
    character: CharacterRef
    seconds: float
    shots: int


@dataclass(frozen=True)
class ScreenTime:
    rows: list[ScreenTimeRow]  # by episode number, then most seconds first

    def csv_table(self) -> CsvTable:
        header = ["episode_number", "episode", "character_id", "character", "seconds", "shots"]
        rows = [
            [r.episode_number, r.episode_title, r.character.id, r.character.name, r.seconds, r.shots] for r in self.rows
        ]
        return header, rows


@dataclass(frozen=True)
class CharacterDataset:
    character: CharacterRef
    approved: int
    pending: int
    rejected: int
    target: int  # the approved images the autopilot aims at


@dataclass(frozen=True)
class DeviceHours:
    device: str
    gpu_hours: float
    jobs: int
    failed: int


@dataclass(frozen=True)
class ProjectHealth:
    project_id: int
    name: str
    characters: list[CharacterDataset]
    loras_trained: int  # characters' registered LoRAs
    training_runs_failed: int
    scenes: int
    scenes_generated: int  # every shot rendered
    scenes_assembled: int
    episodes: int
    episodes_published: int
    jobs_failed: int
    devices: list[DeviceHours]


@dataclass(frozen=True)
class Health:
    projects: list[ProjectHealth]

    def csv_table(self) -> CsvTable:
        header = [
            "project_id",
            "project",
            "characters",
            "approved",
            "target",
            "loras_trained",
            "scenes",
            "scenes_generated",
            "scenes_assembled",
            "episodes",
            "episodes_published",
            "jobs_failed",
            "gpu_hours",
        ]
        rows = [
            [
                p.project_id,
                p.name,
                len(p.characters),
                sum(c.approved for c in p.characters),
                sum(c.target for c in p.characters),
                p.loras_trained,
                p.scenes,
                p.scenes_generated,
                p.scenes_assembled,
                p.episodes,
                p.episodes_published,
                p.jobs_failed,
                round(sum(d.gpu_hours for d in p.devices), 3),
            ]
            for p in self.projects
        ]
        return header, rows


@dataclass(frozen=True)
class DriftRow:
    character: CharacterRef
    recent_samples: int
    recent_approval: float
    recent_score: float | None
    history_samples: int
    history_approval: float
    history_score: float | None
    alert: str | None  # the open drift alert's reason, if one is open


@dataclass(frozen=True)
class Drift:
    window: int  # the recent window (drift_window)
    rows: list[DriftRow]  # largest drop in approval first
    too_few: list[CharacterRef] = field(default_factory=list)  # characters without two windows of decisions

    def csv_table(self) -> CsvTable:
        header = [
            "character_id",
            "character",
            "recent_samples",
            "recent_approval",
            "recent_score",
            "history_samples",
            "history_approval",
            "history_score",
            "alert",
        ]
        rows = [
            [
                r.character.id,
                r.character.name,
                r.recent_samples,
                r.recent_approval,
                r.recent_score,
                r.history_samples,
                r.history_approval,
                r.history_score,
                r.alert or "",
            ]
            for r in self.rows
        ]
        return header, rows


@dataclass(frozen=True)
class CrossProjectRow:
    species: str
    project_id: int
    project_name: str
    character: CharacterRef
    checkpoint: str
    approved: int
    total: int
    rate: float
    lower_bound: float
    confidence: Confidence


@dataclass(frozen=True)
class CrossProject:
    species: list[str]  # the species compared (of the characters in scope)
    rows: list[CrossProjectRow]  # by species, then best lower bound first

    def csv_table(self) -> CsvTable:
        header = ["species", "project", "character", "checkpoint", "approved", "total", "rate", "lower_bound"]
        rows = [
            [r.species, r.project_name, r.character.name, r.checkpoint, r.approved, r.total, r.rate, r.lower_bound]
            for r in self.rows
        ]
        return header, rows
