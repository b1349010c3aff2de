r"""A reference is unique on its watchlist whatever its case, Unicode form or spacing.

Revision ID: 0006
Revises: 0005

"AB 123", "ab 123", "AB  123 ", "A\u200bB 123" and the NFD spelling of an accented reference
were different rows under 0005's index. References are now stored in their normal form, and
the unique index is on a key that also folds case. Rows that become duplicates keep their
rows, renamed ``REF (2)``, ``REF (3)``…, as in 0005; alerts follow their subject's new spelling
(0005 made stored references unique, so each alert's reference names one subject).
"""

import sqlalchemy as sa
from alembic import op

from openlfr.store.models import normal_reference, reference_key

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.add_column(sa.Column("reference_key", sa.Text(), nullable=True))
    connection = op.get_bind()
    query = "SELECT id, deployment_id, reference FROM subjects ORDER BY deployment_id, added_at, id"
    seen: set[tuple[str, str]] = set()
    alerts_moved: list[dict[str, str]] = []
    for subject_id, deployment_id, stored in connection.execute(sa.text(query)).all():
        reference, number = normal_reference(stored), 1
        while (deployment_id, reference_key(reference)) in seen:
            number += 1
            reference = f"{normal_reference(stored)} ({number})"
        seen.add((deployment_id, reference_key(reference)))
        connection.execute(
            sa.text("UPDATE subjects SET reference = :reference, reference_key = :key WHERE id = :id"),
            {"reference": reference, "key": reference_key(reference), "id": subject_id},
        )
        if reference != stored:  # found before any is moved: a new spelling may be an old one
            alerts = "SELECT id FROM alerts WHERE deployment_id = :deployment AND subject_reference = :old"
            found = connection.execute(sa.text(alerts), {"deployment": deployment_id, "old": stored})
            alerts_moved += [{"id": alert_id, "reference": reference} for (alert_id,) in found]
    if alerts_moved:
        connection.execute(
            sa.text("UPDATE alerts SET subject_reference = :reference WHERE id = :id"), alerts_moved
        )
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("uq_subjects_deployment_reference", type_="unique")
        batch.alter_column("reference_key", existing_type=sa.Text(), nullable=False)
        batch.create_unique_constraint(
            "uq_subjects_deployment_reference_key", ["deployment_id", "reference_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("subjects") as batch:
        batch.drop_constraint("uq_subjects_deployment_reference_key", type_="unique")
        batch.create_unique_constraint("uq_subjects_deployment_reference", ["deployment_id", "reference"])
        batch.drop_column("reference_key")
