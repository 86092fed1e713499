"""readiness: a route attestation is bound to the route it was given about (route id)

Existing route attestations are bound to the route of their name that already existed when
they were given; one given to a route since deleted and recreated stays unbound (it was about
the old route) and no longer counts.

Revision ID: 0010_readiness_route_identity
Revises: 0007_readiness
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_readiness_route_identity"
down_revision = "0007_readiness"
branch_labels = None
depends_on = "0005_gateway"  # the backfill reads the routes table


def upgrade() -> None:
    with op.batch_alter_table("readiness_attestations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route_id", sa.String(length=26), nullable=True))
        batch_op.create_index(
            "ix_readiness_attestations_route_id_item", ["route_id", "item_id"], unique=False
        )
    op.execute(
        """
        UPDATE readiness_attestations
        SET route_id = (
            SELECT routes.id FROM routes
            WHERE routes.name = readiness_attestations.route
              AND routes.created_at <= readiness_attestations.attested_at
        )
        WHERE route IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("readiness_attestations", schema=None) as batch_op:
        batch_op.drop_index("ix_readiness_attestations_route_id_item")
        batch_op.drop_column("route_id")
