"""Sightings: later tracks of an alerted subject on the same camera attach to its open alert.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("sightings", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_seen_at", TZ, nullable=True))
    op.execute("UPDATE alerts SET last_seen_at = raised_at")
    op.create_table(
        "alert_sightings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("alert_id", sa.String(32), sa.ForeignKey("alerts.id"), nullable=False, index=True),
        sa.Column("seen_at", TZ, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("supporting_faces", sa.Integer, nullable=False),
    )
    op.execute(
        "INSERT INTO alert_sightings (id, alert_id, seen_at, score, track_id, supporting_faces) "
        "SELECT id, id, raised_at, score, track_id, supporting_faces FROM alerts"
    )


def downgrade() -> None:
    op.drop_table("alert_sightings")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("last_seen_at")
        batch.drop_column("sightings")
