"""Bot webhooks: setWebhook's URL, sealed secret, delivery lease and last error

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_webhooks",
        sa.Column("bot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(length=512), nullable=False),
        sa.Column("max_connections", sa.Integer(), nullable=False),
        sa.Column("allowed_updates", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=False),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["users.id"], name=op.f("fk_bot_webhooks_bot_id_users")
        ),
        sa.PrimaryKeyConstraint("bot_id", name=op.f("pk_bot_webhooks")),
    )


def downgrade() -> None:
    op.drop_table("bot_webhooks")
