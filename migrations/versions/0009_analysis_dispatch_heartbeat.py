"""Analyses as samples are kept: a dispatch token and time (the reconciler re-sends a queued
analysis whose message the broker lost) and a heartbeat (a running analysis whose worker died
fails instead of staying running).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("dispatch_token", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True))
    # analyses queued before this revision were sent when created: the reconciler may re-send them
    op.execute("UPDATE analyses SET dispatched_at = created_at WHERE status = 'queued'")


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        for name in ("dispatched_at", "dispatch_token", "heartbeat_at"):
            batch.drop_column(name)
