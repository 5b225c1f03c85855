"""Sample options and figures: the checkpoint epoch, the precision, top-k/top-p, and per-text
quality and novelty (JSON lists) on `samples`.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("precision", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("top_k", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("top_p", sa.Float(), nullable=True))
        batch.add_column(sa.Column("quality", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("novelty", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        for column in ("novelty", "quality", "top_p", "top_k", "precision", "epoch"):
            batch.drop_column(column)
