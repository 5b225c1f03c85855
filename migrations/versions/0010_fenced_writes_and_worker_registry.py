"""Fenced writes and the worker registry: a `lease` on jobs, samples and analyses (the fencing
token of the current claim; objects are written under keys that name it, and only its holder
records), and `worker_processes`, one row per worker process with its heartbeat.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASED = ("jobs", "samples", "analyses")


def upgrade() -> None:
    for table in LEASED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease", sa.String(length=32), nullable=True))
    op.create_table(
        "worker_processes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=True),
        sa.Column("devices", sa.String(length=255), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=True),
        sa.Column("concurrency", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_worker_processes"),
        sa.UniqueConstraint("instance", name="uq_worker_processes_instance"),
    )
    op.create_index("ix_worker_processes_name", "worker_processes", ["name"])
    op.create_index("ix_worker_processes_heartbeat_at", "worker_processes", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_worker_processes_heartbeat_at", table_name="worker_processes")
    op.drop_index("ix_worker_processes_name", table_name="worker_processes")
    op.drop_table("worker_processes")
    for table in LEASED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease")
