"""monitoring: drift references per version and the gateway's binned drift counts

Revision ID: 0009_monitoring
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0009_monitoring"
down_revision = "0001_foundation"
branch_labels = ("monitoring",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drift_references",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("version_id", sa.String(length=26), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("features", mlgate.store.base.JSONType, nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_drift_references_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_references")),
        sa.UniqueConstraint("version_id", name=op.f("uq_drift_references_version_id")),
    )
    op.create_table(
        "drift_counts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("model", sa.String(length=63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reference_id", sa.String(length=26), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("unreadable", sa.Integer(), nullable=False),
        sa.Column("counts", mlgate.store.base.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_counts")),
    )
    with op.batch_alter_table("drift_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drift_counts_at"), ["at"], unique=False)
        batch_op.create_index("ix_drift_counts_route_at", ["route", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("drift_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_drift_counts_route_at")
        batch_op.drop_index(batch_op.f("ix_drift_counts_at"))
    op.drop_table("drift_counts")
    op.drop_table("drift_references")
