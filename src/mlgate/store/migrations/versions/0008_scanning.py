"""scanning: artifact scans, signatures, dependency audits, security audits and waivers

Revision ID: 0008_scanning
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0008_scanning"
down_revision = "0001_foundation"
branch_labels = ("scanning",)
depends_on = None

_TABLES = ("artifact_scans", "artifact_signatures", "dependency_audits", "security_audits")


def _common(table: str) -> list[sa.SchemaItem]:
    return [
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("version_id", sa.String(length=26), nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f(f"fk_{table}_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "artifact_scans",
        *_common("artifact_scans"),
        sa.Column("scanner_version", sa.String(length=50), nullable=False),
        sa.Column("max_severity", sa.String(length=20), nullable=True),
        sa.Column("counts", mlgate.store.base.JSONType, nullable=False),
        sa.Column("findings", mlgate.store.base.JSONType, nullable=False),
        sa.Column("files", mlgate.store.base.JSONType, nullable=False),
    )
    with op.batch_alter_table("artifact_scans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_artifact_scans_version_at", ["version_id", "created_at"], unique=False
        )

    op.create_table(
        "artifact_signatures",
        *_common("artifact_signatures"),
        sa.Column("manifest", mlgate.store.base.JSONType, nullable=False),
        sa.Column("bundle", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
    )
    with op.batch_alter_table("artifact_signatures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_artifact_signatures_version_at", ["version_id", "created_at"], unique=False
        )

    op.create_table(
        "dependency_audits",
        *_common("dependency_audits"),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=False),
        sa.Column("advisories", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("counts", mlgate.store.base.JSONType, nullable=False),
        sa.Column("dependencies", mlgate.store.base.JSONType, nullable=False),
    )
    with op.batch_alter_table("dependency_audits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dependency_audits_version_at", ["version_id", "created_at"], unique=False
        )

    op.create_table(
        "security_audits",
        *_common("security_audits"),
        sa.Column("max_severity", sa.String(length=20), nullable=True),
        sa.Column("counts", mlgate.store.base.JSONType, nullable=False),
        sa.Column("findings", mlgate.store.base.JSONType, nullable=False),
        sa.Column("sections", mlgate.store.base.JSONType, nullable=False),
    )
    with op.batch_alter_table("security_audits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_security_audits_version_at", ["version_id", "created_at"], unique=False
        )

    op.create_table(
        "security_waivers",
        *_common("security_waivers"),
        sa.Column("finding_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.UniqueConstraint("version_id", "finding_id", name="uq_security_waivers_version_finding"),
    )


def downgrade() -> None:
    op.drop_table("security_waivers")
    for table in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_version_at")
        op.drop_table(table)
