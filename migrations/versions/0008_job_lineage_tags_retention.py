"""Lineage, labels, deletion and retention: a job's parent (continued or forked) and the epoch it
starts from, names, notes and tags on corpora and jobs, a `deleting_at` mark on both (a delete in
progress), a job's retention policy and the bytes of its checkpoints in storage, and each epoch's
checkpoint size and pruning time.

Revision ID: 0008
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("corpora") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", sa.String(length=600), nullable=True))
        batch.add_column(sa.Column("deleting_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("name", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", sa.String(length=600), nullable=True))
        batch.add_column(sa.Column("deleting_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("parent_epoch", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retention", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("storage_bytes", sa.BigInteger(), nullable=False, server_default="0"))
        batch.create_index("ix_jobs_parent_id", ["parent_id"])
        batch.create_foreign_key("fk_jobs_parent_id_jobs", "jobs", ["parent_id"], ["id"], ondelete="RESTRICT")
    with op.batch_alter_table("epochs") as batch:
        batch.add_column(sa.Column("checkpoint_bytes", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("pruned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("epochs") as batch:
        batch.drop_column("pruned_at")
        batch.drop_column("checkpoint_bytes")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint("fk_jobs_parent_id_jobs", type_="foreignkey")
        batch.drop_index("ix_jobs_parent_id")
        for name in ("storage_bytes", "retention", "parent_epoch", "parent_id", "deleting_at", "tags", "notes", "name"):
            batch.drop_column(name)
    with op.batch_alter_table("corpora") as batch:
        for name in ("deleting_at", "tags", "notes"):
            batch.drop_column(name)
