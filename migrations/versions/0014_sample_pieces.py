"""The pieces of a running sample's text, as its worker writes them (`sample_pieces`): what the
text stream (GET /api/v1/samples/{id}/stream, the sample page) reads until the sample ends and
its stored text becomes the authority.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sample_pieces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.Column("text_index", sa.Integer(), nullable=False),
        sa.Column("offset", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name="fk_sample_pieces_sample_id_samples", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sample_pieces"),
    )
    op.create_index("ix_sample_pieces_sample_id", "sample_pieces", ["sample_id"])


def downgrade() -> None:
    op.drop_index("ix_sample_pieces_sample_id", table_name="sample_pieces")
    op.drop_table("sample_pieces")
