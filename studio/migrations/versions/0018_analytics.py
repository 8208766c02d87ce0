"""analytics

What the analytics reports need (issue 24): the generation parameters (checkpoint, sampler, scheduler, steps,
cfg) as the images' own columns, filled from the provenance of the images already there, so learning and analytics
group on columns rather than every row's JSON; a character's decided images by time (drift's and learning's
windows); covering indexes for a project's reports over time and its rankings, for per-character and checkpoint
tallies (cross-project, drift's totals), and for every project's reports over time; an image's regenerations and
corrections (lineage); and each character's decisions by state (replenishment's rejections in a row, slow on
PostgreSQL after a bulk import).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 22:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# studio.models.datasets.generation_parameters in SQL: names when they are text (cut to 200 characters), steps
# and cfg when they are numbers, steps rounded to whole (a half up) and kept when an INTEGER holds it.
_TEXT = ("checkpoint", "sampler", "scheduler")
_SQLITE = {
    **{
        name: f"CASE WHEN json_type(provenance, '$.{name}') = 'text' "
        f"THEN substr(json_extract(provenance, '$.{name}'), 1, 200) END"
        for name in _TEXT
    },
    # floor(y) as SQLite has it without its optional math functions: the cast truncates towards zero.
    "steps": "CASE WHEN json_type(provenance, '$.steps') IN ('integer', 'real') THEN ("
    "SELECT CASE WHEN y >= -2147483647 AND y < 2147483648 THEN CAST(y AS INTEGER) - (y < CAST(y AS INTEGER)) END "
    "FROM (SELECT json_extract(provenance, '$.steps') + 0.5 AS y)) END",
    "cfg": "CASE WHEN json_type(provenance, '$.cfg') IN ('integer', 'real') THEN json_extract(provenance, '$.cfg') END",
}
_POSTGRESQL = {
    **{
        name: f"CASE WHEN jsonb_typeof(provenance -> '{name}') = 'string' THEN left(provenance ->> '{name}', 200) END"
        for name in _TEXT
    },
    # Nested CASEs: PostgreSQL does not promise to test an AND's sides in order, and a cast of text would fail.
    "steps": "CASE WHEN jsonb_typeof(provenance -> 'steps') = 'number' THEN "
    "CASE WHEN floor((provenance -> 'steps')::numeric + 0.5) BETWEEN -2147483647 AND 2147483647 "
    "THEN floor((provenance -> 'steps')::numeric + 0.5)::integer END END",
    "cfg": "CASE WHEN jsonb_typeof(provenance -> 'cfg') = 'number' THEN (provenance -> 'cfg')::float8 END",
}

# The covering indexes (see studio.models.datasets: what the reports read, so they need not read the rows).
_PROJECT_DECIDED = (
    *("project_id", "decided_at", "character_id", "approval_state", "source", "decided_by", "quality_score"),
    *("checkpoint", "sampler", "scheduler", "steps", "cfg"),
)
_CHARACTER_CHECKPOINT = (
    "character_id",
    "checkpoint",
    "approval_state",
    "source",
    "decided_by",
    "decided_at",
    "quality_score",
)
_STATE_DECIDED = ("approval_state", "decided_at", "character_id", "source", "decided_by", "quality_score")


def upgrade() -> None:
    with op.batch_alter_table("images", schema=None) as batch_op:
        for name in _TEXT:
            batch_op.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("steps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cfg", sa.Float(), nullable=True))
    values = _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE
    op.execute(f"UPDATE images SET {', '.join(f'{name} = {value}' for name, value in values.items())}")
    op.create_index("ix_images_character_decided", "images", ["character_id", "decided_at"], unique=False)
    op.create_index("ix_images_project_decided", "images", [*_PROJECT_DECIDED], unique=False)
    op.create_index("ix_images_character_checkpoint", "images", [*_CHARACTER_CHECKPOINT], unique=False)
    op.create_index("ix_images_state_decided", "images", [*_STATE_DECIDED], unique=False)
    op.create_index("ix_images_derived_from", "images", ["derived_from_id"], unique=False)
    op.create_index(
        "ix_review_decisions_character_state", "review_decisions", ["character_id", "state", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_review_decisions_character_state", table_name="review_decisions")
    op.drop_index("ix_images_derived_from", table_name="images")
    op.drop_index("ix_images_state_decided", table_name="images")
    op.drop_index("ix_images_character_checkpoint", table_name="images")
    op.drop_index("ix_images_project_decided", table_name="images")
    op.drop_index("ix_images_character_decided", table_name="images")
    with op.batch_alter_table("images", schema=None) as batch_op:
        for name in ("cfg", "steps", *reversed(_TEXT)):
            batch_op.drop_column(name)
