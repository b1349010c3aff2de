"""Deployments, watchlist subjects, alerts and the audit chain.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("location_name", sa.String(200), nullable=False),
        sa.Column("area_description", sa.Text, nullable=False),
        sa.Column("planned_start", TZ, nullable=False),
        sa.Column("planned_end", TZ, nullable=False),
        sa.Column("cameras", sa.JSON, nullable=False),
        sa.Column("authorising_officer", sa.String(200), nullable=False),
        sa.Column("legal_basis", sa.Text, nullable=False),
        sa.Column("dpia_reference", sa.String(200), nullable=False),
        sa.Column("signage_confirmed", sa.Boolean, nullable=False),
        sa.Column("alert_threshold", sa.Float, nullable=False),
        sa.Column("state", sa.String(20), nullable=False, index=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("authorised_by", sa.String(200)),
        sa.Column("authorised_at", TZ),
        sa.Column("watchlist_approved_by", sa.String(200)),
        sa.Column("watchlist_approved_at", TZ),
        sa.Column("started_at", TZ),
        sa.Column("ended_at", TZ),
        sa.Column("watchlist_purged_at", TZ),
        sa.Column("purged_at", TZ),
        sa.Column("faces_seen", sa.Integer, nullable=False),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "deployment_id", sa.String(32), sa.ForeignKey("deployments.id"), nullable=False, index=True
        ),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("category", sa.String(60), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("image_source", sa.String(200), nullable=False),
        sa.Column("image_date", TZ),
        sa.Column("image_outdated", sa.Boolean, nullable=False),
        sa.Column("under_18", sa.Boolean, nullable=False),
        sa.Column("under_18_justification", sa.Text),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("added_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("quality", sa.Float, nullable=False),
        sa.Column("template_sealed", sa.LargeBinary, nullable=False),
        sa.Column("reference_image_sealed", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "deployment_id", sa.String(32), sa.ForeignKey("deployments.id"), nullable=False, index=True
        ),
        sa.Column("camera", sa.String(200), nullable=False),
        sa.Column("subject_reference", sa.String(200), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("track_id", sa.Integer, nullable=False),
        sa.Column("supporting_faces", sa.Integer, nullable=False),
        sa.Column("raised_at", TZ, nullable=False, index=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("probe_sealed", sa.LargeBinary),
        sa.Column("decision", sa.String(40)),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", TZ),
        sa.Column("outcome", sa.String(40)),
        sa.Column("outcome_by", sa.String(200)),
        sa.Column("outcome_at", TZ),
        sa.Column("retain_reason", sa.Text),
        sa.Column("retained_by", sa.String(200)),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False, index=True),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )


def downgrade() -> None:
    for table in ("audit_events", "alerts", "subjects", "deployments"):
        op.drop_table(table)
