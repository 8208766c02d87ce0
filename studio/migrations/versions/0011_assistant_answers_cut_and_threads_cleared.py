"""assistant answers cut by a limit, cleared threads

An answer a token or time limit ended says which limit (`cut_reason`); a cleared thread keeps its messages,
marked with when they were cleared (`cleared_at`), so the record stays and the clearing can be undone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:06:50.955495
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import studio.models._base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assistant_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cut_reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("cleared_at", studio.models._base.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assistant_messages", schema=None) as batch_op:
        batch_op.drop_column("cleared_at")
        batch_op.drop_column("cut_reason")
