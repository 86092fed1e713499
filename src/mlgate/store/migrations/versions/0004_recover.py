"""recover: backup drills, incidents, incident timelines and tasks, runbooks

Revision ID: 0004_recover
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0004_recover"
down_revision = "0001_foundation"
branch_labels = ("recover",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backup_drills",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("backup_id", sa.String(length=100), nullable=False),
        sa.Column("dialect", sa.String(length=20), nullable=False),
        sa.Column("rto_seconds", sa.Float(), nullable=False),
        sa.Column("rpo_seconds", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("gateway_check", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_drills")),
    )
    with op.batch_alter_table("backup_drills", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backup_drills_at"), ["at"], unique=False)

    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("severity", sa.String(length=4), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("cause_key", sa.String(length=200), nullable=True),
        sa.Column("open_cause_key", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("opened_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stable_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("commander", sa.String(length=200), nullable=True),
        sa.Column("scribe", sa.String(length=200), nullable=True),
        sa.Column("communications", sa.String(length=200), nullable=True),
        sa.Column("affected_routes", mlgate.store.base.JSONType, nullable=False),
        sa.Column("affected_models", mlgate.store.base.JSONType, nullable=False),
        sa.Column("user_impact", sa.Boolean(), nullable=False),
        sa.Column("data_loss", sa.Boolean(), nullable=False),
        sa.Column("rollback", sa.Boolean(), nullable=False),
        sa.Column("postmortem", mlgate.store.base.JSONType, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("number", name=op.f("uq_incidents_number")),
        sa.UniqueConstraint("open_cause_key", name=op.f("uq_incidents_open_cause_key")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incidents_cause_key"), ["cause_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_incidents_status"), ["status"], unique=False)

    op.create_table(
        "incident_events",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", mlgate.store.base.JSONType, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_events_incident_seq", ["incident_id", "seq"], unique=True
        )

    op.create_table(
        "incident_tasks",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("incident_id", sa.String(length=26), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("due_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_tasks_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_tasks")),
    )
    op.create_table(
        "runbooks",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("routes", mlgate.store.base.JSONType, nullable=False),
        sa.Column("models", mlgate.store.base.JSONType, nullable=False),
        sa.Column("updated_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbooks")),
        sa.UniqueConstraint("name", name=op.f("uq_runbooks_name")),
    )


def downgrade() -> None:
    op.drop_table("runbooks")
    op.drop_table("incident_tasks")
    with op.batch_alter_table("incident_events", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_events_incident_seq")
    op.drop_table("incident_events")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incidents_status"))
        batch_op.drop_index(batch_op.f("ix_incidents_severity"))
        batch_op.drop_index(batch_op.f("ix_incidents_opened_at"))
        batch_op.drop_index(batch_op.f("ix_incidents_cause_key"))
    op.drop_table("incidents")
    with op.batch_alter_table("backup_drills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backup_drills_at"))
    op.drop_table("backup_drills")
