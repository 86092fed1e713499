"""gateway: routes and request-log metadata

Revision ID: 0005_gateway
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0005_gateway"
down_revision = "0001_foundation"
branch_labels = ("gateway",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("model_id", sa.String(length=26), nullable=False),
        sa.Column("spec", mlgate.store.base.JSONType, nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_routes_model_id_models"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routes")),
        sa.UniqueConstraint("name", name=op.f("uq_routes_name")),
    )
    op.create_index(op.f("ix_routes_model_id"), "routes", ["model_id"], unique=False)
    op.create_table(
        "request_logs",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("model", sa.String(length=63), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=30), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=26), nullable=True),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_logs")),
    )
    op.create_index(op.f("ix_request_logs_at"), "request_logs", ["at"], unique=False)
    op.create_index(op.f("ix_request_logs_subject"), "request_logs", ["subject"], unique=False)
    op.create_index("ix_request_logs_route_at", "request_logs", ["route", "at"], unique=False)


def downgrade() -> None:
    op.drop_table("request_logs")
    op.drop_table("routes")
