"""readiness: attestations, assessment snapshots, technical-debt register

Revision ID: 0007_readiness
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0007_readiness"
down_revision = "0001_foundation"
branch_labels = ("readiness",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "readiness_attestations",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("version_id", sa.String(length=26), nullable=True),
        sa.Column("route", sa.String(length=63), nullable=True),
        sa.Column("item_id", sa.String(length=63), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("attested_by", sa.String(length=100), nullable=False),
        sa.Column("attested_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_readiness_attestations_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_attestations")),
    )
    with op.batch_alter_table("readiness_attestations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_readiness_attestations_route_item", ["route", "item_id"], unique=False
        )
        batch_op.create_index(
            "ix_readiness_attestations_version_item", ["version_id", "item_id"], unique=False
        )

    op.create_table(
        "readiness_assessments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("version_id", sa.String(length=26), nullable=False),
        sa.Column("assessed_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assessed_by", sa.String(length=100), nullable=False),
        sa.Column("final", sa.Float(), nullable=False),
        sa.Column("band", sa.Text(), nullable=False),
        sa.Column("sections", mlgate.store.base.JSONType, nullable=False),
        sa.Column("checklist_met", sa.Integer(), nullable=False),
        sa.Column("checklist_total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_readiness_assessments_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_assessments")),
    )
    with op.batch_alter_table("readiness_assessments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_readiness_assessments_version_at", ["version_id", "assessed_at"], unique=False
        )

    op.create_table(
        "readiness_debt",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("model_id", sa.String(length=26), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("impact", sa.String(length=10), nullable=False),
        sa.Column("effort", sa.String(length=10), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("due", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.String(length=130), nullable=True),
        sa.Column("source_item", sa.String(length=63), nullable=True),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_readiness_debt_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_debt")),
    )
    with op.batch_alter_table("readiness_debt", schema=None) as batch_op:
        batch_op.create_index(
            "ix_readiness_debt_model_source", ["model_id", "source_key"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_readiness_debt_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("readiness_debt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_readiness_debt_status"))
        batch_op.drop_index("ix_readiness_debt_model_source")
    op.drop_table("readiness_debt")
    with op.batch_alter_table("readiness_assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_readiness_assessments_version_at")
    op.drop_table("readiness_assessments")
    with op.batch_alter_table("readiness_attestations", schema=None) as batch_op:
        batch_op.drop_index("ix_readiness_attestations_version_item")
        batch_op.drop_index("ix_readiness_attestations_route_item")
    op.drop_table("readiness_attestations")
