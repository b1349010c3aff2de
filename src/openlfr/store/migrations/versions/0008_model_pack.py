"""The model pack a deployment went live on (name and weights), its licence, and whether that
licence allows only research.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("model_pack", sa.String(200), nullable=True))
        batch.add_column(sa.Column("model_fingerprint", sa.String(64), nullable=True))
        batch.add_column(sa.Column("model_licence", sa.Text(), nullable=True))
        batch.add_column(sa.Column("research_use", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("research_use")
        batch.drop_column("model_licence")
        batch.drop_column("model_fingerprint")
        batch.drop_column("model_pack")
