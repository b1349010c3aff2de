"""Publication choice, tracks seen, and the watchlist's make-up kept after its purge.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("published", sa.Boolean, nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("tracks_seen", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("watchlist_summary", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("watchlist_summary")
        batch.drop_column("tracks_seen")
        batch.drop_column("published")
