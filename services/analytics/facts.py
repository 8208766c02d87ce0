"""The query pieces learning and analytics share: which images are reviewed facts, their generation parameters,
the buckets those values are ranked in, and a tally of approvals turned into a rate with its confidence.

The facts are generated images (their provenance holds checkpoint, sampler, scheduler, steps, cfg and LoRAs; the
first five are also the image's own columns)
whose current state is approved or rejected by a person or the vision review. The image's current state is the
outcome, so an undone decision no longer counts and a re-decided image counts once, as it stands. Triage and
dedup decisions are left out: they judge the file (too small, blurry, a copy), not the parameters that made it.
Times are `decided_at`, which the decisions take from the studio's clock.

Nothing here imports services.autonomy: learning imports this module, and the two packages' __init__ modules
import their services eagerly, so an import back would be a cycle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import col

from services.datasets.store import GENERATED_SOURCE
from studio.models import ApprovalState, DatasetImage, Decider

# Decisions about the file rather than the picture (see the module docstring).
FILE_DECIDERS = (Decider.TRIAGE.value, Decider.DEDUP.value)
CFG_BUCKET = 0.5
# Rejected images whose categories are counted (the newest first), and reviewed images whose LoRAs are: JSON lists
# unnest differently on each database, so they are counted in Python over a sample, enough to be representative
# and bounded so a project with a long history still answers at once.
PATTERN_SAMPLE = 2000


# The generation parameters' image columns: admission copies them out of the provenance
# (studio.models.datasets.generation_parameters), so grouping and filtering read plain indexed columns instead of
# every row's JSON (and, unlike JSON paths, they carry no bound parameters to keep out of a GROUP BY).
PARAMETERS = {
    "checkpoint": col(DatasetImage.checkpoint),
    "sampler": col(DatasetImage.sampler),
    "scheduler": col(DatasetImage.scheduler),
    "steps": col(DatasetImage.steps),
    "cfg": col(DatasetImage.cfg),
}


def reviewed_images() -> list[ColumnElement[bool]]:
    """The conditions that make an image one of the facts (see the module docstring)."""
    return [
        col(DatasetImage.source) == GENERATED_SOURCE,
        col(DatasetImage.approval_state).in_((ApprovalState.APPROVED, ApprovalState.REJECTED)),
        col(DatasetImage.character_id).is_not(None),
        col(DatasetImage.decided_at).is_not(None),
        func.coalesce(DatasetImage.decided_by, "").not_in(FILE_DECIDERS),
    ]


def count_state(state_column: Any, state: ApprovalState) -> Any:
    """SUM of the facts in `state`, for a GROUP BY over them."""
    return func.sum(case((state_column == state, 1), else_=0))


def cfg_bucket(cfg: float | None) -> float | None:
    """cfg to the nearest 0.5 (a half rounds up): 6.8 and 7.1 are the same setting for learning."""
    return None if cfg is None else math.floor(cfg / CFG_BUCKET + 0.5) * CFG_BUCKET


def provenance_loras() -> Any:
    """The provenance's LoRA list ([{"name", "strength_model", ...}]) as JSON, for counting in Python."""
    return DatasetImage.provenance["loras"]  # type: ignore[index]


class utc_day(FunctionElement[str]):
    """The UTC day of a UtcDateTime column as 'YYYY-MM-DD' text, the same on both databases: SQLite holds the
    UTC time as ISO text (its first ten characters are the day), PostgreSQL a timestamptz, read in UTC whatever
    the session's time zone. No bound parameters, so it can be grouped on directly."""

    type = String()
    inherit_cache = True


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _utc_day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@dataclass
class Tally:
    """Approvals and scores of a group of facts, merged from the rows SQL grouped (raw values that fall in one
    bucket arrive as several rows)."""

    total: int = 0
    approved: int = 0
    score_sum: float = 0.0
    scored: int = 0

    def add(self, total: Any, approved: Any, score_sum: Any, scored: Any) -> None:
        self.total += int(total or 0)
        self.approved += int(approved or 0)
        self.score_sum += float(score_sum or 0.0)
        self.scored += int(scored or 0)

    @property
    def rate(self) -> float:
        return self.approved / self.total if self.total else 0.0

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.scored if self.scored else None


def tallied(approval_state: Any, quality_score: Any) -> list[Any]:
    """The aggregate columns a Tally adds up: total, approved, the scores' sum and how many were scored."""
    return [
        func.count().label("total"),
        count_state(approval_state, ApprovalState.APPROVED).label("approved"),
        func.sum(quality_score).label("score_sum"),
        func.count(quality_score).label("scored"),
    ]
