"""columns fit what the studio accepts

Shot seeds go to 2^32-1 (a 32-bit column overflowed on PostgreSQL); free-text fields the API accepts at
200 characters, and the longest worker identity, get columns that hold them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, length before, length now)
WIDENED = (
    ("projects", "genre", 100, 200),
    ("storylines", "tone", 100, 200),
    ("storylines", "humor_style", 100, 200),
    ("world_settings", "time_period", 100, 200),
    ("model_profiles", "style_label", 100, 200),
    ("jobs", "claimed_by", 100, 200),
)


def upgrade() -> None:
    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.alter_column("seed", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)
    for table, column, before, now in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.VARCHAR(length=before), type_=sa.VARCHAR(length=now))


def downgrade() -> None:
    for table, column, before, now in WIDENED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(column, existing_type=sa.VARCHAR(length=now), type_=sa.VARCHAR(length=before))
    with op.batch_alter_table("shots", schema=None) as batch_op:
        batch_op.alter_column("seed", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True)
