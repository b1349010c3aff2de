"""A reference is unique on its deployment's watchlist, enforced by the database.

Revision ID: 0005
Revises: 0004

Two enrolments of one reference at the same moment both passed the check in code; now the
database refuses the second. Duplicates already stored keep their rows, renamed ``REF (2)``,
``REF (3)``…, so nothing is lost and the index can be made.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    connection = op.get_bind()
    query = (
        "SELECT id, deployment_id, reference FROM subjects ORDER BY deployment_id, reference, added_at, id"
    )
    rows = connection.execute(sa.text(query)).all()
    seen: dict[tuple[str, str], int] = {}
    for subject_id, deployment_id, reference in rows:
        key = (deployment_id, reference)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            connection.execute(
                sa.text("UPDATE subjects SET reference = :reference WHERE id = :id"),
                {"reference": f"{reference} ({seen[key]})", "id": subject_id},
            )
    with op.batch_alter_table("subjects") as batch:
        batch.create_unique_constraint("uq_subjects_deployment_reference", ["deployment_id", "reference"])


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("uq_subjects_deployment_reference", type_="unique")
