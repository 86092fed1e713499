"""monitoring: drift counts older than an hour or two are summed per hour (``hourly`` rows)

Every existing row is a gateway flush's (``hourly`` false); the control plane's roll-up job
sums finished hours from then on. Downgrading keeps the hourly rows as rows of counts at their
hour's start, which an mlgate from before this revision sums in reports like any other.

Revision ID: 0013_drift_rollups
Revises: 0009_monitoring
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_drift_rollups"
down_revision = "0009_monitoring"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drift_counts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hourly", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index("ix_drift_counts_hourly_at", ["hourly", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_counts_hourly_at")
        batch_op.drop_column("hourly")
