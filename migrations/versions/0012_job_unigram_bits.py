"""The corpus's unigram entropy on each job: `jobs.unigram_bits`, the bits/char that the character
frequencies of the text the job trains on give alone, recorded when training starts (null for jobs
that started before); a job's held-out bits/char is judged against it (has the model learned?).

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("unigram_bits", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("unigram_bits")
