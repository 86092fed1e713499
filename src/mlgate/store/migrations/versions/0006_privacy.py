"""privacy: secrets, request payloads, legal holds, processing purposes

Revision ID: 0006_privacy
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0006_privacy"
down_revision = "0001_foundation"
branch_labels = ("privacy",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=200), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint("name", name=op.f("uq_secrets_name")),
    )
    op.create_table(
        "request_payloads",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("categories", mlgate.store.base.JSONType, nullable=False),
        sa.Column("body", mlgate.store.base.JSONType, nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("key_ref", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_request_payloads")),
    )
    op.create_index(op.f("ix_request_payloads_at"), "request_payloads", ["at"], unique=False)
    op.create_index(
        op.f("ix_request_payloads_subject"), "request_payloads", ["subject"], unique=False
    )
    op.create_index(
        "ix_request_payloads_route_at", "request_payloads", ["route", "at"], unique=False
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
        sa.UniqueConstraint("kind", "target", name="uq_legal_holds_kind_target"),
    )
    op.create_table(
        "processing_purposes",
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("purposes", mlgate.store.base.JSONType, nullable=False),
        sa.Column("legal_basis", sa.String(length=200), nullable=False),
        sa.Column("updated_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("route", name=op.f("pk_processing_purposes")),
    )


def downgrade() -> None:
    op.drop_table("processing_purposes")
    op.drop_table("legal_holds")
    op.drop_index("ix_request_payloads_route_at", table_name="request_payloads")
    op.drop_index(op.f("ix_request_payloads_subject"), table_name="request_payloads")
    op.drop_index(op.f("ix_request_payloads_at"), table_name="request_payloads")
    op.drop_table("request_payloads")
    op.drop_table("secrets")
