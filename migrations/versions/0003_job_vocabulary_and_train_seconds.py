"""Jobs remember their model's vocabulary (recorded when training starts, so a sample request's
seed is checked by the engine's own rule) and the seconds of their recorded epochs (ETA without
loading every epoch).

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("vocabulary", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("train_seconds", sa.Float(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE jobs SET train_seconds = COALESCE((SELECT SUM(seconds) FROM epochs WHERE epochs.job_id = jobs.id), 0)"
    )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("train_seconds")
        batch.drop_column("vocabulary")
