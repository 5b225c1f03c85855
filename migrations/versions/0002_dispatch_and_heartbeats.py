"""Dispatch tokens on jobs and samples (superseded queue messages are skipped), graceful requeue
counts on jobs, heartbeats and progress on samples.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _dispatch_columns() -> list[sa.Column]:
    return [
        sa.Column("dispatch_token", sa.String(length=32), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in _dispatch_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("requeues", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("samples") as batch:
        for column in _dispatch_columns():
            batch.add_column(column)
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("progress", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("worker", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        for name in ("worker", "progress", "heartbeat_at", "dispatched_at", "dispatch_token"):
            batch.drop_column(name)
    with op.batch_alter_table("jobs") as batch:
        for name in ("requeues", "dispatched_at", "dispatch_token"):
            batch.drop_column(name)
