"""monitoring: drift counts older than an hour or two are summed per hour (``hourly`` rows)

Every existing row is a gateway flush's (``hourly`` false); the control plane's roll-up job
sums finished hours from then on, and keeps the ids of the flush rows it deleted in
``drift_folded_flushes`` for a few hours, so a gateway retrying a flush whose commit went
through unseen finds them. Downgrading keeps the hourly rows as rows of counts at their hour's
start, which an mlgate from before this revision sums in reports like any other, and drops the
ids, which that mlgate never reads.

Revision ID: 0013_drift_rollups
Revises: 0009_monitoring
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

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
    op.create_table(
        "drift_folded_flushes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_folded_flushes")),
    )
    with op.batch_alter_table("drift_folded_flushes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_folded_flushes_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_folded_flushes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drift_folded_flushes_at"))
    op.drop_table("drift_folded_flushes")
    with op.batch_alter_table("drift_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_counts_hourly_at")
        batch_op.drop_column("hourly")
