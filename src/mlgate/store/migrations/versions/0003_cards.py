"""cards: revisions of each version's model card

Revision ID: 0003_cards
Revises: 0001_foundation
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import mlgate.store.base

revision = "0003_cards"
down_revision = "0001_foundation"
branch_labels = ("cards",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_revisions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("version_id", sa.String(length=26), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("content", mlgate.store.base.JSONType, nullable=False),
        sa.Column("completeness", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", mlgate.store.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_card_revisions_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_card_revisions")),
        sa.UniqueConstraint("version_id", "revision", name="uq_card_revisions_version_revision"),
    )
    with op.batch_alter_table("card_revisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_card_revisions_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("card_revisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_card_revisions_version_id"))
    op.drop_table("card_revisions")
