"""Token lifetimes, server-side browser sessions and stored sizes: `tokens.expires_at` (null: never
expires), `web_sessions` (one row per sign-in that the session cookie names and logout ends), and
`stored_bytes` on samples and analyses (what a user's storage quota counts).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIZED = ("samples", "analyses")


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    for table in SIZED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("stored_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id_users", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["token_id"], ["tokens.id"], name="fk_web_sessions_token_id_tokens", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("sid", name="uq_web_sessions_sid"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_token_id", "web_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_token_id", table_name="web_sessions")
    op.drop_index("ix_web_sessions_user_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    for table in SIZED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("stored_bytes")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
