"""audit: each entry records the version of the format its hash was computed with

Version 1 joined the fields with "|", so text could move between neighbouring fields without
changing the hash; new entries use version 2 (mlgate.audit.hashes). Every existing entry was
hashed as version 1 and is marked so: it verifies exactly as before. The default that marks
them is dropped afterwards, so a new row states its version or is refused.

Downgrading refuses while version-2 entries exist: an mlgate from before this revision would
report them as tampered with.

Revision ID: 0011_audit_hash_version
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mlgate.errors import Conflict

revision = "0011_audit_hash_version"
down_revision = "0001_foundation"
branch_labels = ("audit",)
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hash_version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.alter_column(
            "hash_version",
            existing_type=sa.Integer(),
            existing_nullable=False,
            server_default=None,
        )


def downgrade() -> None:
    newer = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM audit_entries WHERE hash_version <> 1")
    )
    if newer:
        raise Conflict(
            f"the audit log holds {newer} entries hashed with a version after 1, which an"
            " mlgate from before revision 0011_audit_hash_version reports as tampered with;"
            " keep this revision"
        )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_column("hash_version")
