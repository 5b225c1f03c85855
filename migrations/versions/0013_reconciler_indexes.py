"""Indexes for what the reconciler reads every round, so that a round does not grow with the
tables: the status of samples and analyses (the few queued and running ones among the finished;
jobs have had theirs since 0001) and the jobs being deleted (`deleting_at`, null for nearly all).
Measured by `make bench-fleet` (docs/operations.md, "At scale").

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_samples_status", "samples", "status"),
    ("ix_analyses_status", "analyses", "status"),
    ("ix_jobs_deleting_at", "jobs", "deleting_at"),
)


def upgrade() -> None:
    for name, table, column in INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(INDEXES):
        op.drop_index(name, table_name=table)
